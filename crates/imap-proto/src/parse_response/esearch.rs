//! The ESEARCH response read back (RFC 4731, RFC 5267's PARTIAL).

use super::{invalid, utf8, PResult, Parser};
use crate::response::{Esearch, EsearchItem};

impl Parser<'_> {
    /// What follows the word `ESEARCH`.
    pub(super) fn esearch(&mut self) -> PResult<Esearch> {
        let mut e = Esearch {
            tag: None,
            uid: false,
            items: Vec::new(),
        };
        if self.at_crlf()? {
            return Ok(e);
        }
        self.sp()?;
        if self.eat(b'(')? {
            if !self.keyword()?.eq_ignore_ascii_case("TAG") {
                return invalid("expected TAG");
            }
            self.sp()?;
            e.tag = Some(utf8(self.string()?)?);
            self.expect(b')')?;
            if self.at_crlf()? {
                return Ok(e);
            }
            self.sp()?;
        }
        loop {
            let word = self.keyword()?.to_ascii_uppercase();
            if word == "UID" && !e.uid && e.items.is_empty() {
                e.uid = true;
            } else {
                self.sp()?;
                e.items.push(match word.as_str() {
                    "MIN" => EsearchItem::Min(self.number()?),
                    "MAX" => EsearchItem::Max(self.number()?),
                    "COUNT" => EsearchItem::Count(self.number()?),
                    "MODSEQ" => EsearchItem::ModSeq(self.number64()?),
                    "ALL" => EsearchItem::All(self.uid_set()?),
                    "PARTIAL" => {
                        self.expect(b'(')?;
                        let lo = self.number()?;
                        self.expect(b':')?;
                        let hi = self.number()?;
                        self.sp()?;
                        let hits = if self.is_nil() {
                            self.pos += 3;
                            Vec::new()
                        } else {
                            self.uid_set()?
                        };
                        self.expect(b')')?;
                        EsearchItem::Partial {
                            range: (lo, hi),
                            hits,
                        }
                    }
                    other => return invalid(format!("unknown ESEARCH item {other}")),
                });
            }
            if self.at_crlf()? {
                return Ok(e);
            }
            self.sp()?;
        }
    }
}
