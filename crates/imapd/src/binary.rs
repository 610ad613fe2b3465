//! RFC 3516 BINARY: a part's content with its Content-Transfer-Encoding undone, through
//! mailparse's base64 and quoted-printable decoders (the one decoder in the workspace).

use ferrymail_imap_proto::session::Failure;
use mailparse::body::Body;

use crate::mime::{self, Part};

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

#[cfg(test)]
mod tests;
