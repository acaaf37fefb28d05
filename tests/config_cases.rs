//! Runs every case in `testdata/config/{valid,invalid}`: each valid config must load, each
//! invalid one must fail with every line of its `.err` file in the error text, plus the
//! file's path (errors name their source). `NAME.env` supplies environment variables
//! (`KEY=VALUE` lines, through a map: the process environment is never changed) and
//! `NAME.set` supplies `--set` arguments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrocol::component::registry::Registry;
use ferrocol::config::load::{load, LoadOptions};

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/config")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

fn sidecar(path: &Path, ext: &str) -> Vec<String> {
    std::fs::read_to_string(path.with_extension(ext))
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn run(path: &Path) -> Result<(), String> {
    let env: HashMap<String, String> = sidecar(path, "env")
        .into_iter()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let opts = LoadOptions {
        uris: vec![path.display().to_string()],
        sets: sidecar(path, "set"),
        ..Default::default()
    };
    load(&opts, &env, &Registry::builtin())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn valid_configs_load() {
    let all = cases("valid");
    assert!(
        all.len() >= 15,
        "expected at least 15 valid cases, found {}",
        all.len()
    );
    let failures: Vec<String> = all
        .iter()
        .filter_map(|p| run(p).err().map(|e| format!("{}:\n{e}", p.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "valid configs rejected:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn invalid_configs_fail_with_their_error_text() {
    let all = cases("invalid");
    assert!(
        all.len() >= 15,
        "expected at least 15 invalid cases, found {}",
        all.len()
    );
    let mut failures = Vec::new();
    for p in &all {
        let expected = sidecar(p, "err");
        assert!(!expected.is_empty(), "{} has no .err file", p.display());
        match run(p) {
            Ok(()) => failures.push(format!("{}: accepted, expected an error", p.display())),
            Err(text) => {
                for want in expected
                    .iter()
                    .map(String::as_str)
                    .chain([p.display().to_string().as_str()])
                {
                    if !text.contains(want) {
                        failures.push(format!("{}: error lacks {want:?}:\n{text}", p.display()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
