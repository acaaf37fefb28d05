//! Prometheus's target population vectors (`targets` group of the relabel corpus) and URL
//! building.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::*;
use crate::receivers::prometheus::promconfig::parse;

fn job(sc: &Json, relabel: &Json, name: &str) -> ScrapeConfig {
    let mut m = serde_yaml::Mapping::new();
    m.insert("job_name".into(), name.into());
    for (k, v) in sc.as_object().into_iter().flatten() {
        m.insert(k.as_str().into(), serde_yaml::to_value(v).unwrap());
    }
    if let Some(rules) = relabel.as_array().filter(|a| !a.is_empty()) {
        // Write only the fields the Go test set (`_go_fields` names them).
        let rules: Vec<Json> = rules
            .iter()
            .map(|r| {
                let set: Vec<&str> = r["_go_fields"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let mut o = serde_json::Map::new();
                for (k, v) in r.as_object().into_iter().flatten() {
                    let go = match k.as_str() {
                        "source_labels" => "SourceLabels",
                        "separator" => "Separator",
                        "regex" => "Regex",
                        "modulus" => "Modulus",
                        "target_label" => "TargetLabel",
                        "replacement" => "Replacement",
                        "action" => "Action",
                        _ => continue,
                    };
                    if set.is_empty() || set.contains(&go) || set.contains(&k.as_str()) {
                        o.insert(k.clone(), v.clone());
                    }
                }
                Json::Object(o)
            })
            .collect();
        m.insert(
            "relabel_configs".into(),
            serde_yaml::to_value(rules).unwrap(),
        );
    }
    let doc = serde_yaml::Value::Mapping(serde_yaml::Mapping::from_iter([(
        "scrape_configs".into(),
        serde_yaml::Value::Sequence(vec![serde_yaml::Value::Mapping(m)]),
    )]));
    let cfg = parse(&doc, "c").unwrap_or_else(|e| panic!("{e:?}"));
    cfg.scrape_configs.into_iter().next().unwrap()
}

#[test]
fn prometheus_populate_labels_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/prom-relabel/cases.json"
    ))
    .unwrap();
    let v: Json = serde_json::from_str(&text).unwrap();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group"] == "targets")
    {
        let id = case["id"].as_str().unwrap();
        let input: BTreeMap<String, String> = match serde_json::from_value(case["input"].clone()) {
            Ok(i) => i,
            Err(_) => continue,
        };
        if input.values().any(|v| v.starts_with("<bytes")) {
            continue; // not valid UTF-8: no YAML config can carry it (corpus README)
        }
        let job_name = case["upstream_job_name"].as_str().unwrap_or("job");
        let rules = case["relabel_configs"].clone();
        // The two keep/drop rows name their relabel rule in the scrape config's legacy cases.
        let sc = job(&case["scrape_config"], &rules, job_name);
        ran += 1;
        let result = populate(Labels::from_pairs(input), &sc);
        let expect = &case["expect"];
        if expect["rejected"].as_bool() == Some(true) {
            let want = expect["error"].as_str().unwrap_or("");
            match &result {
                Populated::Rejected(e) if want.ends_with(e.as_str()) || e.contains(want) => {}
                other => failures.push(format!("{id}: expected rejection {want:?}, got {other:?}")),
            }
            continue;
        }
        let want: BTreeMap<String, String> =
            serde_json::from_value(expect["labels"].clone()).unwrap();
        match &result {
            Populated::Active(t) => {
                let got: BTreeMap<String, String> = t
                    .public_labels()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                if got != want {
                    failures.push(format!("{id}: got {got:?}, want {want:?}"));
                }
            }
            other => failures.push(format!("{id}: expected active, got {other:?}")),
        }
    }
    assert!(ran >= 14, "{ran}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn url_and_offset() {
    let doc: serde_yaml::Value = serde_yaml::from_str(
        "scrape_configs:\n- job_name: j\n  scrape_interval: 10s\n  params: {module: [http_2xx], a: [x y]}\n  metrics_path: /probe\n",
    )
    .unwrap();
    let sc = parse(&doc, "c").unwrap().scrape_configs.remove(0);
    let Populated::Active(t) = populate(
        Labels::from_pairs([("__address__", "127.0.0.1:9115"), ("__param_module", "tcp")]),
        &sc,
    ) else {
        panic!("active")
    };
    assert_eq!(t.url, "http://127.0.0.1:9115/probe?a=x+y&module=tcp");
    assert_eq!(t.labels.get("instance"), "127.0.0.1:9115");
    assert_eq!(t.labels.get("__scrape_interval__"), "10s");
    let o1 = t.offset(0);
    assert!(o1 < std::time::Duration::from_secs(10));
    assert_eq!(t.offset(0), o1, "deterministic");
    let Populated::Dropped(d) = populate(Labels::from_pairs([("__address__", "x:1")]), &{
        let doc: serde_yaml::Value = serde_yaml::from_str("scrape_configs:\n- job_name: j\n  relabel_configs: [{action: drop, source_labels: [__address__], regex: 'x:.*'}]\n").unwrap();
        parse(&doc, "c").unwrap().scrape_configs.remove(0)
    }) else {
        panic!("dropped")
    };
    assert_eq!(d.get("job"), "j");
}
