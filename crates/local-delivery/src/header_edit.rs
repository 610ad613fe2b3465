//! Replays a Sieve script's editheader changes (RFC 5293) on the raw message, so the delivered
//! copies carry them; the body and untouched fields stay byte for byte.

use ferrymail_sieve::HeaderEdit;

/// `msg` with `edits` applied to its top-level header, in order.
pub fn apply(msg: &[u8], edits: &[HeaderEdit]) -> Vec<u8> {
    let crlf = msg.windows(2).any(|w| w == b"\r\n");
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    // Each field with its continuation lines and line end; the rest is the blank line + body.
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < msg.len() && !msg[i..].starts_with(eol) {
        let end = msg[i..]
            .windows(eol.len())
            .position(|w| w == eol)
            .map_or(msg.len(), |p| i + p + eol.len());
        match msg.get(i) {
            Some(b' ' | b'\t') if !fields.is_empty() => {
                let start = fields.pop().map_or(i, |f| i - f.len());
                fields.push(&msg[start..end]);
            }
            _ => fields.push(&msg[i..end]),
        }
        i = end;
    }
    let rest = &msg[i..];
    let mut out: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
    let named = |f: &[u8], name: &str| {
        f.iter()
            .position(|&b| b == b':')
            .is_some_and(|c| f[..c].trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    };
    for e in edits {
        match e {
            HeaderEdit::Add { name, value, last } => {
                let mut f = format!("{name}: {value}").into_bytes();
                f.extend_from_slice(eol);
                if *last {
                    out.push(f);
                } else {
                    out.insert(0, f);
                }
            }
            HeaderEdit::Delete { name, positions } => {
                let mut n = 0;
                out.retain(|f| {
                    if !named(f, name) {
                        return true;
                    }
                    n += 1;
                    !positions.contains(&(n - 1))
                });
            }
        }
    }
    let mut msg_out = out.concat();
    msg_out.extend_from_slice(rest);
    msg_out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_deletes_fields_keeping_the_rest() {
        let msg = b"Subject: a\r\n long\r\nX-A: 1\r\nTo: b@c\r\nX-A: 2\r\n\r\nbody\r\nX-A: 3\r\n";
        let edits = vec![
            HeaderEdit::Add {
                name: "X-New".into(),
                value: "top".into(),
                last: false,
            },
            HeaderEdit::Delete {
                name: "x-a".into(),
                positions: vec![1],
            },
            HeaderEdit::Add {
                name: "X-End".into(),
                value: "e".into(),
                last: true,
            },
        ];
        assert_eq!(
            String::from_utf8(apply(msg, &edits)).unwrap(),
            "X-New: top\r\nSubject: a\r\n long\r\nX-A: 1\r\nTo: b@c\r\nX-End: e\r\n\r\nbody\r\nX-A: 3\r\n"
        );
        let lf = apply(b"S: x\n\nb\n", &edits[..1]);
        assert_eq!(lf, b"X-New: top\nS: x\n\nb\n");
        assert_eq!(apply(msg, &[]), msg.to_vec());
    }
}
