//! RFC 3516 FETCH items in responses: `BINARY[part]<origin>` with its data (a literal, a
//! literal8 or NIL) and `BINARY.SIZE[part]`.

use super::{invalid, PResult, Parser};
use crate::response::FetchItem;

impl Parser<'_> {
    /// The item after its name (`BINARY` or `BINARY.SIZE`).
    pub(super) fn binary_item(&mut self, name: &str) -> PResult<FetchItem> {
        let section = self.section()?;
        if section.text.is_some() {
            return invalid("a BINARY section is part numbers only");
        }
        let parts = section.parts;
        match name {
            "BINARY" => {
                let origin = self.origin()?;
                self.sp()?;
                // literal8: `~` then a literal's framing.
                let data = if self.eat(b'~')? {
                    Some(self.literal()?)
                } else {
                    self.nstring()?
                };
                Ok(FetchItem::Binary {
                    parts,
                    origin,
                    data,
                })
            }
            "BINARY.SIZE" => {
                self.sp()?;
                let size = self.number64()?;
                Ok(FetchItem::BinarySize { parts, size })
            }
            other => invalid(format!("unknown FETCH item {other}")),
        }
    }
}
