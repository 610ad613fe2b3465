//! One-line logs on stderr: systemd's journal captures them with their priority, and every
//! line of a session carries its span (`conn{id=… peer=…}` or `msg{qid=…}`) so one connection
//! or one message can be followed across daemons with a grep.

use tracing_subscriber::EnvFilter;

/// Starts logging for `program` with `level` (a tracing filter); `RUST_LOG` overrides it.
pub fn init(program: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .compact();
    // The journal stamps every line itself; a second timestamp is noise.
    let result = if under_journal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::debug!(program, "logging started");
    }
}
