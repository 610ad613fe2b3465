//! SEARCH evaluation over one message at a time (sans-IO: the caller supplies the facts and,
//! when a key needs it, the message content).

use ferrymail_maildir::Flags;

use ferrymail_imap_proto::date::{day_of, unix_now, within};
use ferrymail_imap_proto::SearchKey;

/// Does evaluating `key` need the message content (headers or body)?
pub fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Body(_) | SearchKey::Header(..) | SearchKey::Text(_) => true,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::And(ks) => ks.iter().any(needs_content),
        _ => false,
    }
}

/// Does it need size or INTERNALDATE (the per-message cache)?
pub fn needs_cache(key: &SearchKey) -> bool {
    match key {
        SearchKey::Before(_)
        | SearchKey::On(_)
        | SearchKey::Since(_)
        | SearchKey::Larger(_)
        | SearchKey::Smaller(_)
        | SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Subject(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Younger(_)
        | SearchKey::Older(_)
        | SearchKey::SavedBefore(_)
        | SearchKey::SavedOn(_)
        | SearchKey::SavedSince(_) => true,
        SearchKey::Not(k) => needs_cache(k),
        SearchKey::Or(a, b) => needs_cache(a) || needs_cache(b),
        SearchKey::And(ks) => ks.iter().any(needs_cache),
        _ => false,
    }
}

pub struct Candidate<'a> {
    pub seq: u32,
    pub uid: u32,
    pub max_seq: u32,
    pub max_uid: u32,
    pub flags: Flags,
    pub recent: bool,
    pub size: u64,
    pub internal_date: i64,
    /// RFC 8514 SAVEDATE ([`crate::fetch::save_date`]), when [`needs_cache`].
    pub saved: i64,
    /// The message's cached facts, when [`needs_cache`].
    pub cached: Option<&'a crate::mailbox::Cached>,
    pub keywords: &'a [String],
    /// RFC 7162 MODSEQ.
    pub modseq: u64,
    /// CRLF message, when [`needs_content`].
    pub content: Option<&'a [u8]>,
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(&needle.to_lowercase())
}

fn header_matches(c: &Candidate<'_>, field: &str, needle: &str) -> bool {
    let Some(content) = c.content else {
        return false;
    };
    let Ok((headers, _)) = mailparse::parse_headers(content) else {
        return false;
    };
    headers
        .iter()
        .filter(|h| h.get_key_ref().eq_ignore_ascii_case(field))
        .any(|h| contains_ci(&h.get_value(), needle))
}

fn body_matches(content: &[u8], needle: &str) -> bool {
    let Ok(mail) = mailparse::parse_mail(content) else {
        return false;
    };
    let mut stack = vec![&mail];
    let mut seen = 0;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > 1000 {
            break;
        }
        if p.subparts.is_empty() {
            if p.ctype.mimetype.starts_with("text/") || p.ctype.mimetype.is_empty() {
                if let Ok(text) = p.get_body() {
                    if contains_ci(&text, needle) {
                        return true;
                    }
                }
            }
        } else {
            stack.extend(p.subparts.iter());
        }
    }
    false
}

/// Header facts SEARCH uses, computed once per message for the cache: the lower-cased
/// From/To/Cc/Bcc (written out plainly, [`crate::address::search_text`]) and decoded
/// Subject, and the sent day.
pub fn header_facts(hdr: &[u8]) -> ([Box<str>; 5], Option<i64>) {
    let headers = crate::mime::headers(hdr);
    let field = |name: &str, text: fn(&mailparse::MailHeader<'_>) -> String| -> Box<str> {
        let mut v = String::new();
        for h in headers
            .iter()
            .filter(|h| h.get_key_ref().eq_ignore_ascii_case(name))
        {
            if !v.is_empty() {
                v.push('\n');
            }
            v.push_str(&text(h).to_lowercase());
        }
        v.into_boxed_str()
    };
    let addresses = |h: &mailparse::MailHeader<'_>| crate::address::search_text(h.get_value_raw());
    let decoded = |h: &mailparse::MailHeader<'_>| h.get_value();
    let sent_day = headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("Date"))
        .and_then(|h| {
            let value = h.get_value();
            let ts = mailparse::dateparse(&value).ok()?;
            // RFC 3501: the sent date is compared without time or zone, i.e. as written.
            Some(day_of(ts + zone_offset(&value)))
        });
    (
        [
            field("From", addresses),
            field("To", addresses),
            field("Cc", addresses),
            field("Bcc", addresses),
            field("Subject", decoded),
        ],
        sent_day,
    )
}

const FROM: usize = 0;
const TO: usize = 1;
const CC: usize = 2;
const BCC: usize = 3;
const SUBJECT: usize = 4;

fn cached_header(c: &Candidate<'_>, which: usize, needle: &str) -> bool {
    c.cached
        .and_then(|m| m.search_headers.get(which))
        .is_some_and(|v| needle.is_empty() || v.contains(&needle.to_lowercase()))
}

fn sent_day(c: &Candidate<'_>) -> Option<i64> {
    c.cached?.sent_day
}

/// The numeric zone (`-0800`) at the end of a Date header, in seconds.
fn zone_offset(value: &str) -> i64 {
    let Some(tok) = value
        .split_whitespace()
        .rev()
        .find(|t| t.starts_with(['+', '-']))
    else {
        return 0;
    };
    let digits = tok.get(1..).unwrap_or_default();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let n: i64 = digits.parse().unwrap_or(0);
    let secs = (n / 100) * 3600 + (n % 100) * 60;
    if tok.starts_with('-') {
        -secs
    } else {
        secs
    }
}

fn keyword_set(c: &Candidate<'_>, name: &str) -> bool {
    c.keywords
        .iter()
        .position(|k| k.eq_ignore_ascii_case(name))
        .and_then(|i| u8::try_from(i).ok())
        .and_then(Flags::keyword)
        .is_some_and(|f| c.flags.contains(f))
}

/// Evaluates a key for one message.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    use SearchKey as K;
    match key {
        K::All => true,
        K::Answered => c.flags.contains(Flags::REPLIED),
        K::Unanswered => !c.flags.contains(Flags::REPLIED),
        K::Deleted => c.flags.contains(Flags::TRASHED),
        K::Undeleted => !c.flags.contains(Flags::TRASHED),
        K::Draft => c.flags.contains(Flags::DRAFT),
        K::Undraft => !c.flags.contains(Flags::DRAFT),
        K::Flagged => c.flags.contains(Flags::FLAGGED),
        K::Unflagged => !c.flags.contains(Flags::FLAGGED),
        K::Seen => c.flags.contains(Flags::SEEN),
        K::Unseen => !c.flags.contains(Flags::SEEN),
        K::Recent => c.recent,
        K::Old => !c.recent,
        K::New => c.recent && !c.flags.contains(Flags::SEEN),
        K::Keyword(k) => keyword_set(c, k),
        K::Unkeyword(k) => !keyword_set(c, k),
        K::Larger(n) => c.size > u64::from(*n),
        K::Smaller(n) => c.size < u64::from(*n),
        K::Before(d) => day_of(c.internal_date) < d.days(),
        K::On(d) => day_of(c.internal_date) == d.days(),
        K::Since(d) => day_of(c.internal_date) >= d.days(),
        K::SentBefore(d) => sent_day(c).is_some_and(|s| s < d.days()),
        K::SentOn(d) => sent_day(c).is_some_and(|s| s == d.days()),
        K::SentSince(d) => sent_day(c).is_some_and(|s| s >= d.days()),
        K::Bcc(s) => cached_header(c, BCC, s),
        K::Cc(s) => cached_header(c, CC, s),
        K::From(s) => cached_header(c, FROM, s),
        K::To(s) => cached_header(c, TO, s),
        K::Subject(s) => cached_header(c, SUBJECT, s),
        K::Header(f, s) => header_matches(c, f, s),
        K::Body(s) => c.content.is_some_and(|m| body_matches(m, s)),
        K::Text(s) => c.content.is_some_and(|m| {
            let headers_hit = mailparse::parse_headers(m).is_ok_and(|(hs, _)| {
                hs.iter()
                    .any(|h| contains_ci(&h.get_value(), s) || contains_ci(&h.get_key(), s))
            });
            headers_hit || body_matches(m, s)
        }),
        K::Uid(set) => set.contains(c.uid, c.max_uid),
        K::SeqSet(set) => set.contains(c.seq, c.max_seq),
        K::Not(k) => !matches(k, c),
        K::Or(a, b) => matches(a, c) || matches(b, c),
        K::And(ks) => ks.iter().all(|k| matches(k, c)),
        K::Younger(n) => within(true, *n, c.internal_date, unix_now()),
        K::ModSeq(m) => c.modseq >= *m,
        K::Older(n) => within(false, *n, c.internal_date, unix_now()),
        K::SavedBefore(d) => day_of(c.saved) < d.days(),
        K::SavedOn(d) => day_of(c.saved) == d.days(),
        K::SavedSince(d) => day_of(c.saved) >= d.days(),
        // Every Maildir mailbox keeps save dates.
        K::SaveDateSupported => true,
    }
}

#[cfg(test)]
mod tests;
