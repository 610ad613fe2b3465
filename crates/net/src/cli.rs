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
                eprintln!("{program}: {e}");
                std::process::exit(EX_CONFIG);
            }
        }
    }
}

/// sysexits.h: configuration error.
pub const EX_CONFIG: i32 = 78;
/// sysexits.h: a needed service or feature is unavailable.
pub const EX_UNAVAILABLE: i32 = 69;
/// sysexits.h: cannot create or use a needed file or socket.
pub const EX_CANTCREAT: i32 = 73;
/// sysexits.h: temporary failure, try again later.
pub const EX_TEMPFAIL: i32 = 75;
