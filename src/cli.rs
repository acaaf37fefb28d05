//! Command-line interface, shaped like otelcol's: repeatable `--config <uri>` and `--set`,
//! `--feature-gates`, the `validate` and `components` subcommands, `--version`. ferrocol adds
//! `--unsupported-components` (fail | disable), `--shutdown-timeout`, and for hot reload
//! `--watch-config`, `--admin-endpoint` and `--exit-on-reload-failure`.

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::validate::UnsupportedMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum UnsupportedArg {
    /// Fail at start, naming every otelcol component ferrocol lacks (default).
    #[default]
    Fail,
    /// Start without them, and say loudly what was disabled.
    Disable,
}

impl From<UnsupportedArg> for UnsupportedMode {
    fn from(a: UnsupportedArg) -> Self {
        match a {
            UnsupportedArg::Fail => UnsupportedMode::Fail,
            UnsupportedArg::Disable => UnsupportedMode::Disable,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "ferrocol",
    about = "ferrocol: runs OpenTelemetry Collector configs as a lean Kubernetes node agent",
    disable_version_flag = true
)]
pub struct Cli {
    /// Config location URI: a file path (`file:` is the default), `env:VAR` or `yaml:<inline>`.
    /// Repeatable; later sources are deep-merged over earlier ones. Without it, the embedded
    /// default config runs.
    #[arg(long = "config", global = true, value_name = "URI")]
    pub config: Vec<String>,

    /// Set a config value, e.g. `--set processors.batch.timeout=2s`; applied after every
    /// `--config`. Repeatable.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Comma-separated feature gate IDs (`+id`, `-id` or `id`); accepted for compatibility.
    #[arg(long = "feature-gates", global = true, value_name = "IDS")]
    pub feature_gates: Vec<String>,

    /// What to do with otelcol components that ferrocol does not have.
    #[arg(long = "unsupported-components", global = true, value_enum, default_value_t = UnsupportedArg::Fail)]
    pub unsupported_components: UnsupportedArg,

    /// Overall deadline for a graceful shutdown (keep it under the pod's
    /// terminationGracePeriodSeconds).
    #[arg(
        long = "shutdown-timeout",
        global = true,
        default_value = "25s",
        value_name = "DURATION"
    )]
    pub shutdown_timeout: String,

    /// Reload the config when a `--config` file's content changes (the file's directory is
    /// watched, so Kubernetes ConfigMap updates are seen). `--watch-config=false` turns it off;
    /// SIGHUP and the admin endpoint still reload.
    #[arg(
        long = "watch-config",
        global = true,
        env = "FERROCOL_WATCH_CONFIG",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub watch_config: bool,

    /// Serve the admin endpoint on HOST:PORT: `POST /-/reload` reloads the config. Off unless
    /// given.
    #[arg(
        long = "admin-endpoint",
        global = true,
        env = "FERROCOL_ADMIN_ENDPOINT",
        value_name = "HOST:PORT"
    )]
    pub admin_endpoint: Option<String>,

    /// Exit with status 1 when a reload fails, as otelcol does, instead of keeping the
    /// running config.
    #[arg(long = "exit-on-reload-failure", global = true)]
    pub exit_on_reload_failure: bool,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve, decode and validate the config and its pipeline graph without starting anything.
    Validate,
    /// List the built-in components with their stability, as YAML.
    Components,
}

/// Feature gates that otelcol had and whose behaviour is now permanent (or irrelevant to
/// ferrocol): accepted with a notice instead of failing as an unknown gate.
pub const KNOWN_GATES: &[&str] = &[
    "receiver.prometheusreceiver.RemoveLegacyResourceAttributes",
    "receiver.prometheusreceiver.RemoveStartTimeAdjustment",
    "receiver.prometheusreceiver.UseCreatedMetric",
    "receiver.prometheusreceiver.EnableNativeHistograms",
    "receiver.prometheusreceiver.RemoveReportExtraScrapeMetricsConfig",
    "exporter.googlemanagedprometheus.intToDouble",
    "component.UseLocalHostAsDefaultHost",
    "confmap.unifyEnvVarExpansion",
    "confmap.enableMergeAppendOption",
    "service.profilesSupport",
    "telemetry.newPipelineTelemetry",
    "pkg.exporterhelper.queueBatchEnabled",
];

/// Splits `--feature-gates` values into gate IDs and reports problems: (known, unknown, errors).
pub fn parse_feature_gates(values: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut errors = Vec::new();
    for v in values {
        for (i, raw) in v.split(',').enumerate() {
            let id = raw.trim().trim_start_matches(['+', '-']);
            if id.is_empty() {
                errors.push(format!("empty feature gate identifier at index {i}"));
            } else if KNOWN_GATES.contains(&id) {
                known.push(id.to_string());
            } else {
                unknown.push(id.to_string());
            }
        }
    }
    (known, unknown, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeatable_flags_and_subcommands() {
        let c = Cli::try_parse_from([
            "ferrocol",
            "validate",
            "--config",
            "a.yaml",
            "--config=env:X",
            "--set",
            "a.b=1",
            "--unsupported-components",
            "disable",
        ])
        .unwrap();
        assert!(matches!(c.command, Some(Command::Validate)));
        assert_eq!(c.config, vec!["a.yaml", "env:X"]);
        assert_eq!(c.set, vec!["a.b=1"]);
        assert_eq!(c.unsupported_components, UnsupportedArg::Disable);
        assert!(c.watch_config, "watching is on by default");
        assert!(c.admin_endpoint.is_none());
        let c = Cli::try_parse_from(["ferrocol", "--version"]).unwrap();
        assert!(c.version);
        let c = Cli::try_parse_from([
            "ferrocol",
            "--watch-config=false",
            "--admin-endpoint",
            "127.0.0.1:9",
        ])
        .unwrap();
        assert!(!c.watch_config);
        assert_eq!(c.admin_endpoint.as_deref(), Some("127.0.0.1:9"));
    }

    #[test]
    fn feature_gates() {
        let (k, u, e) = parse_feature_gates(&[
            "receiver.prometheusreceiver.RemoveLegacyResourceAttributes,-foo.bar".into(),
            "+x,".into(),
        ]);
        assert_eq!(
            k,
            vec!["receiver.prometheusreceiver.RemoveLegacyResourceAttributes"]
        );
        assert_eq!(u, vec!["foo.bar", "x"]);
        assert_eq!(e, vec!["empty feature gate identifier at index 1"]);
    }
}
