//! Prometheus config parsing: defaults, inheritance and every validation path naming its job.

use super::*;

fn parse_str(y: &str) -> Result<PromConfig, Errors> {
    parse(
        &serde_yaml::from_str::<Value>(y).unwrap(),
        "receivers::prometheus::config",
    )
}

fn errors(y: &str) -> String {
    parse_str(y)
        .expect_err("expected errors")
        .iter()
        .map(|(p, m)| format!("{p}: {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn defaults_and_inheritance() {
    let c = parse_str(
        "global: {scrape_interval: 30s, sample_limit: 100, external_labels: {cluster: c1}}\n\
         scrape_configs:\n\
         - job_name: a\n  static_configs: [{targets: ['127.0.0.1:9090'], labels: {env: dev}}]\n\
         - job_name: b\n  scrape_interval: 5s\n  sample_limit: 7\n  metrics_path: /m\n  scheme: https\n  params: {module: [x]}\n",
    )
    .unwrap();
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(c.global.external_labels.get("cluster"), "c1");
    let a = &c.scrape_configs[0];
    assert_eq!(
        (a.scrape_interval, a.scrape_timeout),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    assert_eq!(
        (a.metrics_path.as_str(), a.scheme.as_str()),
        ("/metrics", "http")
    );
    assert!(a.honor_timestamps && !a.honor_labels && a.enable_compression);
    assert_eq!(a.limits.sample_limit, 100);
    assert_eq!(a.static_configs[0].targets, vec!["127.0.0.1:9090"]);
    assert_eq!(a.static_configs[0].labels.get("env"), "dev");
    assert_eq!(a.fallback_scrape_protocol, Format::PromText);
    assert_eq!(a.scrape_protocols.len(), 4);
    let b = &c.scrape_configs[1];
    assert_eq!(
        (b.scrape_interval, b.scrape_timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    assert_eq!(b.limits.sample_limit, 7);
    assert_eq!(b.params["module"], vec!["x"]);
}

#[test]
fn the_seed_node_agent_config_parses() {
    let doc: Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance/real-configs/01-seed-node-agent.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let c = parse(&doc["receivers"]["prometheus"]["config"], "p").unwrap();
    let j = &c.scrape_configs[0];
    assert_eq!(j.job_name, "kubernetes-pods");
    assert_eq!(j.scrape_interval, Duration::from_secs(10));
    assert_eq!(j.relabel_configs.len(), 2);
    // `regex: true` (a YAML bool) is the string "true" to Prometheus.
    assert_eq!(j.relabel_configs[0].config.regex.as_deref(), Some("true"));
    assert_eq!(j.kubernetes_sd_configs.len(), 1);
}

#[test]
fn errors_name_the_job_and_key() {
    let e = errors("scrape_configs:\n- job_name: slow\n  scrape_interval: 5s\n  scrape_timeout: 10s\n  static_configs: [{targets: [a:1]}]\n");
    assert!(e.contains("scrape_configs::0 (job \"slow\")::scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name \"slow\""), "{e}");
    let e = errors("scrape_configs:\n- job_name: x\n  scrape_intervall: 5s\n");
    assert!(
        e.contains("(job \"x\"): field scrape_intervall not found in type config"),
        "{e}"
    );
    let e = errors("scrape_configs:\n- job_name: d\n- job_name: d\n");
    assert!(
        e.contains("found multiple scrape configs with job name \"d\""),
        "{e}"
    );
    let e = errors("scrape_configs:\n- scrape_interval: 5s\n");
    assert!(e.contains("job_name is empty"), "{e}");
    let e = errors("scrape_configs:\n- job_name: r\n  relabel_configs: [{action: hashmod, source_labels: [a], target_label: b}]\n");
    assert!(e.contains("(job \"r\")::relabel_configs: rule 0: relabel configuration for hashmod requires non-zero modulus"), "{e}");
    let e = errors(
        "scrape_configs:\n- job_name: s\n  static_configs: [{targets: ['http://x/metrics']}]\n",
    );
    assert!(
        e.contains("\"http://x/metrics\" is not a valid hostname"),
        "{e}"
    );
    let e = errors("remote_write: [{url: x}]\nrule_files: [a]\nscrape_configs: []\n");
    assert!(
        e.contains("unsupported features:\n\tremote_write\n\trule_files"),
        "{e}"
    );
    let e = errors("scrape_configs:\n- job_name: c\n  consul_sd_configs: [{}]\n");
    assert!(
        e.contains("consul_sd_configs is not supported by ferrocol"),
        "{e}"
    );
    let e = errors("scrape_configs:\n- job_name: b\n  body_size_limit: 20XB\n");
    assert!(e.contains("body_size_limit: invalid size"), "{e}");
    let e = errors("scrape_configs:\n- job_name: t\n  scheme: ftp\n");
    assert!(e.contains("unknown scrape scheme \"ftp\""), "{e}");
}

#[test]
fn basic_auth_username_file_holds_the_user_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("user");
    std::fs::write(&f, "scraper\n").unwrap();
    let c = parse_str(&format!(
        "scrape_configs:\n- job_name: a\n  basic_auth: {{username_file: {}, password: p}}\n",
        f.display()
    ))
    .unwrap();
    let (user, password, _) = c.scrape_configs[0].http.basic_auth.clone().unwrap();
    assert_eq!((user.as_str(), password.as_deref()), ("scraper", Some("p")));
    let e =
        errors("scrape_configs:\n- job_name: a\n  basic_auth: {username_file: /nonexistent/u}\n");
    assert!(e.contains("basic_auth::username_file: cannot read"), "{e}");
}
