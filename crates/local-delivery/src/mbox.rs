//! Appending to a classic mbox file (`/var/mail/<user>`) the way mutt, Dovecot and procmail
//! expect. The format (mboxrd quoting, `From ` lines) and the locking (dot-lock plus fcntl,
//! with their timeouts) live in `ferrymail_maildir::mbox`, shared with pop3d, which reads
//! and rewrites these files; this module only adds the current date to the `From ` line.

use std::path::Path;
use std::time::SystemTime;

pub use ferrymail_maildir::mbox::{encode_body, size, LockOptions, MboxError};

/// `From sender Www Mmm dd hh:mm:ss yyyy` (UTC, asctime layout).
pub fn separator(sender: Option<&str>, now: SystemTime) -> Vec<u8> {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ferrymail_maildir::mbox::from_line(sender, &ferrymail_smtp::dates::asctime(secs))
}

/// Appends one message (`parts` concatenated, CRLF or LF lines) under both locks; on any
/// failure the file is cut back to its old size.
pub fn append(
    path: &Path,
    sender: Option<&str>,
    parts: &[&[u8]],
    opts: &LockOptions,
) -> Result<(), MboxError> {
    ferrymail_maildir::mbox::append(path, &separator(sender, SystemTime::now()), parts, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn separator_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            separator(Some("a b@x"), t),
            b"From a_b@x Tue Nov 14 22:13:20 2023\n".to_vec()
        );
        assert!(separator(None, t).starts_with(b"From MAILER-DAEMON "));
    }

    #[test]
    fn append_twice_separated_and_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        append(
            &p,
            Some("a@x"),
            &[b"S: 1\r\n\r\nFrom x\r\n"],
            &LockOptions::default(),
        )
        .unwrap();
        append(&p, None, &[b"S: 2\r\n\r\nbody"], &LockOptions::default()).unwrap();
        let text = std::fs::read(&p).unwrap();
        let s = String::from_utf8(text).unwrap();
        assert!(s.starts_with("From a@x "));
        assert!(s.contains("\nS: 1\n\n>From x\n\nFrom MAILER-DAEMON "));
        assert!(s.ends_with("S: 2\n\nbody\n\n"));
        assert!(!dir.path().join("box.lock").exists());
    }

    #[test]
    fn held_dotlock_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box");
        std::fs::write(dir.path().join("box.lock"), b"1\n").unwrap();
        let opts = LockOptions {
            timeout: Duration::from_millis(200),
            ..LockOptions::default()
        };
        assert!(matches!(
            append(&p, None, &[b"x"], &opts),
            Err(MboxError::Locked(_))
        ));
        assert!(!p.exists() || std::fs::read(&p).unwrap().is_empty());
    }
}
