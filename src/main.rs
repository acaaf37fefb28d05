//! The binary edge: parse the command line, run the chosen command, map errors to otelcol's
//! output (`Error: <message>` on stderr, exit status 1).

use std::process::ExitCode;

use clap::Parser;

use ferrocol::app;
use ferrocol::cli::{parse_feature_gates, Cli, Command};
use ferrocol::config::load::LoadOptions;

/// mimalloc: the scrape and export paths allocate many small strings (OTLP attributes are
/// owned `String`s); glibc's malloc spent over a third of the CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("ferrocol version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let (known, unknown, errors) = parse_feature_gates(&cli.feature_gates);
    if !errors.is_empty() {
        eprintln!("Error: {}", errors.join("\n"));
        return ExitCode::FAILURE;
    }
    for g in known {
        eprintln!("Feature gate {g:?} is accepted for compatibility; its behaviour is built into ferrocol.");
    }
    for g in unknown {
        eprintln!("Warning: unknown feature gate {g:?} ignored (ferrocol has no such gate).");
    }
    let load = LoadOptions {
        uris: app::effective_uris(&cli.config),
        sets: cli.set.clone(),
        unsupported: cli.unsupported_components.into(),
    };
    match cli.command {
        Some(Command::Components) => {
            print!("{}", app::components());
            ExitCode::SUCCESS
        }
        Some(Command::Validate) => match app::validate(&load) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("Warning: {w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        },
        None => run(
            load,
            &cli.shutdown_timeout,
            cli.watch_config,
            cli.admin_endpoint.clone(),
            cli.exit_on_reload_failure,
        ),
    }
}

fn run(
    load: LoadOptions,
    shutdown_timeout: &str,
    watch_config: bool,
    admin_endpoint: Option<String>,
    exit_on_reload_failure: bool,
) -> ExitCode {
    ferrocol::ensure_crypto_provider();
    let shutdown_timeout = match ferrocol::config::types::parse_go_duration(shutdown_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: --shutdown-timeout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(app::run(app::RunOptions {
        load,
        shutdown_timeout,
        watch_config,
        admin_endpoint,
        exit_on_reload_failure,
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
