//! `static_configs` and `file_sd_configs`: target groups from the config itself, and from
//! YAML or JSON files re-read every `refresh_interval` (and whenever their content changes,
//! checked every few seconds), as Prometheus's file SD does. A file that fails to parse keeps
//! its last good groups and logs the error.

use std::time::Duration;

use serde_yaml::Value;
use tokio_util::sync::CancellationToken;

use super::{GroupsSender, TargetGroup};
use crate::relabel::Labels;

/// Groups for a job's `static_configs`: sources `0`, `1`, ... as Prometheus numbers them.
pub fn static_groups(configs: &[(Vec<String>, Labels)]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, (targets, labels))| TargetGroup {
            source: i.to_string(),
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: labels.clone(),
        })
        .collect()
}

/// Parses one SD file (a list of `{targets: [...], labels: {...}}`), JSON or YAML.
pub fn parse_file(path: &str, text: &str) -> Result<Vec<TargetGroup>, String> {
    let doc: Value = if path.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_yaml::from_str(text).map_err(|e| e.to_string())?
    };
    let list = match doc {
        Value::Sequence(s) => s,
        Value::Null => Vec::new(),
        _ => return Err("expected a list of target groups".into()),
    };
    let mut out = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let targets = g
            .get("targets")
            .and_then(Value::as_sequence)
            .ok_or_else(|| format!("group {i}: missing 'targets'"))?
            .iter()
            .map(|t| {
                t.as_str()
                    .map(|s| Labels::from_pairs([("__address__", s)]))
                    .ok_or_else(|| format!("group {i}: targets must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut labels = Labels::new();
        if let Some(Value::Mapping(m)) = g.get("labels") {
            for (k, v) in m {
                let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                    return Err(format!("group {i}: labels must be strings"));
                };
                labels.set(k, v);
            }
        }
        labels.set("__meta_filepath", path);
        out.push(TargetGroup {
            source: format!("{path}:{i}"),
            targets,
            labels,
        });
    }
    Ok(out)
}

/// Watches `files` (glob patterns in the last path element are not supported), publishing
/// the full state on change.
pub async fn run_file_sd(
    files: Vec<String>,
    refresh: Duration,
    tx: GroupsSender,
    shutdown: CancellationToken,
) {
    let mut last: Vec<(String, Vec<TargetGroup>)> = Vec::new();
    let mut last_text: Vec<(String, String)> = Vec::new();
    let poll = refresh
        .min(Duration::from_secs(5))
        .max(Duration::from_millis(100));
    loop {
        let mut changed = false;
        for f in &files {
            let text = match tokio::fs::read_to_string(f).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(file = %f, error = %e, "Cannot read file_sd file; keeping its last targets.");
                    continue;
                }
            };
            if last_text.iter().any(|(n, t)| n == f && *t == text) {
                continue;
            }
            match parse_file(f, &text) {
                Ok(groups) => {
                    last.retain(|(n, _)| n != f);
                    last.push((f.clone(), groups));
                    last_text.retain(|(n, _)| n != f);
                    last_text.push((f.clone(), text));
                    changed = true;
                }
                Err(e) => {
                    tracing::warn!(file = %f, error = %e, "Cannot parse file_sd file; keeping its last targets.")
                }
            }
        }
        if changed {
            let mut all: Vec<TargetGroup> = last.iter().flat_map(|(_, g)| g.clone()).collect();
            all.sort_by(|a, b| a.source.cmp(&b.source));
            let _ = tx.send(all);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_and_json_files() {
        let g = parse_file(
            "a.yaml",
            "- targets: ['127.0.0.1:1', '127.0.0.1:2']\n  labels: {env: dev}\n",
        )
        .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].targets.len(), 2);
        assert_eq!(g[0].labels.get("env"), "dev");
        assert_eq!(g[0].labels.get("__meta_filepath"), "a.yaml");
        let g = parse_file("a.json", r#"[{"targets": ["127.0.0.1:3"]}]"#).unwrap();
        assert_eq!(g[0].targets[0].get("__address__"), "127.0.0.1:3");
        assert!(parse_file("a.yaml", "- labels: {}\n")
            .unwrap_err()
            .contains("missing 'targets'"));
    }

    #[tokio::test]
    async fn file_sd_publishes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.yaml");
        std::fs::write(&f, "- targets: ['127.0.0.1:1']\n").unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(Vec::new());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_file_sd(
            vec![f.display().to_string()],
            Duration::from_millis(100),
            tx,
            stop.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.borrow().len(), 1);
        std::fs::write(&f, "- targets: ['127.0.0.1:1', '127.0.0.1:2']\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.borrow()[0].targets.len(), 2);
        stop.cancel();
        task.await.unwrap();
    }
}
