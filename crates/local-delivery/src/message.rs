//! Looking into a received message without changing it: where its header section ends, its
//! header fields (for Sieve and the loop check), and the trace headers delivery prepends.

/// Most header bytes examined; a header section beyond this is treated as body for filtering
/// (the message itself is stored unchanged).
pub const MAX_HEADER_SCAN: usize = 1024 * 1024;

/// Where the header section ends and whether the message has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Length of the header section, its terminating empty line excluded.
    pub header_len: usize,
    /// The message starts with something that is not a header field (or an empty line):
    /// delivery then inserts an empty line after its trace headers so the text stays body.
    pub headerless: bool,
}

fn lines(msg: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = msg.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let start = pos;
        pos += len;
        rest.get(..len).map(|l| (start, l))
    })
}

fn strip_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// A header field line: a name of printable ASCII other than `:`, then `:`.
fn is_field_start(l: &[u8]) -> bool {
    match l.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(i) => l
            .get(..i)
            .is_some_and(|n| n.iter().all(|&b| (33..=126).contains(&b))),
    }
}

/// The header section ends at the first empty line ([`ferrymail_smtp::header_end`]), or
/// earlier at a line that is neither a field nor a continuation of one.
pub fn layout(msg: &[u8]) -> Layout {
    let section_end = ferrymail_smtp::header_end(msg).map_or(msg.len(), |e| e.header_len);
    let mut first = true;
    for (start, l) in lines(msg.get(..section_end).unwrap_or_default()) {
        let content = strip_eol(l);
        let continuation = matches!(content.first(), Some(b' ' | b'\t'));
        if first && !is_field_start(content) || !first && !continuation && !is_field_start(content)
        {
            return Layout {
                header_len: start,
                headerless: start == 0,
            };
        }
        first = false;
    }
    Layout {
        header_len: section_end,
        headerless: false,
    }
}

/// The header fields as (name, unfolded value) pairs, in order.
pub fn headers(msg: &[u8]) -> Vec<(String, String)> {
    let lay = layout(msg);
    let section = msg
        .get(..lay.header_len.min(MAX_HEADER_SCAN))
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, l) in lines(section) {
        let content = strip_eol(l);
        let text = String::from_utf8_lossy(content);
        if matches!(content.first(), Some(b' ' | b'\t')) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            out.push((name.to_string(), value.trim().to_string()));
        }
    }
    out
}

/// How many `Delivered-To:` fields name `address` (case-insensitively).
pub fn delivered_to_count(headers: &[(String, String)], address: &str) -> usize {
    headers
        .iter()
        .filter(|(n, v)| {
            n.eq_ignore_ascii_case("delivered-to") && v.trim().eq_ignore_ascii_case(address)
        })
        .count()
}

/// Strips characters that could break a header line out of an address we put into one.
fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && *c != '<' && *c != '>')
        .collect()
}

/// The `Return-Path:` and `Delivered-To:` lines (CRLF), plus the empty line a headerless
/// message needs to keep its text in the body.
pub fn trace_headers(sender: Option<&str>, recipient: &str, lay: Layout) -> Vec<u8> {
    let mut h = format!(
        "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
        header_safe(sender.unwrap_or("")),
        header_safe(recipient)
    );
    if lay.headerless {
        h.push_str("\r\n");
    }
    h.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_headers() {
        let m = b"Subject: hi\r\n there\r\nDelivered-To: A@x.test\r\nX: 1\r\n\r\nbody\r\nFrom: not a header\r\n";
        let lay = layout(m);
        let end = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
        assert_eq!(lay.header_len, end);
        assert!(!lay.headerless);
        let h = headers(m);
        assert_eq!(h[0], ("Subject".into(), "hi there".into()));
        assert_eq!(h.len(), 3);
        assert_eq!(delivered_to_count(&h, "a@X.test"), 1);
        assert_eq!(delivered_to_count(&h, "b@x.test"), 0);
    }

    #[test]
    fn bare_lf_and_mixed_empty_lines_end_the_header_too() {
        let lay = layout(b"A: 1\nB: 2\n\nC: body\n");
        assert_eq!((lay.header_len, lay.headerless), (10, false));
        assert_eq!(headers(b"A: 1\nB: 2\n\nC: body\n").len(), 2);
        assert_eq!(layout(b"A: 1\r\n\nC: body\r\n").header_len, 6);
        assert_eq!(layout(b"A: 1\n\r\nC: body\r\n").header_len, 5);
        assert_eq!(layout(b"A: 1\r\nB: 2\r\n").header_len, 12);
    }

    #[test]
    fn headerless_messages() {
        assert!(layout(b"just text\r\nmore\r\n").headerless);
        assert!(layout(b"").header_len == 0);
        assert!(!layout(b"\r\nbody only\r\n").headerless);
        assert!(layout(b"just text: no\r\n").headerless);
        let t = trace_headers(None, "u@x.test", layout(b"text\r\n"));
        assert_eq!(t, b"Return-Path: <>\r\nDelivered-To: u@x.test\r\n\r\n");
        let t = trace_headers(Some("a@b<c>\r\nX: y"), "u@x.test", layout(b"A: b\r\n"));
        assert_eq!(t, b"Return-Path: <a@bcX: y>\r\nDelivered-To: u@x.test\r\n");
    }
}
