//! The spam verdict a milter left in the message (`delivery.spam_headers`): when the top-level
//! header has one of the configured fields with its value, the message's implicit keep goes to
//! `delivery.spam_folder` instead of INBOX. An explicit Sieve `keep` or `fileinto` still
//! decides, so a user's script can override the verdict.

use serde::{Deserialize, Serialize};

/// One verdict field: its name and the value that means spam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub value: String,
}

/// The rules from the config entries; malformed ones were refused by config validation.
pub fn rules(entries: &[String]) -> Vec<Rule> {
    entries
        .iter()
        .filter_map(|e| ferrymail_config::parse_spam_header(e))
        .map(|(name, value)| Rule {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

/// Whether `headers` (the top-level fields, unfolded) carry a spam verdict: a field named as a
/// rule (any case) whose trimmed value is the rule's (any case).
pub fn is_spam(headers: &[(String, String)], rules: &[Rule]) -> bool {
    headers.iter().any(|(name, value)| {
        rules.iter().any(|r| {
            name.trim().eq_ignore_ascii_case(&r.name) && value.trim().eq_ignore_ascii_case(&r.value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::headers;

    fn default_rules() -> Vec<Rule> {
        rules(&ferrymail_config::Config::default().delivery.spam_headers)
    }

    #[test]
    fn verdict_fields_match_without_case_and_with_their_value_only() {
        let r = default_rules();
        for (msg, spam) in [
            (&b"X-Spam: Yes\r\nSubject: a\r\n\r\nb\r\n"[..], true),
            (b"x-spam:   yes  \r\n\r\nb\r\n", true),
            (b"X-Spam-Flag: YES\r\n\r\n", true),
            (b"X-SPAM-FLAG: yes\r\n\r\n", true),
            // Folded onto a continuation line: unfolded first.
            (b"X-Spam:\r\n Yes\r\n\r\n", true),
            (b"X-Spam: No\r\n\r\n", false),
            (b"X-Spam-Flag: NO\r\n\r\n", false),
            (b"X-Spam: Yes, really\r\n\r\n", false),
            (b"X-Spam-Status: Yes, score=9\r\n\r\n", false),
            (b"Subject: X-Spam: Yes\r\n\r\n", false),
            // A verdict inside the body, or in an attached message, is not the message's.
            (b"Subject: a\r\n\r\nX-Spam: Yes\r\n", false),
            (
                b"Content-Type: message/rfc822\r\n\r\nX-Spam: Yes\r\n\r\nb\r\n",
                false,
            ),
        ] {
            assert_eq!(
                is_spam(&headers(msg), &r),
                spam,
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn rules_come_from_the_config_entries() {
        let r = rules(&["X-Custom-Verdict:  spam ".into()]);
        assert_eq!(
            r,
            [Rule {
                name: "X-Custom-Verdict".into(),
                value: "spam".into()
            }]
        );
        assert!(is_spam(&headers(b"x-custom-verdict: SPAM\r\n\r\n"), &r));
        assert!(!is_spam(&headers(b"X-Spam: Yes\r\n\r\n"), &r));
        assert!(!is_spam(&headers(b"X-Spam: Yes\r\n\r\n"), &[]));
    }
}
