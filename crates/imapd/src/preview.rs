//! PREVIEW (RFC 8970): the first words of a message's text, as a mail client shows under the
//! subject — from the first text/plain part that is not an attachment (else the first
//! text/html one, tags dropped), transfer encoding and charset decoded, whitespace
//! collapsed, at most [`MAX_CHARS`] characters.

use mailparse::{DispositionType, ParsedMail};

/// RFC 8970 allows up to 256; Dovecot gives 200.
pub const MAX_CHARS: usize = 200;
/// How deep the MIME tree is searched for a text part.
const MAX_DEPTH: usize = 8;

/// The preview of a message, None if it has no text to show.
pub fn preview(msg: &[u8]) -> Option<String> {
    let parsed = mailparse::parse_mail(msg).ok()?;
    let (text, html) = find_text(&parsed, 0);
    let text = match (text, html) {
        (Some(t), _) => t,
        (None, Some(h)) => strip_tags(&h),
        (None, None) => return None,
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return None;
    }
    Some(collapsed.chars().take(MAX_CHARS).collect())
}

/// The first text/plain and the first text/html body not sent as an attachment.
fn find_text(p: &ParsedMail<'_>, depth: usize) -> (Option<String>, Option<String>) {
    if depth > MAX_DEPTH || p.get_content_disposition().disposition == DispositionType::Attachment {
        return (None, None);
    }
    let mime = p.ctype.mimetype.to_ascii_lowercase();
    if mime == "text/plain" {
        return (p.get_body().ok(), None);
    }
    if mime == "text/html" {
        return (None, p.get_body().ok());
    }
    let mut html = None;
    if mime.starts_with("multipart/") {
        for sub in &p.subparts {
            let (t, h) = find_text(sub, depth + 1);
            if t.is_some() {
                return (t, None);
            }
            html = html.or(h);
        }
    }
    (None, html)
}

/// Text of an HTML body: tags, and the contents of `<style>` and `<script>`, removed;
/// the common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let lower = after.get(..8).unwrap_or(after).to_ascii_lowercase();
        let skip_to = if lower.starts_with("<style") {
            after.to_ascii_lowercase().find("</style>").map(|i| i + 8)
        } else if lower.starts_with("<script") {
            after.to_ascii_lowercase().find("</script>").map(|i| i + 9)
        } else {
            after.find('>').map(|i| i + 1)
        };
        match skip_to {
            Some(n) => {
                out.push(' ');
                rest = &after[n..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_decoded_and_collapsed() {
        let msg = b"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe  aus\r\n\r\nK=F6ln.\r\n";
        assert_eq!(preview(msg).as_deref(), Some("Grüße aus Köln."));
    }

    #[test]
    fn first_text_part_not_attachment_else_html() {
        let msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello &amp; <b>welcome</b></p></html>\r\n--c--\r\n--b--\r\n";
        assert_eq!(preview(msg).as_deref(), Some("Hello & welcome"));
        let long = format!(
            "Content-Type: text/plain\r\n\r\n{}\r\n",
            "word ".repeat(100)
        );
        assert_eq!(preview(long.as_bytes()).unwrap().chars().count(), MAX_CHARS);
        assert_eq!(preview(b"Subject: empty\r\n\r\n   \r\n"), None);
    }
}
