//! What the in-memory store reads from a message's bytes: FETCH items (the header/text split
//! at the first blank line is all the MIME it knows) and SEARCH keys (content keys match a
//! case-insensitive substring of the raw message), and SORT/THREAD facts (headers taken as
//! written: no RFC 2047 decoding, no Date parsing, the first address found plainly).

use crate::date::day_of;
use crate::response::{BodyStructure, Envelope, FetchItem};
use crate::session::storage::{self, FlagSet, SearchContext};
use crate::types::{FetchAtt, SearchKey, Section, SectionText};

/// (header with its blank line, text).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let at = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(data.len());
    data.split_at(at)
}

/// The value of the first header field called `name` (unfolded lines only).
fn header_value(data: &[u8], name: &str) -> Option<Vec<u8>> {
    let (header, _) = split(data);
    header.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (n, v) = line.split_at(colon);
        n.eq_ignore_ascii_case(name.as_bytes())
            .then(|| v.get(1..).unwrap_or_default().trim_ascii().to_vec())
    })
}

/// The header fields named (or, `not`, not named) in `fields`, and the blank line.
fn header_fields(data: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let (header, _) = split(data);
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let listed = fields
                .iter()
                .any(|f| f.as_bytes().eq_ignore_ascii_case(name));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn lines(data: &[u8]) -> u64 {
    data.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The message as one text/plain part; BODYSTRUCTURE adds the (empty) extension data.
fn structure(data: &[u8], ext: bool) -> BodyStructure {
    let (_, text) = split(data);
    BodyStructure::text_plain(text.len() as u64, lines(text), ext)
}

fn envelope(data: &[u8]) -> Envelope {
    Envelope {
        date: header_value(data, "Date"),
        subject: header_value(data, "Subject"),
        message_id: header_value(data, "Message-ID"),
        ..Envelope::default()
    }
}

/// The bytes of a body section; None for a part the message does not have.
fn section_data(data: &[u8], section: &Section) -> Option<Vec<u8>> {
    let (header, text) = split(data);
    match (section.parts.as_slice(), &section.text) {
        ([], None) => Some(data.to_vec()),
        ([], Some(SectionText::Header)) => Some(header.to_vec()),
        ([], Some(SectionText::Text)) => Some(text.to_vec()),
        ([], Some(SectionText::HeaderFields { not, fields })) => {
            Some(header_fields(data, fields, *not))
        }
        // A single-part message's part 1 is its text.
        ([1], None) => Some(text.to_vec()),
        _ => None,
    }
}

/// The origin and bytes of a section under an optional `<origin.length>`.
fn cut(bytes: Option<Vec<u8>>, partial: Option<(u32, u32)>) -> (Option<u32>, Option<Vec<u8>>) {
    match (partial, bytes) {
        (Some((start, len)), Some(b)) => {
            (Some(start), Some(storage::partial(&b, start, len).to_vec()))
        }
        (p, b) => (p.map(|(start, _)| start), b),
    }
}

/// One FETCH item from the message (UID, FLAGS and MODSEQ are the session's).
pub(super) fn fetch_item(
    data: &[u8],
    internal_date: i64,
    saved: i64,
    att: &FetchAtt,
) -> Option<FetchItem> {
    let (header, text) = split(data);
    Some(match att {
        FetchAtt::Uid | FetchAtt::Flags | FetchAtt::ModSeq => return None,
        FetchAtt::Envelope => FetchItem::Envelope(envelope(data).encode()),
        FetchAtt::InternalDate => FetchItem::InternalDate(internal_date),
        FetchAtt::SaveDate => FetchItem::SaveDate(Some(saved)),
        FetchAtt::Rfc822 => FetchItem::Rfc822(data.to_vec()),
        FetchAtt::Rfc822Header => FetchItem::Rfc822Header(header.to_vec()),
        FetchAtt::Rfc822Size => FetchItem::Rfc822Size(data.len() as u64),
        FetchAtt::Rfc822Text => FetchItem::Rfc822Text(text.to_vec()),
        // The body's first words, as the one text part this store knows.
        FetchAtt::Preview => FetchItem::Preview(
            Some(
                String::from_utf8_lossy(text)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .filter(|p| !p.is_empty()),
        ),
        FetchAtt::Body => FetchItem::Body(structure(data, false).encode()),
        FetchAtt::BodyStructure => FetchItem::BodyStructure(structure(data, true).encode()),
        FetchAtt::BodySection {
            section, partial, ..
        } => {
            let (origin, data) = cut(section_data(data, section), *partial);
            FetchItem::BodySection {
                section: section.clone(),
                origin,
                data,
            }
        }
        // This store keeps no content-transfer-encodings: a part's binary form is its bytes.
        FetchAtt::Binary { parts, partial, .. } => {
            let section = Section {
                parts: parts.clone(),
                text: None,
            };
            let (origin, data) = cut(section_data(data, &section), *partial);
            FetchItem::Binary {
                parts: parts.clone(),
                origin,
                data,
            }
        }
        FetchAtt::BinarySize(parts) => {
            let section = Section {
                parts: parts.clone(),
                text: None,
            };
            FetchItem::BinarySize {
                parts: parts.clone(),
                size: section_data(data, &section).map_or(0, |b| b.len() as u64),
            }
        }
    })
}

fn contains(hay: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether the message (INTERNALDATE `date`, saved into this mailbox at `saved`) matches
/// `key`.
pub(super) fn matches(
    key: &SearchKey,
    ctx: &SearchContext<'_>,
    data: &[u8],
    date: i64,
    saved: i64,
) -> bool {
    use SearchKey as K;
    let has = |bit| ctx.flags.has(bit);
    let keyword = |k: &str| {
        ctx.keywords
            .iter()
            .position(|n| n.eq_ignore_ascii_case(k))
            .is_some_and(|i| i < 32 && ctx.flags.keywords & (1 << i) != 0)
    };
    let day = day_of(date);
    let header_has =
        |name: &str, s: &str| header_value(data, name).is_some_and(|v| contains(&v, s));
    match key {
        K::All => true,
        K::Answered => has(FlagSet::ANSWERED),
        K::Deleted => has(FlagSet::DELETED),
        K::Draft => has(FlagSet::DRAFT),
        K::Flagged => has(FlagSet::FLAGGED),
        K::Seen => has(FlagSet::SEEN),
        K::Unanswered => !has(FlagSet::ANSWERED),
        K::Undeleted => !has(FlagSet::DELETED),
        K::Undraft => !has(FlagSet::DRAFT),
        K::Unflagged => !has(FlagSet::FLAGGED),
        K::Unseen => !has(FlagSet::SEEN),
        K::Recent => ctx.recent,
        K::New => ctx.recent && !has(FlagSet::SEEN),
        K::Old => !ctx.recent,
        K::Keyword(k) => keyword(k),
        K::Unkeyword(k) => !keyword(k),
        K::Larger(n) => data.len() as u64 > u64::from(*n),
        K::Smaller(n) => (data.len() as u64) < u64::from(*n),
        K::Uid(set) => set.contains(ctx.uid, ctx.max_uid),
        K::SeqSet(set) => set.contains(ctx.seq, ctx.max_seq),
        K::Not(k) => !matches(k, ctx, data, date, saved),
        K::Or(a, b) => matches(a, ctx, data, date, saved) || matches(b, ctx, data, date, saved),
        K::And(keys) => keys.iter().all(|k| matches(k, ctx, data, date, saved)),
        // The memory store keeps no Date: header dates; INTERNALDATE stands in for them.
        K::Before(d) | K::SentBefore(d) => day < d.days(),
        K::On(d) | K::SentOn(d) => day == d.days(),
        K::Since(d) | K::SentSince(d) => day >= d.days(),
        K::Bcc(s) => header_has("Bcc", s),
        K::Cc(s) => header_has("Cc", s),
        K::From(s) => header_has("From", s),
        K::To(s) => header_has("To", s),
        K::Subject(s) => header_has("Subject", s),
        K::Header(name, s) => header_has(name, s),
        K::Body(s) => contains(split(data).1, s),
        K::Text(s) => contains(data, s),
        K::Younger(n) => crate::date::within(true, *n, date, crate::date::unix_now()),
        K::ModSeq(m) => ctx.modseq >= *m,
        K::Older(n) => crate::date::within(false, *n, date, crate::date::unix_now()),
        K::SavedBefore(d) => day_of(saved) < d.days(),
        K::SavedOn(d) => day_of(saved) == d.days(),
        K::SavedSince(d) => day_of(saved) >= d.days(),
        K::SaveDateSupported => true,
    }
}

/// The first address of an address header: (local part, display name or addr-spec).
fn first_address(data: &[u8], name: &str) -> (String, String) {
    let Some(v) = header_value(data, name) else {
        return Default::default();
    };
    let v = String::from_utf8_lossy(&v);
    let first = v.split(',').next().unwrap_or_default().trim();
    let (display, spec) = match (first.find('<'), first.rfind('>')) {
        (Some(a), Some(b)) if a < b => (
            first.get(..a).unwrap_or_default().trim().trim_matches('"'),
            first.get(a + 1..b).unwrap_or_default(),
        ),
        _ => ("", first),
    };
    let local = spec.split('@').next().unwrap_or_default().to_owned();
    let shown = if display.is_empty() { spec } else { display };
    (local, shown.to_owned())
}

pub fn sort_facts(data: &[u8], internal_date: i64) -> crate::sort::SortFacts {
    let text = |name: &str| {
        header_value(data, name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    let (from, display_from) = first_address(data, "From");
    let (to, display_to) = first_address(data, "To");
    crate::sort::SortFacts {
        arrival: internal_date,
        sent: None,
        size: data.len() as u64,
        subject: text("Subject"),
        from,
        to,
        cc: first_address(data, "Cc").0,
        display_from,
        display_to,
        message_id: text("Message-ID"),
        in_reply_to: text("In-Reply-To"),
        references: text("References"),
        keys: Default::default(),
    }
}
