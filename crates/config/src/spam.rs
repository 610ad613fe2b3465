//! The spam verdict keys of `[delivery]`: which header fields (a milter's, e.g. rspamd's
//! `X-Spam: Yes` or SpamAssassin's `X-Spam-Flag: YES`) mark a message as spam, and the folder
//! its implicit keep goes to then.

/// A `spam_headers` entry as (field name, value), both trimmed: `"X-Spam: Yes"`. `None` when
/// the entry has no `:`, or an empty or invalid field name or value.
pub fn parse_spam_header(rule: &str) -> Option<(&str, &str)> {
    let (name, value) = rule.split_once(':')?;
    let (name, value) = (name.trim(), value.trim());
    let name_ok = !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    (name_ok && !value.is_empty()).then_some((name, value))
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), d: &crate::Delivery) {
    let f = &d.spam_folder;
    if f.eq_ignore_ascii_case("INBOX")
        || f.starts_with(['/', '.'])
        || f.split('/').any(|part| part == ".." || part == ".")
        || f.chars().any(char::is_control)
    {
        bad(
            "delivery.spam_folder",
            format!("`{f}` is not a folder other than INBOX (empty turns the spam folder off)"),
        );
    }
    for (i, rule) in d.spam_headers.iter().enumerate() {
        if parse_spam_header(rule).is_none() {
            bad(
                &format!("delivery.spam_headers[{i}]"),
                format!("`{rule}` is not `Field-Name: value`"),
            );
        }
    }
}
