//! What a Sieve script sees of one delivery: the message's header fields, envelope and size,
//! and, for `mailboxexists` (RFC 5490), which folders the recipient's Maildir holds.

use std::path::Path;

use ferrymail_maildir::{MailboxName, Store};
use ferrymail_sieve::{Facts, MessageView};

pub struct DeliveryView<'a> {
    pub facts: Facts<'a>,
    /// The recipient's Maildir; `None` for mbox and other targets, which have only INBOX.
    pub maildir: Option<&'a Path>,
    /// The message as received, for the body test.
    pub message: &'a [u8],
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
}
