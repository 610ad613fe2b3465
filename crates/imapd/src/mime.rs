//! MIME structure of a message for FETCH: the part tree with byte ranges (for
//! `BODY[section]`), ENVELOPE and BODY/BODYSTRUCTURE rendering.
//!
//! Headers, Content-Type/Disposition parameters (RFC 2231 included) and addresses are parsed
//! with mailparse; the part tree is split here by boundary scanning because section fetches
//! need exact byte offsets into the message. All offsets refer to the message with CRLF line
//! ends ([`to_crlf`]), which is what IMAP sizes and literals are measured in.

use std::ops::Range;

use mailparse::MailHeader;

use crate::address::{self, Item};

use ferrymail_imap_proto::response::{Address, BodyStructure, Envelope, Extension, SingleKind};
use ferrymail_imap_proto::{Section, SectionText};

/// Nesting depth beyond which parts are treated as opaque (hostile messages nest deeply).
const MAX_DEPTH: usize = 20;
/// Parts per message beyond which the rest are ignored.
const MAX_PARTS: usize = 2000;

/// Converts bare LF line ends to CRLF; a message already in CRLF form is returned as is.
pub fn to_crlf(raw: Vec<u8>) -> Vec<u8> {
    let is_bare = |i: usize| i == 0 || raw.get(i - 1) != Some(&b'\r');
    let bare = memchr::memchr_iter(b'\n', &raw)
        .filter(|&i| is_bare(i))
        .count();
    if bare == 0 {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', &raw) {
        if is_bare(i) {
            out.extend_from_slice(raw.get(start..i).unwrap_or_default());
            out.extend_from_slice(b"\r\n");
            start = i + 1;
        }
    }
    out.extend_from_slice(raw.get(start..).unwrap_or_default());
    out
}

#[derive(Debug, Clone)]
pub enum Kind {
    Single,
    Multipart(Vec<Part>),
    /// message/rfc822 (or message/global): the encapsulated message.
    Message(Box<Part>),
}

/// One MIME part: where its header and body are, and its content type.
#[derive(Debug, Clone)]
pub struct Part {
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub mtype: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub kind: Kind,
}

/// The end of the header block of the part at `start..end`: the offset after its empty line
/// (BODY[HEADER] includes it), or `end` when the part has none.
fn header_end(msg: &[u8], start: usize, end: usize) -> usize {
    let slice = msg.get(start..end).unwrap_or_default();
    ferrymail_smtp::header_end(slice).map_or(end, |e| start + e.body_start)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The headers of a byte range (an unparsable header block yields what parsed before it).
pub fn headers(bytes: &[u8]) -> Vec<MailHeader<'_>> {
    mailparse::parse_headers(bytes)
        .map(|(h, _)| h)
        .unwrap_or_default()
}

pub(crate) fn header_value<'a>(hs: &'a [MailHeader<'a>], name: &str) -> Option<&'a MailHeader<'a>> {
    hs.iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
}

/// The raw value of a header, unfolded and trimmed (what ENVELOPE shows).
fn raw_value(h: &MailHeader<'_>) -> Vec<u8> {
    let v: Vec<u8> = h
        .get_value_raw()
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    v.get(start..end.max(start)).unwrap_or_default().to_vec()
}

/// Parses the part tree of a CRLF message.
pub fn parse(msg: &[u8]) -> Part {
    let mut budget = MAX_PARTS;
    parse_part(msg, 0, msg.len(), false, 0, &mut budget)
}

fn parse_part(
    msg: &[u8],
    start: usize,
    end: usize,
    in_digest: bool,
    depth: usize,
    budget: &mut usize,
) -> Part {
    *budget = budget.saturating_sub(1);
    let hend = header_end(msg, start, end);
    let hs = headers(msg.get(start..hend).unwrap_or_default());
    let parsed = header_value(&hs, "Content-Type").and_then(|h| parse_content_type(&h.get_value()));
    let (mtype, subtype, params) = match parsed {
        Some((t, s, mut params)) => {
            if t.eq_ignore_ascii_case("text") && !params.iter().any(|(k, _)| k == "charset") {
                params.push(("charset".to_owned(), "us-ascii".to_owned()));
            }
            (t, s, params)
        }
        // RFC 2045 §5.2: a missing or unparsable Content-Type means text/plain.
        None if in_digest => ("message".to_owned(), "rfc822".to_owned(), Vec::new()),
        None => (
            "text".to_owned(),
            "plain".to_owned(),
            vec![("charset".to_owned(), "us-ascii".to_owned())],
        ),
    };
    let body = hend..end;
    let mut part = Part {
        header: start..hend,
        body: body.clone(),
        mtype,
        subtype,
        params,
        kind: Kind::Single,
    };
    if depth >= MAX_DEPTH || *budget == 0 {
        return part;
    }
    if part.mtype.eq_ignore_ascii_case("multipart") {
        let boundary = part
            .params
            .iter()
            .find(|(k, _)| k == "boundary")
            .map(|(_, v)| v.clone());
        if let Some(boundary) = boundary.filter(|b| !b.is_empty()) {
            let digest = part.subtype.eq_ignore_ascii_case("digest");
            let children = split_multipart(msg, body.clone(), boundary.as_bytes())
                .into_iter()
                .map(|r| {
                    let mut child = parse_part(msg, r.start, r.end, digest, depth + 1, budget);
                    // A nested multipart that ends with its close delimiter owns the line end
                    // after it (the next outer delimiter then starts right there), as in
                    // Dovecot: offsets of BODY[n] must agree with other servers.
                    if closes_itself(msg, &child) && msg.get(r.end..r.end + 2) == Some(b"\r\n") {
                        child.body.end = r.end + 2;
                    }
                    child
                })
                .collect();
            part.kind = Kind::Multipart(children);
        } else {
            part.kind = Kind::Multipart(Vec::new());
        }
    } else if part.mtype.eq_ignore_ascii_case("message")
        && (part.subtype.eq_ignore_ascii_case("rfc822")
            || part.subtype.eq_ignore_ascii_case("global"))
    {
        let inner = parse_part(msg, body.start, body.end, false, depth + 1, budget);
        part.kind = Kind::Message(Box::new(inner));
    }
    part
}

fn closes_itself(msg: &[u8], part: &Part) -> bool {
    if !part.mtype.eq_ignore_ascii_case("multipart") {
        return false;
    }
    let Some((_, b)) = part.params.iter().find(|(k, _)| k == "boundary") else {
        return false;
    };
    let close = format!("--{b}--");
    msg.get(part.body.clone())
        .is_some_and(|body| body.ends_with(close.as_bytes()))
}

/// The byte ranges of the body parts between boundary lines. The CRLF before a delimiter
/// belongs to the delimiter (RFC 2046 §5.1.1).
fn split_multipart(msg: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut pos = body.start;
    while pos < body.end {
        let line_end = msg
            .get(pos..body.end)
            .and_then(|s| find(s, b"\r\n"))
            .map_or(body.end, |i| pos + i);
        let next = (line_end + 2).min(body.end);
        let line = msg.get(pos..line_end).unwrap_or_default();
        if let Some(after) = line.strip_prefix(delim.as_slice()) {
            let close = after.starts_with(b"--");
            let rest = if close {
                after.get(2..).unwrap_or_default()
            } else {
                after
            };
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                if let Some(s) = current.take() {
                    let e = pos.saturating_sub(2).max(s);
                    parts.push(s..e);
                }
                if close {
                    return parts;
                }
                current = Some(next);
                if parts.len() >= MAX_PARTS {
                    return parts;
                }
            }
        }
        pos = if next > pos { next } else { body.end };
    }
    // A missing close delimiter: the last part runs to the end (Dovecot does the same).
    if let Some(s) = current {
        parts.push(s..body.end);
    }
    parts
}

/// Lines of a body as Dovecot counts them: line feeds (a last line without one is not
/// counted, which matters because the CRLF before a boundary is not part of the body).
/// Type, subtype and parameters.
type ContentType = (String, String, Vec<(String, String)>);

/// `type/subtype; k=v; ...` with the parameters in header order and as written (RFC 2231
/// continuations are not decoded: BODYSTRUCTURE passes them through, as Dovecot does).
/// None when there is no `type/subtype`.
fn parse_content_type(value: &str) -> Option<ContentType> {
    let (ty, rest) = split_unquoted(value, ';');
    let (t, s) = ty.trim().split_once('/')?;
    let (t, s) = (t.trim(), s.trim());
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    if !token(t) || !token(s) {
        return None;
    }
    Some((
        t.to_ascii_lowercase(),
        s.to_ascii_lowercase(),
        parse_params(rest.unwrap_or("")),
    ))
}

/// Splits at the first `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => return (&s[..i], s.get(i + c.len_utf8()..)),
            _ => {}
        }
    }
    (s, None)
}

/// `; k=v; k2="quoted"` parameters, names lower-cased, values unquoted.
pub fn parse_params(mut rest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let (seg, next) = split_unquoted(rest, ';');
        if let Some((k, v)) = seg.split_once('=') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(inner) => {
                    let inner = inner.strip_suffix('"').unwrap_or(inner);
                    let mut un = String::with_capacity(inner.len());
                    let mut esc = false;
                    for c in inner.chars() {
                        if esc || c != '\\' {
                            un.push(c);
                            esc = false;
                        } else {
                            esc = true;
                        }
                    }
                    un
                }
                None => v.to_owned(),
            };
            if !k.is_empty() && !k.contains(char::is_whitespace) {
                out.push((k, v));
            }
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

fn count_lines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

/// The ENVELOPE of the header block `hdr`.
pub fn envelope(hdr: &[u8]) -> Envelope {
    let hs = headers(hdr);
    let get = |name: &str| header_value(&hs, name).map(raw_value);
    let from = address_items(get("From"));
    // RFC 3501 §7.4.2: Sender and Reply-To default to From when absent (or empty).
    let or_from = |name: &str| {
        let items = address_items(get(name));
        if items.is_empty() {
            from.clone()
        } else {
            items
        }
    };
    Envelope {
        date: get("Date"),
        subject: get("Subject"),
        sender: or_from("Sender"),
        reply_to: or_from("Reply-To"),
        to: address_items(get("To")),
        cc: address_items(get("Cc")),
        bcc: address_items(get("Bcc")),
        in_reply_to: get("In-Reply-To"),
        message_id: get("Message-ID"),
        from,
    }
}

/// An ENVELOPE address list; a group is its start `(NIL NIL "name" NIL)`, its members and
/// its end `(NIL NIL NIL NIL)`.
fn address_items(raw: Option<Vec<u8>>) -> Vec<Address> {
    let items = raw.map(|r| address::parse_list(&r)).unwrap_or_default();
    items
        .into_iter()
        .map(|item| match item {
            Item::Mailbox(m) => Address {
                name: m.name.filter(|n| !n.is_empty()).map(String::into_bytes),
                adl: m.route.map(String::into_bytes),
                mailbox: Some(m.local.into_bytes()),
                host: m.domain.map(String::into_bytes),
            },
            Item::GroupStart(name) => Address {
                mailbox: Some(name.into_bytes()),
                ..Address::default()
            },
            Item::GroupEnd => Address::default(),
        })
        .collect()
}

/// BODY (`extended = false`) or BODYSTRUCTURE of a part.
pub fn body_structure(msg: &[u8], part: &Part, extended: bool) -> BodyStructure {
    let hs = headers(msg.get(part.header.clone()).unwrap_or_default());
    let get = |name: &str| header_value(&hs, name).map(raw_value);
    match &part.kind {
        Kind::Multipart(children) => {
            let mut parts: Vec<BodyStructure> = children
                .iter()
                .map(|c| body_structure(msg, c, extended))
                .collect();
            if parts.is_empty() {
                // RFC 3501 needs at least one part; show an empty text part like Dovecot.
                parts.push(BodyStructure::text_plain(0, 0, extended));
            }
            BodyStructure::Multi {
                parts,
                subtype: part.subtype.clone(),
                ext: extended.then(|| (part.params.clone(), extension(&hs, None))),
            }
        }
        kind => {
            let body = msg.get(part.body.clone()).unwrap_or_default();
            let lines = count_lines(body) as u64;
            let kind = match kind {
                Kind::Message(inner) => SingleKind::Message {
                    envelope: Box::new(envelope(msg.get(inner.header.clone()).unwrap_or_default())),
                    body: Box::new(body_structure(msg, inner, extended)),
                    lines,
                },
                _ if part.mtype.eq_ignore_ascii_case("text") => SingleKind::Text { lines },
                _ => SingleKind::Basic,
            };
            BodyStructure::Single {
                media_type: part.mtype.clone(),
                subtype: part.subtype.clone(),
                params: part.params.clone(),
                id: get("Content-ID"),
                description: get("Content-Description"),
                // Passed through as written (Dovecot does the same); clients compare it
                // case-insensitively.
                encoding: get("Content-Transfer-Encoding")
                    .filter(|e| !e.is_empty())
                    .map(|e| String::from_utf8_lossy(&e).into_owned())
                    .unwrap_or_else(|| "7bit".to_owned()),
                size: body.len() as u64,
                kind,
                ext: extended.then(|| extension(&hs, get("Content-MD5"))),
            }
        }
    }
}

/// Disposition, language and location: the extension data every part has (and MD5, which
/// only single parts have).
fn extension(hs: &[MailHeader<'_>], md5: Option<Vec<u8>>) -> Extension {
    let disposition = header_value(hs, "Content-Disposition").and_then(|h| {
        let value = h.get_value();
        let kind = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        (!kind.is_empty()).then(|| {
            let params = parse_params(value.split_once(';').map_or("", |(_, p)| p));
            (kind, params)
        })
    });
    let language = header_value(hs, "Content-Language")
        .map(|h| {
            h.get_value()
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Extension {
        md5,
        disposition,
        language,
        location: header_value(hs, "Content-Location").map(raw_value),
    }
}

/// Part `n` (1-based) of the message `m` (the whole message, or the message a
/// message/rfc822 part encapsulates), following RFC 3501's numbering: a multipart message's
/// parts, or else part 1 alone, the message's own body. So the body of a message that is
/// itself a message/rfc822 is part 1 and the message inside it is reached through 1.n.
/// The second value is true when the result cannot be descended into (the body of a
/// non-multipart message has no parts of its own, as Dovecot answers).
fn message_part(m: &Part, n: u32) -> Option<(&Part, bool)> {
    match &m.kind {
        Kind::Multipart(children) => children
            .get((n as usize).checked_sub(1)?)
            .map(|c| (c, false)),
        Kind::Message(_) => (n == 1).then_some((m, false)),
        Kind::Single => (n == 1).then_some((m, true)),
    }
}

/// Part `n` below the body part `p`: a message/rfc822 part's sub-parts are those of the
/// encapsulated message, a multipart's its children, and a leaf part is its own part 1.
fn sub_part(p: &Part, n: u32) -> Option<(&Part, bool)> {
    match &p.kind {
        Kind::Message(inner) => message_part(inner, n),
        Kind::Multipart(children) => children
            .get((n as usize).checked_sub(1)?)
            .map(|c| (c, false)),
        Kind::Single => (n == 1).then_some((p, false)),
    }
}

/// The part that part numbers (`1.2`) name, or None if it does not exist; the root for
/// none.
pub fn numbered_part<'a>(root: &'a Part, parts: &[u32]) -> Option<&'a Part> {
    let mut part = root;
    let mut terminal = false;
    for (i, &n) in parts.iter().enumerate() {
        if terminal {
            return None;
        }
        let (p, t) = if i == 0 {
            message_part(part, n)?
        } else {
            sub_part(part, n)?
        };
        part = p;
        terminal = t;
    }
    Some(part)
}

/// The bytes a `BODY[section]` names, or None if the section does not exist.
pub fn section_bytes(msg: &[u8], root: &Part, section: &Section) -> Option<Vec<u8>> {
    let part = numbered_part(root, &section.parts)?;
    let get = |r: Range<usize>| msg.get(r).map(<[u8]>::to_vec);
    // HEADER/TEXT of a numbered part refer to its encapsulated message.
    let message_level = if section.parts.is_empty() {
        Some(part)
    } else if let Kind::Message(inner) = &part.kind {
        Some(&**inner)
    } else {
        None
    };
    match &section.text {
        None if section.parts.is_empty() => Some(msg.to_vec()),
        None => get(part.body.clone()),
        Some(SectionText::Mime) => get(part.header.clone()),
        Some(SectionText::Header) => get(message_level?.header.clone()),
        Some(SectionText::Text) => get(message_level?.body.clone()),
        Some(SectionText::HeaderFields { not, fields }) => {
            let hdr = msg.get(message_level?.header.clone())?;
            Some(filter_headers(hdr, fields, *not))
        }
    }
}

/// The header lines whose names are (or with `not`, are not) in `fields`, then a blank line.
pub fn filter_headers(hdr: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    let mut pos = 0;
    while pos < hdr.len() {
        let end = hdr
            .get(pos..)
            .and_then(|s| find(s, b"\r\n"))
            .map_or(hdr.len(), |i| pos + i + 2);
        let line = hdr.get(pos..end).unwrap_or_default();
        pos = end;
        if line == b"\r\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line
                .iter()
                .position(|&b| b == b':')
                .and_then(|i| line.get(..i))
                .unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            let listed = fields
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name.trim_end()));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    // A header block without its blank line (a message with no body) yields nothing when
    // no field matched, as Dovecot answers.
    if !out.is_empty() || ferrymail_smtp::header_end(hdr).is_some() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests;
