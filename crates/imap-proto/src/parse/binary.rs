//! RFC 3516 FETCH attributes: `BINARY[part]<partial>`, `BINARY.PEEK[...]` and
//! `BINARY.SIZE[part]`, whose sections are part numbers only.

use super::{PResult, Parser};
use crate::types::FetchAtt;

impl Parser<'_> {
    /// The attribute after its (upper-cased) name.
    pub(super) fn binary_att(&mut self, name: &[u8]) -> PResult<FetchAtt> {
        self.expect(b'[')?;
        let mut parts = Vec::new();
        if !self.eat(b']') {
            loop {
                parts.push(self.nz_number()?);
                if self.eat(b']') {
                    break;
                }
                self.expect(b'.')?;
            }
        }
        if name == b"BINARY.SIZE" {
            return Ok(FetchAtt::BinarySize(parts));
        }
        Ok(FetchAtt::Binary {
            peek: name == b"BINARY.PEEK",
            parts,
            partial: self.partial()?,
        })
    }
}

#[cfg(test)]
mod tests;
