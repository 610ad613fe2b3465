//! What the interpreter asks about a message ([`MessageView`]) and the plain answer for
//! tests and tools that have only headers and an envelope ([`Facts`]).

use crate::ext::duplicate::DuplicateKey;

/// What a script needs to know about the message.
pub trait MessageView {
    /// Unfolded values of every header field with this name (case-insensitive), in order.
    fn header(&self, name: &str) -> Vec<String>;
    /// Envelope sender; empty for the null sender.
    fn envelope_from(&self) -> &str;
    /// Envelope recipient this delivery is for.
    fn envelope_to(&self) -> &str;
    fn size(&self) -> u64;
    /// Whether the recipient's mailbox (folder) `name` exists (RFC 5490 `mailboxexists`).
    /// The default knows only INBOX, which always exists.
    fn mailbox_exists(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX")
    }
    /// The whole message (header and body) for the `body` test (RFC 5173); the default
    /// offers none, and then no body test matches.
    fn message(&self) -> &[u8] {
        &[]
    }
    /// How likely the message is spam, in percent, from the scanners' header fields;
    /// `None` when no scanner looked at it (RFC 5235 "untested").
    fn spam_score(&self) -> Option<u8> {
        None
    }
    /// The current time (Unix seconds) and the local zone (minutes east of UTC), for
    /// `currentdate` and `date` without `:zone` (RFC 5260); the default knows no clock, and
    /// then `currentdate` is false and dates are shown in UTC.
    fn now(&self) -> Option<(i64, i32)> {
        None
    }
    /// RFC 5235 virustest value: 0 untested, 1 clean … 5 infected.
    fn virus_score(&self) -> u8 {
        0
    }
    /// `duplicate`: was this key recorded within its period? Without a store, never.
    fn duplicate_seen(&self, _key: &DuplicateKey) -> bool {
        false
    }
    /// `include`: the text of the user's (or with `global`, the site's) script `name`;
    /// `Ok(None)` when it does not exist. Without a store, none exists.
    fn script(&self, _name: &str, _global: bool) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// A message as delivery knows it: its parsed header fields and its envelope.
pub struct Facts<'a> {
    /// Unfolded `(name, value)` pairs in message order.
    pub headers: &'a [(String, String)],
    pub from: &'a str,
    pub to: &'a str,
    pub size: u64,
}

impl MessageView for Facts<'_> {
    fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn envelope_from(&self) -> &str {
        self.from
    }
    fn envelope_to(&self) -> &str {
        self.to
    }
    fn size(&self) -> u64 {
        self.size
    }
}
