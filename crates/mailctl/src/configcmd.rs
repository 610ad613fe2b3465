//! `mailctl config check|defaults`.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use ferrymail_config::{Config, ConfigError};

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration file and the files it names; exit 0 when usable, 78 when not.
    Check {
        /// Print findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the built-in defaults as TOML.
    Defaults,
}

pub fn run(path: &Path, cmd: ConfigCmd) -> ExitCode {
    match cmd {
        ConfigCmd::Defaults => {
            print!("{}", Config::defaults_toml());
            ExitCode::SUCCESS
        }
        ConfigCmd::Check { json } => check(path, json),
    }
}

/// One line per finding, errors first. Errors make the config unusable (a daemon would refuse to
/// start); warnings are problems in the files it points at that daemons report and skip.
fn check(path: &Path, json: bool) -> ExitCode {
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    match Config::load(path) {
        Err(ConfigError::Invalid { file, problems }) => {
            for p in problems {
                errors.push(format!("{}: {p}", file.display()));
            }
        }
        Err(e) => errors.push(e.to_string()),
        Ok(config) => warnings.extend(check_files(&config)),
    }
    if json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "ok": errors.is_empty(),
            "errors": errors,
            "warnings": warnings,
        });
        println!("{v}");
    } else {
        for e in &errors {
            println!("error: {e}");
        }
        for w in &warnings {
            println!("warning: {w}");
        }
        if errors.is_empty() {
            println!("{}: configuration ok", path.display());
        }
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(ferrymail_net::cli::EX_CONFIG as u8)
    }
}

/// Problems in what the config points at: unreadable TLS files, bad user-database lines.
fn check_files(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = ferrymail_net::tls::load_server_config(&config.tls.cert, &config.tls.key) {
        out.push(format!("TLS: {e}"));
    }
    match crate::dev::open_userdb(config) {
        Ok(db) => out.extend(db.load_issues().iter().map(|i| i.to_string())),
        Err(e) => out.push(format!("user database: {e}")),
    }
    out
}
