//! What a Sieve script sees of one delivery: the message's header fields, envelope, size and
//! text, which folders the recipient's Maildir holds (`mailboxexists`, RFC 5490), and the spam
//! score (`spamtest`, RFC 5235), the user's other scripts (`include`) and tracking
//! (`duplicate`); and the limits its run gets from `[delivery.sieve]`.

use std::path::Path;

use ferrymail_maildir::{MailboxName, Store};
use ferrymail_sieve::{DuplicateKey, Facts, Limits, MessageView};

use crate::deliver::{read_user_file, Settings};
use crate::sieve_env::{duplicate_key, SCRIPTS_DIR};
use crate::spam;
use crate::tracking::{Kind, Tracking};

pub struct DeliveryView<'a> {
    pub facts: Facts<'a>,
    /// The recipient's Maildir; `None` for mbox and other targets, which have only INBOX.
    pub maildir: Option<&'a Path>,
    /// The message as received, for the body test.
    pub message: &'a [u8],
    /// Spam likelihood in percent, `None` untested: see [`spam_score`].
    pub spam_score: Option<u8>,
    /// The user's Sieve home (`None`: no personal scripts to include).
    pub home: Option<&'a Path>,
    /// `delivery.sieve_global_dir` (`None`: no global scripts).
    pub global_dir: Option<&'a Path>,
    /// The user's tracking store (`None`: `duplicate` sees nothing).
    pub tracking: Option<&'a Tracking>,
    /// Unix seconds; the daemon keeps UTC as its local zone.
    pub now: u64,
}

pub fn limits(c: &ferrymail_config::Sieve) -> Limits {
    Limits {
        max_script_bytes: c.max_script_size,
        max_instructions: c.max_instructions,
        max_actions: c.max_actions,
        max_redirects: c.max_redirects,
        max_variables: c.max_variables,
        max_variable_len: c.max_variable_size,
        max_body_bytes: c.max_body_size,
        max_include_depth: c.max_include_depth,
        max_includes: c.max_includes,
    }
}

/// A spam verdict field (`delivery.spam_headers`) is 100%; else the first number in the
/// `spam_score_header` field (`7.5`, or rspamd's `default: False [7.50 / 15.00]`) scaled to
/// `spam_score_max`; neither is "untested".
pub fn spam_score(headers: &[(String, String)], s: &Settings) -> Option<u8> {
    if spam::is_spam(headers, &s.spam_rules) {
        return Some(100);
    }
    let name = &s.sieve.language.spam_score_header;
    let value = headers
        .iter()
        .find(|(n, _)| !name.is_empty() && n.eq_ignore_ascii_case(name))?
        .1
        .as_str();
    let start = value.find(|c: char| c.is_ascii_digit() || c == '-')?;
    let num: String = value[start..]
        .chars()
        .enumerate()
        .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
        .map(|(_, c)| c)
        .collect();
    let score: f64 = num.parse().ok()?;
    Some(
        (score / s.sieve.language.spam_score_max * 100.0)
            .clamp(0.0, 100.0)
            .round() as u8,
    )
}

impl MessageView for DeliveryView<'_> {
    fn header(&self, name: &str) -> Vec<String> {
        self.facts.header(name)
    }
    fn envelope_from(&self) -> &str {
        self.facts.envelope_from()
    }
    fn envelope_to(&self) -> &str {
        self.facts.envelope_to()
    }
    fn size(&self) -> u64 {
        self.facts.size()
    }
    fn message(&self) -> &[u8] {
        self.message
    }
    fn spam_score(&self) -> Option<u8> {
        self.spam_score
    }
    /// The daemon keeps UTC as its local zone, so `date` without `:zone` shows UTC.
    fn now(&self) -> Option<(i64, i32)> {
        Some((i64::try_from(self.now).ok()?, 0))
    }
    fn duplicate_seen(&self, key: &DuplicateKey) -> bool {
        self.tracking
            .is_some_and(|t| t.seen(Kind::Duplicate, &duplicate_key(key), self.now))
    }
    fn script(&self, name: &str, global: bool) -> Result<Option<String>, String> {
        let dir = if global {
            self.global_dir.map(Path::to_owned)
        } else {
            self.home.map(|h| h.join(SCRIPTS_DIR))
        };
        match dir {
            Some(d) => read_user_file(&d.join(format!("{name}.sieve"))).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
    fn mailbox_exists(&self, name: &str) -> bool {
        let Ok(n) = MailboxName::new(name) else {
            return false;
        };
        if n.is_inbox() {
            return true;
        }
        match self.maildir {
            Some(root) => Store::new(root).folder(&n).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_exist_as_the_maildir_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.ensure_inbox().unwrap();
        store
            .create_folder(&MailboxName::new("Lists").unwrap())
            .unwrap();
        let view = DeliveryView {
            facts: Facts {
                headers: &[],
                from: "",
                to: "a@b.test",
                size: 0,
            },
            maildir: Some(dir.path()),
            message: b"",
            spam_score: None,
            home: None,
            global_dir: None,
            tracking: None,
            now: 0,
        };
        assert!(view.mailbox_exists("INBOX"));
        assert!(view.mailbox_exists("Lists"));
        assert!(!view.mailbox_exists("Other"));
        assert!(!view.mailbox_exists("../escape"));
        let mbox = DeliveryView {
            maildir: None,
            ..view
        };
        assert!(mbox.mailbox_exists("inbox") && !mbox.mailbox_exists("Lists"));
    }

    #[test]
    fn spam_score_from_verdict_or_score_header() {
        let settings = Settings {
            create_maildirs: true,
            quota_action: ferrymail_config::QuotaAction::Defer,
            allow_forward_commands: false,
            spool_dir: "/nonexistent".into(),
            wake_socket: "/nonexistent".into(),
            lock_timeout_ms: 1,
            spam_folder: None,
            spam_rules: spam::rules(&["X-Spam: Yes".into()]),
            sieve: crate::sieve_env::SieveSettings {
                language: ferrymail_config::Sieve {
                    spam_score_header: "X-Spamd-Result".into(),
                    spam_score_max: 15.0,
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let h = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let score = |v: &[(&str, &str)]| spam_score(&h(v), &settings);
        assert_eq!(score(&[]), None);
        assert_eq!(score(&[("X-Spam", "yes")]), Some(100));
        assert_eq!(
            score(&[("X-Spamd-Result", "default: False [7.50 / 15.00]")]),
            Some(50)
        );
        assert_eq!(score(&[("x-spamd-result", "-3.2")]), Some(0));
        assert_eq!(score(&[("X-Spamd-Result", "40")]), Some(100));
        assert_eq!(score(&[("X-Spamd-Result", "none")]), None);
    }
}
