//! RFC 3516 FETCH items: `BINARY[part]<origin>` and `BINARY.SIZE[part]`, and the literal8
//! (`~{n}`) that carries decoded data holding a NUL, which a plain literal may not.

use super::{literal, push_num};
use crate::types::Section;

/// `[1.2]`: a BINARY section is part numbers only.
fn parts_section(out: &mut Vec<u8>, parts: &[u32]) {
    let s = Section {
        parts: parts.to_vec(),
        text: None,
    };
    super::section(out, &s);
}

/// Appends `bytes` as a literal8 `~{n}\r\n<bytes>` when they hold a NUL, else as a literal.
pub fn literal8(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.contains(&0) {
        out.push(b'~');
    }
    literal(out, bytes);
}

pub(super) fn item(out: &mut Vec<u8>, parts: &[u32], origin: Option<u32>, data: Option<&[u8]>) {
    out.extend_from_slice(b"BINARY");
    parts_section(out, parts);
    if let Some(o) = origin {
        out.push(b'<');
        push_num(out, o);
        out.push(b'>');
    }
    out.push(b' ');
    match data {
        Some(d) => literal8(out, d),
        None => out.extend_from_slice(b"NIL"),
    }
}

pub(super) fn size(out: &mut Vec<u8>, parts: &[u32], size: u64) {
    out.extend_from_slice(b"BINARY.SIZE");
    parts_section(out, parts);
    out.push(b' ');
    push_num(out, size);
}
