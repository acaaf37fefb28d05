//! Applying relabel rules to a label set, exactly as Prometheus's `relabel.ProcessBuilder`:
//! rules run in order; keep/drop/keepequal/dropequal may drop the whole set; `replace`
//! expands Go templates in `target_label` and `replacement`, and an empty result deletes.

use md5::{Digest, Md5};
use regex::Captures;

use super::config::{Action, Rule};
use super::labels::Labels;

/// Applies `rules` to `labels`. Returns false when the set is dropped.
pub fn process(labels: &mut Labels, rules: &[Rule]) -> bool {
    rules.iter().all(|r| apply(r, labels))
}

fn joined(rule: &Rule, labels: &Labels) -> String {
    let src = &rule.config.source_labels;
    match src.len() {
        0 => String::new(),
        1 => labels.get(&src[0]).to_string(),
        _ => {
            let mut s = String::new();
            for (i, n) in src.iter().enumerate() {
                if i > 0 {
                    s.push_str(&rule.config.separator);
                }
                s.push_str(labels.get(n));
            }
            s
        }
    }
}

fn apply(rule: &Rule, labels: &mut Labels) -> bool {
    let c = &rule.config;
    match rule.action {
        Action::Drop => !rule.regex.is_match(&joined(rule, labels)),
        Action::Keep => rule.regex.is_match(&joined(rule, labels)),
        Action::DropEqual => labels.get(&c.target_label) != joined(rule, labels),
        Action::KeepEqual => labels.get(&c.target_label) == joined(rule, labels),
        Action::Replace => {
            let val = joined(rule, labels);
            if val.is_empty()
                && rule.default_regex
                && !c.target_label.contains('$')
                && !c.replacement.contains('$')
            {
                labels.set(&c.target_label, &c.replacement);
                return true;
            }
            let Some(caps) = rule.regex.captures(&val) else {
                return true;
            };
            let target = expand(&caps, &c.target_label);
            if target.is_empty() {
                return true;
            }
            let res = expand(&caps, &c.replacement);
            labels.set(&target, &res);
            true
        }
        Action::Lowercase => {
            let v = joined(rule, labels).to_lowercase();
            labels.set(&c.target_label, &v);
            true
        }
        Action::Uppercase => {
            let v = joined(rule, labels).to_uppercase();
            labels.set(&c.target_label, &v);
            true
        }
        Action::HashMod => {
            let digest = Md5::digest(joined(rule, labels).as_bytes());
            let mut last = [0u8; 8];
            last.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(last) % c.modulus.max(1);
            labels.set(&c.target_label, &m.to_string());
            true
        }
        Action::LabelMap => {
            let snapshot: Vec<(String, String)> = labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            for (name, value) in snapshot {
                if let Some(caps) = rule.regex.captures(&name) {
                    let res = expand(&caps, &c.replacement);
                    if !res.is_empty() {
                        labels.set(&res, &value);
                    }
                }
            }
            true
        }
        Action::LabelDrop => {
            labels.retain(|n| !rule.regex.is_match(n));
            true
        }
        Action::LabelKeep => {
            labels.retain(|n| rule.regex.is_match(n));
            true
        }
    }
}

/// Go's `Regexp.ExpandString`: `$$` is a literal `$`; `$name` takes the longest run of
/// `[A-Za-z0-9_]`; `${name}` is braced; an all-digit name is a group index; unknown or
/// unmatched groups expand to nothing; a malformed reference keeps the `$` as text.
pub fn expand(caps: &Captures<'_>, template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(off) = template[i..].find('$') else {
            out.push_str(&template[i..]);
            break;
        };
        out.push_str(&template[i..i + off]);
        i += off + 1;
        if i < b.len() && b[i] == b'$' {
            out.push('$');
            i += 1;
            continue;
        }
        let (name, next) = if i < b.len() && b[i] == b'{' {
            match template[i + 1..].find('}') {
                Some(end) => {
                    let n = &template[i + 1..i + 1 + end];
                    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        out.push('$');
                        continue;
                    }
                    (n, i + 1 + end + 1)
                }
                None => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let end = template[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(b.len(), |e| i + e);
            if end == i {
                out.push('$');
                continue;
            }
            (&template[i..end], end)
        };
        let m = if name.bytes().all(|c| c.is_ascii_digit()) {
            name.parse::<usize>().ok().and_then(|n| caps.get(n))
        } else {
            caps.name(name)
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
        i = next;
    }
    out
}
