//! RFC 5173 body: the texts a `body` test matches, taken from the message with mailparse
//! (the workspace's one MIME decoder). `:raw` is the undecoded body; `:content` the decoded
//! leaf parts of the listed types; `:text`, the default, is `:content "text"`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Raw,
    /// Content types: `type` or `type/subtype`; `""` for every part.
    Content(Vec<String>),
}

impl Transform {
    pub fn text() -> Transform {
        Transform::Content(vec!["text".into()])
    }
}

fn wanted(types: &[String], mimetype: &str) -> bool {
    let main = mimetype.split('/').next().unwrap_or("");
    types.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t.is_empty() || t == mimetype || (!t.contains('/') && t == main)
    })
}

fn leaves(part: &mailparse::ParsedMail<'_>, types: &[String], out: &mut Vec<String>) {
    if part.subparts.is_empty() {
        if wanted(types, &part.ctype.mimetype.to_ascii_lowercase()) {
            if let Ok(b) = part.get_body() {
                out.push(b);
            }
        }
        return;
    }
    for p in &part.subparts {
        leaves(p, types, out);
    }
}

/// The texts the test compares its keys with; none when the message is not offered.
pub fn texts(message: &[u8], t: &Transform, limit: usize) -> Vec<String> {
    let message = &message[..message.len().min(limit)];
    match t {
        Transform::Raw => {
            let start = message
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| i + 4)
                .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|i| i + 2));
            match start {
                Some(s) => vec![String::from_utf8_lossy(&message[s..]).into_owned()],
                None => Vec::new(),
            }
        }
        Transform::Content(types) => {
            let Ok(m) = mailparse::parse_mail(message) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            leaves(&m, types, &mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_BODY_BYTES: usize = 1 << 20;

    const MULTI: &[u8] = b"Subject: x\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\nprologue\r\n--b\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        caf=C3=A9 menu\r\n--b\r\nContent-Type: application/pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";

    #[test]
    fn transforms() {
        let text = texts(MULTI, &Transform::text(), MAX_BODY_BYTES);
        assert_eq!(text.len(), 1);
        assert!(text[0].contains("café menu"));
        let pdf = texts(
            MULTI,
            &Transform::Content(vec!["application/pdf".into()]),
            MAX_BODY_BYTES,
        );
        assert_eq!(pdf, vec!["%PDF-".to_string()]);
        assert_eq!(
            texts(MULTI, &Transform::Content(vec!["".into()]), MAX_BODY_BYTES).len(),
            2
        );
        let raw = texts(MULTI, &Transform::Raw, MAX_BODY_BYTES);
        assert!(raw[0].starts_with("prologue") && raw[0].contains("caf=C3=A9"));
        assert!(texts(MULTI, &Transform::Raw, 20).is_empty());
    }
}
