//! One-line logs on stderr: systemd's journal captures them with their priority ([`journal`]),
//! and every line of a session carries its span (`conn{id=… peer=…}` or `msg{qid=…}`) so one
//! connection or one message can be followed across daemons with a grep. The level filter
//! can be changed at run time ([`set_level`], on SIGHUP).

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Layer, Registry};

use crate::journal;

/// The installed filter and the level it was made from (`None`: `RUST_LOG` is in force).
struct Filter {
    handle: reload::Handle<EnvFilter, Registry>,
    level: Mutex<Option<String>>,
}

static FILTER: OnceLock<Filter> = OnceLock::new();

/// The subscriber the output layer sits on: the registry behind the reloadable filter.
type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;

/// Starts logging for `program` with `level` (a tracing filter); `RUST_LOG` overrides it.
pub fn init(program: &str, level: &str) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let configured = from_env.is_none().then(|| level.to_owned());
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let line = fmt::layer().with_ansi(false).with_target(false).compact();
    // The journal stamps every line itself; a second timestamp is noise.
    let output: Box<dyn Layer<Filtered> + Send + Sync> = if journal::stderr_is_journal() {
        let writer = journal::Prioritized::new(std::io::stderr);
        Box::new(line.without_time().with_writer(writer))
    } else {
        Box::new(line.with_writer(std::io::stderr))
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
    if installed.is_ok() {
        let _ = FILTER.set(Filter {
            handle,
            level: Mutex::new(configured),
        });
        tracing::debug!(program, "logging started");
    }
}

/// What [`set_level`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum LevelChange {
    /// The filter is now `level` (it was something else).
    Changed { from: String, to: String },
    /// The filter already was this level.
    Unchanged,
    /// `RUST_LOG` set the filter at start; it stays in force.
    Overridden,
}

#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("logging was not started by this module")]
    NotStarted,
    #[error("invalid log level `{level}`: {reason}")]
    Invalid { level: String, reason: String },
}

/// Replaces the level filter (`log.level` of a re-read config) without restarting.
pub fn set_level(level: &str) -> Result<LevelChange, LevelError> {
    let f = FILTER.get().ok_or(LevelError::NotStarted)?;
    let mut current = f.level.lock().unwrap_or_else(|p| p.into_inner());
    let Some(from) = current.as_deref() else {
        return Ok(LevelChange::Overridden);
    };
    if from == level {
        return Ok(LevelChange::Unchanged);
    }
    let invalid = |reason: String| LevelError::Invalid {
        level: level.to_owned(),
        reason,
    };
    let filter = EnvFilter::try_new(level).map_err(|e| invalid(e.to_string()))?;
    f.handle
        .reload(filter)
        .map_err(|e| invalid(e.to_string()))?;
    let change = LevelChange::Changed {
        from: from.to_owned(),
        to: level.to_owned(),
    };
    *current = Some(level.to_owned());
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_changes_at_run_time() {
        if std::env::var_os("RUST_LOG").is_some() {
            println!("SKIP: RUST_LOG is set, and it overrides the configured level by design");
            return;
        }
        init("logging-test", "info");
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
        assert_eq!(
            set_level("debug").unwrap(),
            LevelChange::Changed {
                from: "info".into(),
                to: "debug".into()
            }
        );
        assert!(tracing::enabled!(tracing::Level::DEBUG));
        assert_eq!(set_level("debug").unwrap(), LevelChange::Unchanged);
        assert!(matches!(
            set_level("info,[[["),
            Err(LevelError::Invalid { .. })
        ));
        assert!(
            tracing::enabled!(tracing::Level::DEBUG),
            "a bad level keeps the old one"
        );
        set_level("warn").unwrap();
        assert!(!tracing::enabled!(tracing::Level::INFO));
    }
}
