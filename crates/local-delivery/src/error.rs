//! Why a delivery to one recipient did not happen, and the one place these become LMTP
//! replies. Every failure that might go away (disk, permissions, locks, a missing helper) is
//! 4xx so queue-runner retries: a temporary problem never loses mail.

use std::io;

use ferrymail_smtp::Reply;

use crate::mbox::MboxError;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("invalid address {0}")]
    InvalidAddress(String),
    #[error("alias loop while expanding {0}")]
    AliasLoop(String),
    #[error("mail loop: {0} already in Delivered-To")]
    MailLoop(String),
    #[error("message contains NUL characters")]
    Nul,
    #[error("message exceeds the size limit")]
    TooLarge,
    #[error("mailbox full (quota {0})")]
    OverQuota(String, ferrymail_config::QuotaAction),
    #[error("mailbox does not exist: {0}")]
    MailboxMissing(String),
    #[error("{0} targets are disabled (delivery.allow_forward_commands)")]
    TargetDisabled(&'static str),
    #[error("pipe command failed: {0}")]
    PipeFailed(String),
    #[error("mailbox is locked: {0}")]
    Locked(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot act as uid {uid}: {why}")]
    Privilege { uid: u32, why: String },
    #[error("could not hand the message to the queue: {0}")]
    Requeue(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The user's Sieve script refused the message (`ereject`).
    #[error("refused by the recipient's Sieve filter: {0}")]
    SieveRefused(String),
}

impl DeliveryError {
    pub fn io(context: impl Into<String>, source: io::Error) -> DeliveryError {
        DeliveryError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.reply().is_transient()
    }

    /// The per-recipient LMTP reply.
    pub fn reply(&self) -> Reply {
        use DeliveryError as E;
        match self {
            E::UnknownUser(a) => Reply::new(550, "5.1.1", format!("<{a}>: unknown user")),
            E::InvalidAddress(a) => Reply::new(550, "5.1.3", format!("<{a}>: bad address syntax")),
            E::AliasLoop(a) => Reply::new(554, "5.4.6", format!("<{a}>: alias loop")),
            E::MailLoop(a) => Reply::new(
                554,
                "5.4.6",
                format!("<{a}>: mail loop detected (too many Delivered-To headers)"),
            ),
            E::Nul => Reply::new(554, "5.6.0", "message contains NUL characters"),
            E::TooLarge => Reply::new(552, "5.3.4", "message too big"),
            E::OverQuota(q, ferrymail_config::QuotaAction::Defer) => {
                Reply::new(452, "4.2.2", format!("mailbox full ({q})"))
            }
            E::OverQuota(q, ferrymail_config::QuotaAction::Bounce) => {
                Reply::new(552, "5.2.2", format!("mailbox full ({q})"))
            }
            E::MailboxMissing(m) => Reply::new(450, "4.2.0", format!("mailbox {m} does not exist")),
            E::TargetDisabled(what) => Reply::new(
                550,
                "5.7.1",
                format!("delivery to {what} targets is disabled"),
            ),
            E::PipeFailed(_) => Reply::new(451, "4.3.0", "pipe delivery failed"),
            E::Locked(_) => Reply::new(450, "4.2.0", "mailbox busy, try again later"),
            E::Io { source, .. } => io_reply(source),
            E::SieveRefused(why) => {
                let why: String = why
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(200)
                    .collect();
                Reply::new(550, "5.7.1", format!("rejected: {why}"))
            }
            E::Privilege { .. } | E::Requeue(_) | E::Internal(_) => {
                Reply::new(451, "4.3.0", "local delivery error, try again later")
            }
        }
    }
}

fn io_reply(e: &io::Error) -> Reply {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            Reply::new(452, "4.3.1", "insufficient system storage")
        }
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
            Reply::new(450, "4.2.0", "mailbox not writable")
        }
        _ => Reply::new(451, "4.3.0", "local delivery error, try again later"),
    }
}

impl From<ferrymail_maildir::Error> for DeliveryError {
    fn from(e: ferrymail_maildir::Error) -> Self {
        use ferrymail_maildir::Error as M;
        match e {
            M::Io { op, path, source } => {
                DeliveryError::io(format!("{op} {}", path.display()), source)
            }
            M::TooLarge { .. } => DeliveryError::TooLarge,
            M::MailboxNotFound(n) => DeliveryError::MailboxMissing(n.to_string()),
            M::NotAMaildir(p) => DeliveryError::MailboxMissing(p.display().to_string()),
            other => DeliveryError::Internal(other.to_string()),
        }
    }
}

impl From<MboxError> for DeliveryError {
    fn from(e: MboxError) -> Self {
        match e {
            MboxError::Locked(p) => DeliveryError::Locked(p.display().to_string()),
            MboxError::Io { op, path, source } => {
                DeliveryError::io(format!("{op} {}", path.display()), source)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_problems_are_4xx() {
        for e in [
            DeliveryError::io("x", io::Error::from_raw_os_error(libc::ENOSPC)),
            DeliveryError::io("x", io::Error::from_raw_os_error(libc::EACCES)),
            DeliveryError::io("x", io::Error::from_raw_os_error(libc::EIO)),
            DeliveryError::Locked("m".into()),
            DeliveryError::MailboxMissing("m".into()),
            DeliveryError::Requeue("x".into()),
            DeliveryError::OverQuota("q".into(), ferrymail_config::QuotaAction::Defer),
        ] {
            assert!(e.is_temporary(), "{e}");
        }
        let r = DeliveryError::OverQuota("q".into(), ferrymail_config::QuotaAction::Bounce).reply();
        assert_eq!(
            (r.code, r.enhanced.unwrap().to_string()),
            (552, "5.2.2".into())
        );
        let r = DeliveryError::io("x", io::Error::from_raw_os_error(libc::ENOSPC)).reply();
        assert_eq!(
            (r.code, r.enhanced.unwrap().to_string()),
            (452, "4.3.1".into())
        );
        assert_eq!(DeliveryError::MailLoop("a@b".into()).reply().code, 554);
    }
}
