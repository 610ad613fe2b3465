//! The facts SORT and THREAD need of a message (RFC 5256, RFC 5957), from its header, for
//! the per-message cache: decoded Subject, the first From/To/Cc addresses, the sent date
//! and the threading headers.

use ferrymail_imap_proto::sort::SortFacts;

use crate::address::{self, Item};

/// (local part, display name or addr-spec) of the first item of an address list; a group
/// counts by its name, as in ENVELOPE.
fn first_address(raw: Option<&[u8]>) -> (String, String) {
    let Some(item) = raw.and_then(|r| address::parse_list(r).into_iter().next()) else {
        return Default::default();
    };
    match item {
        Item::Mailbox(m) => {
            let spec = match &m.domain {
                Some(d) => format!("{}@{d}", m.local),
                None => m.local.clone(),
            };
            let display = m
                .name
                .as_deref()
                .map(address::decode_words)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(spec);
            (m.local, display)
        }
        Item::GroupStart(name) => (name.clone(), name),
        Item::GroupEnd => Default::default(),
    }
}

/// The facts of a message from its header, size and INTERNALDATE.
pub fn facts(hdr: &[u8], size: u64, arrival: i64) -> SortFacts {
    let headers = crate::mime::headers(hdr);
    let find = |name: &str| {
        headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
    };
    let raw = |name: &str| find(name).map(|h| h.get_value_raw());
    let text = |name: &str| {
        raw(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let (from, display_from) = first_address(raw("From"));
    let (to, display_to) = first_address(raw("To"));
    SortFacts {
        arrival,
        sent: find("Date").and_then(|h| mailparse::dateparse(&h.get_value()).ok()),
        size,
        subject: find("Subject").map(|h| h.get_value()).unwrap_or_default(),
        from,
        to,
        cc: first_address(raw("Cc")).0,
        display_from,
        display_to,
        message_id: text("Message-ID"),
        in_reply_to: text("In-Reply-To"),
        references: text("References"),
        keys: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_facts() {
        let f = facts(
            b"From: =?iso-8859-1?q?foo_aar?= <e@f.g>\r\nTo: b@c.d\r\nCc: user2: blah@x;\r\n\
              Subject: Re: =?utf-8?q?b?=\r\nDate: Fri, 22 Feb 2008 23:00:00 +0200\r\n\
              Message-ID: <a@b>\r\nReferences: <x@y>\r\n\r\n",
            10,
            5,
        );
        assert_eq!((f.from.as_str(), f.display_from.as_str()), ("e", "foo aar"));
        assert_eq!((f.to.as_str(), f.display_to.as_str()), ("b", "b@c.d"));
        assert_eq!(f.cc, "user2");
        assert_eq!(f.subject, "Re: b");
        assert_eq!(f.sent, Some(1_203_714_000));
        assert_eq!(
            (f.message_id.as_str(), f.references.as_str()),
            ("<a@b>", "<x@y>")
        );
    }
}
