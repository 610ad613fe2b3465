//! The command line every daemon accepts, so packagers and admins see one convention.

use std::path::PathBuf;

use ferrymail_config::{Config, ConfigError};

#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Configuration file.
    #[arg(short = 'c', long = "config", value_name = "PATH", default_value = ferrymail_config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Check the configuration and exit (0 = valid).
    #[arg(long)]
    pub check_config: bool,
}

impl DaemonArgs {
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config)
    }

    /// Loads the config or exits with status 78 (EX_CONFIG) and the reason on stderr:
    /// a daemon must refuse to start on a bad config rather than guess.
    pub fn load_or_exit(&self, program: &str) -> Config {
        match self.load() {
            Ok(c) => {
                if self.check_config {
                    println!("{}: configuration ok", self.config.display());
                    std::process::exit(0);
                }
                c
            }
            Err(e) => {
                // Logging is not started yet (the level comes from this config).
                let priority = if crate::journal::stderr_is_journal() {
                    "<3>"
                } else {
                    ""
                };
                eprintln!("{priority}{program}: {e}");
                std::process::exit(EX_CONFIG);
            }
        }
    }
}

// The codes live with the table of failure kinds; these names stay importable from here.
pub use crate::exit::{EX_CANTCREAT, EX_CONFIG, EX_TEMPFAIL, EX_UNAVAILABLE};
