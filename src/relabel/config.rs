//! One relabel rule: parsed from its YAML, with Prometheus's defaults (`replace`, `;`, `(.*)`,
//! `$1`), compiled (the anchored regex, once) and validated with Prometheus's messages.
//! Presence matters as in Prometheus: an omitted `regex` is the default regex (which enables
//! the replace fast path and is required by keepequal/dropequal), while a key given as null
//! takes the Go zero value.

use regex::Regex;
use serde_yaml::Value;

use super::regex::compile_anchored;

/// The relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    fn parse(s: &str) -> Result<Action, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(format!("unknown relabel action {s:?}")),
        })
    }
}

/// Which label names are valid: Prometheus 3's UTF-8 default, or the legacy character set
/// (`metric_name_validation_scheme: legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameScheme {
    #[default]
    Utf8,
    Legacy,
}

impl NameScheme {
    /// `model.LabelName.IsValid` under this scheme.
    pub fn valid_label_name(self, name: &str) -> bool {
        match self {
            NameScheme::Utf8 => !name.is_empty(),
            NameScheme::Legacy => legacy_name(name),
        }
    }
}

fn legacy_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a legacy name that may hold `$var` templates.
fn legacy_template(s: &str) -> bool {
    thread_local! {
        static RE: Option<Regex> = Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$").ok();
    }
    RE.with(|r| r.as_ref().is_some_and(|r| r.is_match(s)))
}

/// A rule as written, after defaults (kept for diffing and for `/api/v1/targets` style output).
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    /// Whether `source_labels` was given (labeldrop/labelkeep must not have it).
    pub source_labels_set: bool,
    pub separator: String,
    /// The regex as written; None when omitted (the default `(.*)`).
    pub regex: Option<String>,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Option<Action>,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            source_labels_set: false,
            separator: ";".into(),
            regex: None,
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".into(),
            action: Some(Action::Replace),
        }
    }
}

/// A compiled, validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub config: RelabelConfig,
    pub action: Action,
    pub regex: Regex,
    /// The regex was omitted: the replace fast path applies.
    pub default_regex: bool,
}

fn scalar(v: &Value, key: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("{key}: expected a string")),
    }
}

impl RelabelConfig {
    /// Parses one rule's YAML map (not null: the caller reports null rules in its own words).
    pub fn from_yaml(v: &Value) -> Result<RelabelConfig, String> {
        let Value::Mapping(m) = v else {
            return Err("a relabel rule must be a map".into());
        };
        let mut c = RelabelConfig::default();
        for (k, val) in m {
            let key = k.as_str().unwrap_or("");
            match key {
                "source_labels" => {
                    c.source_labels_set = !val.is_null();
                    c.source_labels = match val {
                        Value::Null => Vec::new(),
                        Value::Sequence(s) => {
                            s.iter().map(|x| scalar(x, key)).collect::<Result<_, _>>()?
                        }
                        other => vec![scalar(other, key)?],
                    };
                }
                "separator" => c.separator = scalar(val, key)?,
                "regex" => c.regex = Some(scalar(val, key)?),
                "modulus" => {
                    c.modulus = match val {
                        Value::Null => 0,
                        Value::Number(n) => n
                            .as_u64()
                            .ok_or("modulus: expected a non-negative integer")?,
                        _ => return Err("modulus: expected a non-negative integer".into()),
                    }
                }
                "target_label" => c.target_label = scalar(val, key)?,
                "replacement" => c.replacement = scalar(val, key)?,
                "action" => {
                    c.action = match val {
                        Value::Null => None,
                        other => Some(Action::parse(&scalar(other, key)?)?),
                    }
                }
                other => return Err(format!("field {other} not found in type relabel.plain")),
            }
        }
        Ok(c)
    }

    /// Compiles and validates, with Prometheus's error texts.
    pub fn compile(self, scheme: NameScheme) -> Result<Rule, String> {
        let (regex, default_regex) = match &self.regex {
            None => (compile_anchored("(.*)")?, true),
            Some(r) => (compile_anchored(r)?, false),
        };
        let action = self.action.ok_or("relabel action cannot be empty")?;
        let a = action.as_str();
        let c = &self;
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if c.modulus == 0 && action == Action::HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if needs_target && c.target_label.is_empty() {
            return Err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let has_var = c.target_label.contains('$');
        let valid_with_vars = |s: &str| match scheme {
            NameScheme::Utf8 => !s.is_empty(),
            NameScheme::Legacy => legacy_template(s),
        };
        if action == Action::Replace && !has_var && !scheme.valid_label_name(&c.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ));
        }
        if action == Action::Replace && has_var && !valid_with_vars(&c.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ));
        }
        let lower_like = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if lower_like && !scheme.valid_label_name(&c.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ));
        }
        if lower_like && c.replacement != "$1" {
            return Err(format!("'replacement' can not be set for {a} action"));
        }
        if action == Action::LabelMap && !valid_with_vars(&c.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                c.replacement
            ));
        }
        if action == Action::HashMod && !scheme.valid_label_name(&c.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!default_regex || c.modulus != 0 || c.separator != ";" || c.replacement != "$1")
        {
            return Err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (c.source_labels_set
                || !c.target_label.is_empty()
                || c.modulus != 0
                || c.separator != ";"
                || c.replacement != "$1")
        {
            return Err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(Rule {
            action,
            regex,
            default_regex,
            config: self,
        })
    }
}

/// Parses and compiles a list of rules; `what` names the list in Prometheus's words for null
/// rules ("target" or "metric"). Errors carry the rule index.
pub fn compile_list(v: &Value, what: &str, scheme: NameScheme) -> Result<Vec<Rule>, String> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(s) => s,
        _ => return Err("expected a list of relabel rules".into()),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if item.is_null() {
            return Err(format!("empty or null {what} relabeling rule"));
        }
        let rule = RelabelConfig::from_yaml(item)
            .and_then(|c| c.compile(scheme))
            .map_err(|e| format!("rule {i}: {e}"))?;
        out.push(rule);
    }
    Ok(out)
}
