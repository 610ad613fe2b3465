//! The ESEARCH response read back (RFC 4731; RFC 5267's PARTIAL, ADDTO and REMOVEFROM;
//! RFC 9394's ranges from the end).

use super::{invalid, utf8, PResult, Parser};
use crate::response::{Esearch, EsearchItem};
use crate::types::PartialRange;

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
                        let range = self.partial_range()?;
                        self.sp()?;
                        let hits = if self.is_nil() {
                            self.pos += 3;
                            Vec::new()
                        } else {
                            self.uid_set()?
                        };
                        self.expect(b')')?;
                        EsearchItem::Partial { range, hits }
                    }
                    "ADDTO" => EsearchItem::AddTo(self.context_updates()?),
                    "REMOVEFROM" => EsearchItem::RemoveFrom(self.context_updates()?),
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

impl Parser<'_> {
    /// `a:b` or `-a:-b`, as the encoder writes it.
    fn partial_range(&mut self) -> PResult<PartialRange> {
        let from_end = self.eat(b'-')?;
        let first = self.number()?;
        self.expect(b':')?;
        if from_end {
            self.expect(b'-')?;
        }
        let last = self.number()?;
        Ok(PartialRange {
            from_end,
            first,
            last,
        })
    }

    /// `(position set position set ...)` of ADDTO and REMOVEFROM.
    fn context_updates(&mut self) -> PResult<Vec<(u32, Vec<u32>)>> {
        self.expect(b'(')?;
        let mut pairs = Vec::new();
        loop {
            let pos = self.number()?;
            self.sp()?;
            pairs.push((pos, self.uid_set()?));
            if self.eat(b')')? {
                return Ok(pairs);
            }
            self.sp()?;
        }
    }
}
