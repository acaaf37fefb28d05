//! The real-world corpus in `../shared/conformance/real-configs`: `ferrocol validate` must judge
//! every public otelcol config as `EXPECTED.tsv` says (exit status, and every listed string or
//! `re:` regex in the output).

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/real-configs")
}

fn validate(file: &Path) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocol"));
    cmd.arg("validate").arg("--config").arg(file);
    let envf = file.with_extension("env");
    if let Ok(text) = std::fs::read_to_string(&envf) {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((k, v)) = line.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    let out = cmd.output().expect("run ferrocol validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn real_world_configs_are_judged_as_otelcol_does() {
    let dir = corpus();
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in expected.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut cols = line.splitn(3, '\t');
        let (Some(file), Some(verdict)) = (cols.next(), cols.next()) else {
            continue;
        };
        let detail = cols.next().unwrap_or("");
        let wants: Vec<&str> = detail
            .split(" -- ")
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "--")
            .collect();
        let (code, out) = validate(&dir.join(file));
        checked += 1;
        match verdict {
            "valid" if code != 0 => {
                failures.push(format!("{file}: expected valid, exit {code}:\n{out}"))
            }
            "valid" => {}
            _ if code == 0 => failures.push(format!(
                "{file}: expected {verdict}, but validate accepted it"
            )),
            _ => {
                for w in &wants {
                    let ok = match w.strip_prefix("re:") {
                        Some(re) => regex::Regex::new(re)
                            .map(|r| r.is_match(&out))
                            .unwrap_or(false),
                        None => out.contains(w),
                    };
                    if !ok {
                        failures.push(format!("{file}: output lacks {w:?}:\n{out}"));
                    }
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} entries checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
