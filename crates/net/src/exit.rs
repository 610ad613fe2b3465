//! How a daemon's exit status says why it stopped: one table from the kind of failure to a
//! sysexits(3) code, shared by all five daemons, so that an admin (and systemd's
//! `RestartPreventExitStatus=78`) reads the same number for the same problem whichever daemon
//! had it. docs/operations.md lists the table.

use std::fmt::Display;

use crate::privdrop::PrivDropError;
use crate::tls::TlsError;

/// sysexits.h: a needed service or feature is unavailable.
pub const EX_UNAVAILABLE: i32 = 69;
/// sysexits.h: internal software error.
pub const EX_SOFTWARE: i32 = 70;
/// sysexits.h: an operating system error (cannot fork, create a thread, change ids…).
pub const EX_OSERR: i32 = 71;
/// sysexits.h: cannot create or use a needed file or socket.
pub const EX_CANTCREAT: i32 = 73;
/// sysexits.h: temporary failure, try again later.
pub const EX_TEMPFAIL: i32 = 75;
/// sysexits.h: configuration error.
pub const EX_CONFIG: i32 = 78;

/// Why a daemon could not start, or stopped with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The configuration, or a file or account it names, cannot be used: an unreadable or
    /// invalid config, no or unusable listeners, a run-as user that does not exist, a TLS
    /// certificate or key that does not load, user-database files or settings, DKIM keys, DNS
    /// servers. Restarting cannot help until an admin changes something.
    Config,
    /// A listening socket, the spool or a database could not be created or opened.
    CantCreate,
    /// Another instance is running (it holds the lock).
    Busy,
    /// The system refused a resource: threads, signal handlers, a helper process, the
    /// privilege drop itself.
    System,
    /// The service failed after it started.
    Service,
}

impl Failure {
    /// The exit status for this kind of failure.
    pub const fn code(self) -> i32 {
        match self {
            Failure::Config => EX_CONFIG,
            Failure::CantCreate => EX_CANTCREAT,
            Failure::Busy => EX_TEMPFAIL,
            Failure::System => EX_OSERR,
            Failure::Service => EX_SOFTWARE,
        }
    }

    /// Every kind, for documentation checks.
    pub const ALL: [Failure; 5] = [
        Failure::Config,
        Failure::CantCreate,
        Failure::Busy,
        Failure::System,
        Failure::Service,
    ];
}

/// A failure with what was being done and why it failed, e.g. "TLS: /etc/…/key.pem: …".
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct StartError {
    pub kind: Failure,
    pub what: String,
    pub reason: String,
}

impl StartError {
    pub fn new(kind: Failure, what: impl Into<String>, reason: impl Display) -> StartError {
        StartError {
            kind,
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub fn config(what: impl Into<String>, reason: impl Display) -> StartError {
        StartError::new(Failure::Config, what, reason)
    }

    pub fn cant_create(what: impl Into<String>, reason: impl Display) -> StartError {
        StartError::new(Failure::CantCreate, what, reason)
    }

    pub fn system(what: impl Into<String>, reason: impl Display) -> StartError {
        StartError::new(Failure::System, what, reason)
    }

    pub fn service(what: impl Into<String>, reason: impl Display) -> StartError {
        StartError::new(Failure::Service, what, reason)
    }

    pub fn code(&self) -> i32 {
        self.kind.code()
    }
}

impl From<PrivDropError> for StartError {
    fn from(e: PrivDropError) -> StartError {
        // A run-as user that does not exist is the config's (or the installation's) fault; a
        // failing lookup or set*id call is the system's.
        let kind = match e {
            PrivDropError::NoSuchUser(_) => Failure::Config,
            _ => Failure::System,
        };
        StartError::new(kind, "dropping privileges", e)
    }
}

impl From<TlsError> for StartError {
    fn from(e: TlsError) -> StartError {
        StartError::config("TLS", e)
    }
}

impl From<ferrymail_users::UserDbError> for StartError {
    fn from(e: ferrymail_users::UserDbError) -> StartError {
        // Bad settings or a file that exists but cannot be read (its mode, its group): starting
        // with an empty database would reject every recipient, and a restart reads the same.
        StartError::config("user database", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_codes() {
        let mut codes: Vec<i32> = Failure::ALL.iter().map(|f| f.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::ALL.len());
        assert_eq!(
            Failure::Config.code(),
            78,
            "systemd's RestartPreventExitStatus"
        );
    }

    #[test]
    fn a_missing_user_is_a_config_error_a_failed_setuid_is_not() {
        let missing: StartError = PrivDropError::NoSuchUser("nobody-here".into()).into();
        assert_eq!(missing.code(), EX_CONFIG);
        let setuid: StartError = PrivDropError::Syscall {
            step: "setuid",
            source: nix::Error::EPERM,
        }
        .into();
        assert_eq!(setuid.code(), EX_OSERR);
    }

    /// docs/operations.md's table names every code this module can return.
    #[test]
    fn operations_doc_lists_every_code() {
        let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md");
        let text = std::fs::read_to_string(&doc).unwrap();
        for f in Failure::ALL {
            let row = format!("| {} ", f.code());
            assert!(
                text.lines().any(|l| l.starts_with(&row)),
                "{} has no `{row}` row for {f:?}",
                doc.display()
            );
        }
    }
}
