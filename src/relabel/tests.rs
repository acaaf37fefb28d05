//! Prometheus's own relabel test vectors (`../shared/conformance/prom-relabel/cases.json`):
//! every `relabel` row (run with every field written and with defaults left out) and every
//! `validate` row must give the Prometheus 3 result.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::config::{compile_list, NameScheme};
use super::labels::Labels;
use super::process::process;

fn cases() -> Vec<Json> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/prom-relabel/cases.json"
    );
    let text = std::fs::read_to_string(path).expect("cases.json");
    let v: Json = serde_json::from_str(&text).expect("json");
    v["cases"].as_array().cloned().unwrap_or_default()
}

fn go_field(yaml_key: &str) -> &'static str {
    match yaml_key {
        "source_labels" => "SourceLabels",
        "separator" => "Separator",
        "regex" => "Regex",
        "modulus" => "Modulus",
        "target_label" => "TargetLabel",
        "replacement" => "Replacement",
        "action" => "Action",
        _ => "",
    }
}

/// The rule as YAML: `explicit` writes every field (except those whose presence is itself an
/// error in Prometheus), otherwise only the fields the Go test set.
fn rule_yaml(rule: &Json, explicit: bool) -> serde_yaml::Value {
    let set: Vec<&str> = rule["_go_fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let action = rule["action"].as_str().unwrap_or("replace");
    let mut m = serde_yaml::Mapping::new();
    for (k, v) in rule.as_object().into_iter().flatten() {
        if k.starts_with('_') {
            continue;
        }
        let given = set.contains(&go_field(k));
        let keep = if explicit {
            given
                || !((k == "regex" && matches!(action, "keepequal" | "dropequal"))
                    || (matches!(k.as_str(), "source_labels" | "target_label")
                        && matches!(action, "labeldrop" | "labelkeep"))
                    || (k == "modulus" && v.as_u64() == Some(0)))
        } else {
            given
        };
        if keep {
            m.insert(k.as_str().into(), serde_yaml::to_value(v).expect("yaml"));
        }
    }
    serde_yaml::Value::Mapping(m)
}

#[test]
fn prometheus_relabel_vectors() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases().iter().filter(|c| c["group"] == "relabel") {
        let id = case["id"].as_str().unwrap_or("?");
        for explicit in [true, false] {
            let rules: Vec<serde_yaml::Value> = case["relabel_configs"]
                .as_array()
                .map(|a| a.iter().map(|r| rule_yaml(r, explicit)).collect())
                .unwrap_or_default();
            let compiled = match compile_list(
                &serde_yaml::Value::Sequence(rules),
                "target",
                NameScheme::Utf8,
            ) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{id} (explicit={explicit}): rejected: {e}"));
                    continue;
                }
            };
            let input: BTreeMap<String, String> =
                serde_json::from_value(case["input"].clone()).unwrap_or_default();
            let mut labels = Labels::from_pairs(input);
            let kept = process(&mut labels, &compiled);
            ran += 1;
            let want_dropped = case["expect"]["dropped"].as_bool().unwrap_or(false);
            if want_dropped {
                if kept {
                    failures.push(format!(
                        "{id} (explicit={explicit}): expected dropped, got {labels:?}"
                    ));
                }
                continue;
            }
            let want: BTreeMap<String, String> =
                serde_json::from_value(case["expect"]["labels"].clone()).unwrap_or_default();
            let got: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if !kept || got != want {
                failures.push(format!(
                    "{id} (explicit={explicit}): kept={kept} got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(ran >= 60, "only {ran} runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn prometheus_validation_vectors() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases().iter().filter(|c| c["group"] == "validate") {
        let id = case["id"].as_str().unwrap_or("?");
        let sc = &case["scrape_config"];
        let legacy = sc["metric_name_validation_scheme"] == "legacy"
            || case["global"]["metric_name_validation_scheme"] == "legacy";
        let scheme = if legacy {
            NameScheme::Legacy
        } else {
            NameScheme::Utf8
        };
        let (list, what) = if !case["rule"].is_null() {
            (Json::Array(vec![case["rule"].clone()]), "target")
        } else if !sc["relabel_configs"].is_null() {
            (sc["relabel_configs"].clone(), "target")
        } else {
            (sc["metric_relabel_configs"].clone(), "metric")
        };
        // Not expressible in YAML (see the corpus README): a `!!binary` scalar, and Go's zero
        // `Config{}` (YAML `{}` means "all defaults", which is valid).
        if list.to_string().contains("__yaml_binary__") || id == "validate-relabelvalidate-0" {
            continue;
        }
        let rules: Vec<serde_yaml::Value> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        if r.is_null() {
                            serde_yaml::Value::Null
                        } else {
                            rule_yaml_all(r)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let result = compile_list(&serde_yaml::Value::Sequence(rules), what, scheme);
        ran += 1;
        let valid = case["expect"]["valid"].as_bool().unwrap_or(true);
        let want_err = case["expect"]["error"].as_str().unwrap_or("");
        match (valid, result) {
            (true, Err(e)) => failures.push(format!("{id}: expected valid, got {e}")),
            (false, Ok(_)) => failures.push(format!("{id}: expected error {want_err:?}, accepted")),
            (false, Err(e)) if !e.contains(want_err) => {
                failures.push(format!("{id}: error {e:?} lacks {want_err:?}"))
            }
            _ => {}
        }
    }
    assert!(ran >= 45, "only {ran} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Validation rows write exactly the keys they list (their `_go_fields` name what Go set).
fn rule_yaml_all(rule: &Json) -> serde_yaml::Value {
    if rule.get("_go_fields").is_some() {
        return rule_yaml(rule, false);
    }
    let mut m = serde_yaml::Mapping::new();
    for (k, v) in rule.as_object().into_iter().flatten() {
        m.insert(k.as_str().into(), serde_yaml::to_value(v).expect("yaml"));
    }
    serde_yaml::Value::Mapping(m)
}

#[test]
fn go_template_expansion() {
    let re = super::regex::compile_anchored("(?P<a>x)(y)").unwrap();
    let caps = re.captures("xy").unwrap();
    let e = |t: &str| super::process::expand(&caps, t);
    assert_eq!(e("$1-${2}-$a-${a}"), "x-y-x-x");
    assert_eq!(e("$$1"), "$1");
    assert_eq!(e("$1x"), "", "Go reads $1x as the group named 1x");
    assert_eq!(e("${1}x"), "xx");
    assert_eq!(e("$-"), "$-");
    assert_eq!(e("${}"), "${}");
    assert_eq!(e("$9"), "");
}
