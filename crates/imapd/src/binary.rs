//! RFC 3516 BINARY: a part's content with its Content-Transfer-Encoding undone, through
//! mailparse's base64 and quoted-printable decoders (the one decoder in the workspace);
//! and, for a message APPENDed as a literal8, its binary parts re-encoded in base64 so
//! that what is stored can always be sent in a plain literal.

use base64::Engine;
use ferrymail_imap_proto::session::Failure;
use mailparse::body::Body;

use crate::mime::{self, Kind, Part};

/// Length of the base64 lines written (RFC 2045 §6.8 allows at most 76).
const BASE64_LINE: usize = 76;

/// The content-transfer-encoding of a part, lower-cased; None when it has none (7bit).
fn transfer_encoding(msg: &[u8], part: &Part) -> Option<String> {
    let hs = mime::headers(msg.get(part.header.clone()).unwrap_or_default());
    mime::header_value(&hs, "Content-Transfer-Encoding")
        .map(|h| h.get_value().trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
}

/// What `BINARY[parts]` returns: the decoded content of the part (the whole message,
/// undecoded, for no part numbers), or None for a part the message does not have.
/// [`Failure::UnknownCte`] for an encoding that cannot be undone, or data that is not
/// valid in the encoding it claims.
pub fn decoded(msg: &[u8], root: &Part, parts: &[u32]) -> Result<Option<Vec<u8>>, Failure> {
    if parts.is_empty() {
        return Ok(Some(msg.to_vec()));
    }
    let Some(part) = mime::numbered_part(root, parts) else {
        return Ok(None);
    };
    let body = msg.get(part.body.clone()).unwrap_or_default();
    let cte = transfer_encoding(msg, part);
    let ctype = mailparse::ParsedContentType::default();
    let decoded = match Body::new(body, &ctype, &cte) {
        Body::Base64(b) | Body::QuotedPrintable(b) => b.get_decoded().ok(),
        Body::SevenBit(_) | Body::EightBit(_) | Body::Binary(_)
            if matches!(cte.as_deref(), None | Some("7bit" | "8bit" | "binary")) =>
        {
            Some(body.to_vec())
        }
        // mailparse reads an unknown encoding as 7bit; BINARY must not.
        _ => None,
    };
    decoded.map(Some).ok_or(Failure::UnknownCte)
}

/// The leaf parts that must not be stored as they are: content holding a NUL, or
/// declared `binary`.
fn binary_leaves<'a>(msg: &[u8], part: &'a Part, out: &mut Vec<&'a Part>) {
    match &part.kind {
        Kind::Multipart(children) => children.iter().for_each(|c| binary_leaves(msg, c, out)),
        Kind::Message(inner) => binary_leaves(msg, inner, out),
        Kind::Single => {
            let body = msg.get(part.body.clone()).unwrap_or_default();
            if memchr::memchr(0, body).is_some()
                || transfer_encoding(msg, part).as_deref() == Some("binary")
            {
                out.push(part);
            }
        }
    }
}

/// The message with each part that holds a NUL (or says it is `binary`) re-encoded as
/// base64, its Content-Transfer-Encoding changed to match; None when no part needs it.
/// Its BINARY form, decoded, is the content as it was sent. Applied to literal8 messages
/// that hold a NUL (a literal could not carry them back).
pub fn encode_binary_parts(msg: &[u8]) -> Option<Vec<u8>> {
    let root = mime::parse(msg);
    let mut leaves = Vec::new();
    binary_leaves(msg, &root, &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(msg.len() / 3 * 4 + msg.len() / 50);
    let mut pos = 0;
    for part in leaves {
        out.extend_from_slice(msg.get(pos..part.header.start).unwrap_or_default());
        let header = msg.get(part.header.clone()).unwrap_or_default();
        let mut kept = mime::filter_headers(header, &["Content-Transfer-Encoding".into()], true);
        // filter_headers ends the kept fields with the blank line; the new field goes
        // before it.
        if kept.ends_with(b"\r\n") {
            kept.truncate(kept.len() - 2);
        }
        out.extend_from_slice(&kept);
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = b64.encode(msg.get(part.body.clone()).unwrap_or_default());
        for line in encoded.as_bytes().chunks(BASE64_LINE) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        pos = part.body.end;
    }
    out.extend_from_slice(msg.get(pos..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod tests;
