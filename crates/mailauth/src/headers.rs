//! The few header-section operations mail authentication needs on raw messages: finding the
//! `From:` domain, and removing `Authentication-Results:` fields that claim our own
//! authserv-id (RFC 8601 §5: only we may write those; anything arriving with it is forged).

use std::borrow::Cow;

/// One header field of the raw header section: its byte range (including the final line
/// end and every continuation line) and its name.
struct Field<'a> {
    start: usize,
    end: usize,
    name: &'a [u8],
    value: &'a [u8],
}

/// The header fields, in order; stops at the empty line that ends the header section (or
/// at the end of the message when there is no body).
fn fields(message: &[u8]) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let line_end = |from: usize| {
            message
                .get(from..)
                .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
                .map_or(message.len(), |i| from + i + 1)
        };
        let first_end = line_end(pos);
        let line = &message[pos..first_end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let mut end = first_end;
        while end < message.len() && matches!(message[end], b' ' | b'\t') {
            end = line_end(end);
        }
        let field = &message[pos..end];
        if let Some(colon) = field.iter().position(|b| *b == b':') {
            out.push(Field {
                start: pos,
                end,
                name: trim(&field[..colon]),
                value: &field[colon + 1..],
            });
        }
        pos = end;
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

/// Skips CFWS (whitespace and nested comments) at the start of `s`.
fn skip_cfws(s: &str) -> &str {
    let mut s = s.trim_start();
    while let Some(rest) = s.strip_prefix('(') {
        let mut depth = 1usize;
        let mut idx = rest.len();
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        idx = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        s = rest.get(idx..).unwrap_or("").trim_start();
    }
    s
}

/// The authserv-id of an `Authentication-Results:` value (RFC 8601 §2.2): the first token,
/// after any comments.
pub fn authserv_id_of(value: &str) -> String {
    let s = skip_cfws(value);
    let end = s
        .find(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .unwrap_or(s.len());
    s[..end].trim_matches('"').to_ascii_lowercase()
}

/// `message` without the `Authentication-Results:` fields whose authserv-id is `authserv_id`
/// (case-insensitive), and how many were removed. Other servers' results stay; the body is
/// untouched. Borrowed when there was nothing to remove.
pub fn strip_forged_results<'a>(message: &'a [u8], authserv_id: &str) -> (Cow<'a, [u8]>, usize) {
    let ours = authserv_id.trim_end_matches('.').to_ascii_lowercase();
    let forged: Vec<(usize, usize)> = fields(message)
        .into_iter()
        .filter(|f| {
            f.name.eq_ignore_ascii_case(b"Authentication-Results")
                && authserv_id_of(&String::from_utf8_lossy(f.value)).trim_end_matches('.') == ours
        })
        .map(|f| (f.start, f.end))
        .collect();
    if forged.is_empty() {
        return (Cow::Borrowed(message), 0);
    }
    let mut out = Vec::with_capacity(message.len());
    let mut pos = 0;
    for (start, end) in &forged {
        out.extend_from_slice(&message[pos..*start]);
        pos = *end;
    }
    out.extend_from_slice(&message[pos..]);
    (Cow::Owned(out), forged.len())
}

/// The lower-cased domain of the first address in the first `From:` field.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let f = fields(message)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(b"From"))?;
    let value = String::from_utf8_lossy(f.value).replace(['\r', '\n'], "");
    let addr = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_owned(),
        _ => skip_cfws(&value)
            .split([',', ' ', '('])
            .next()
            .unwrap_or("")
            .to_owned(),
    };
    let domain = addr.rsplit_once('@')?.1.trim().trim_end_matches('.');
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// The fuzz target's body (also run over fixed inputs by the unit tests): never panics on any
/// input, and stripping only ever removes whole fields, never adds or rewrites bytes.
pub fn check_invariants(data: &[u8]) {
    let _ = from_domain(data);
    let text = String::from_utf8_lossy(data);
    let id = authserv_id_of(&text);
    let (out, n) = strip_forged_results(data, if id.is_empty() { "x.test" } else { &id });
    assert!(out.len() <= data.len());
    assert_eq!(n == 0, out.len() == data.len());
    let (again, m) = strip_forged_results(&out, if id.is_empty() { "x.test" } else { &id });
    assert_eq!((again.len(), m), (out.len(), 0), "stripping is idempotent");
    let _ = crate::keys::SigningKeyPair::from_pem(data);
    let _ = crate::keys::parse_tags(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_inputs_hold_the_invariants() {
        let seeds: [&[u8]; 9] = [
            b"",
            b"\r\n",
            b"Authentication-Results: a.test; spf=pass\r\n\r\n",
            b"Authentication-Results:(((\r\n \\)\r\n",
            b"authentication-results: (x) a.test\n\tfoo\nFrom: <@>\n\n",
            b"From: \xff\xfe@\xc3\r\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"v=DKIM1; k=; p=;;==;",
            b"Authentication-Results: a.test\r\nAuthentication-Results: a.test\r\n X",
        ];
        for s in seeds {
            check_invariants(s);
        }
        // Bounded pseudo-random splices of the seeds (deterministic).
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let s = seeds[(x as usize) % seeds.len()];
                let cut = (x as usize >> 8) % (s.len() + 1);
                buf.extend_from_slice(&s[..cut]);
            }
            check_invariants(&buf);
        }
    }

    #[test]
    fn forged_results_for_our_id_are_removed_others_kept() {
        let msg = b"Received: from x\r\n\
Authentication-Results: MX.a.test; spf=pass\r\n smtp.mailfrom=x@evil.test\r\n\
Authentication-Results: (comment) mx.a.test;\r\n\tdkim=pass\r\n\
Authentication-Results: other.test; dmarc=pass\r\n\
authentication-results:mx.a.test.; none\r\n\
ARC-Authentication-Results: i=1; mx.a.test; spf=pass\r\n\
Subject: hi\r\n\
\r\n\
Authentication-Results: mx.a.test; in the body stays\r\n";
        let (out, n) = strip_forged_results(msg, "mx.a.test");
        assert_eq!(n, 3);
        let out = String::from_utf8(out.into_owned()).unwrap();
        assert_eq!(
            out,
            "Received: from x\r\n\
Authentication-Results: other.test; dmarc=pass\r\n\
ARC-Authentication-Results: i=1; mx.a.test; spf=pass\r\n\
Subject: hi\r\n\
\r\n\
Authentication-Results: mx.a.test; in the body stays\r\n"
        );
        let (same, n) = strip_forged_results(b"Subject: x\n\nbody", "mx.a.test");
        assert_eq!(n, 0);
        assert!(matches!(same, Cow::Borrowed(_)));
        // A look-alike id is someone else's.
        let (_, n) = strip_forged_results(
            b"Authentication-Results: mx.a.test.evil; spf=pass\r\n\r\n",
            "mx.a.test",
        );
        assert_eq!(n, 0);
    }

    #[test]
    fn from_domain_forms() {
        assert_eq!(
            from_domain(b"Subject: x\r\nFrom: \"A, B\" <a@Sub.A.test>\r\n\r\n").as_deref(),
            Some("sub.a.test")
        );
        assert_eq!(
            from_domain(b"from: a@b.test (Al)\n\n").as_deref(),
            Some("b.test")
        );
        assert_eq!(
            from_domain(b"From:\r\n  Al <al@c.test>\r\n\r\n").as_deref(),
            Some("c.test")
        );
        assert_eq!(from_domain(b"To: a@b.test\r\n\r\nFrom: x@y.test\r\n"), None);
        assert_eq!(from_domain(b"From: nobody\r\n\r\n"), None);
        assert_eq!(
            authserv_id_of(" (c (nested)) Host.Test; spf=pass"),
            "host.test"
        );
    }
}
