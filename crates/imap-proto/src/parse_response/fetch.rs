//! FETCH data items in responses: the simple ones, `BODY[section]<origin>` with its data,
//! and ENVELOPE/BODY/BODYSTRUCTURE as balanced parenthesised text.

use super::{invalid, utf8, PResult, Parser};
use crate::date::parse_date_time;
use crate::response::{Encoded, FetchItem};
use crate::types::{Section, SectionText};

impl Parser<'_> {
    pub(super) fn fetch_item(&mut self) -> PResult<FetchItem> {
        let name = self.keyword()?;
        if name.starts_with("BINARY") {
            return self.binary_item(&name);
        }
        if name == "BODY" && self.peek()? == b'[' {
            let section = self.section()?;
            let origin = self.origin()?;
            self.sp()?;
            // The encoder writes a missing part as "" and any data as a literal.
            let data = if self.peek()? == b'"' {
                Some(self.quoted()?).filter(|d| !d.is_empty())
            } else {
                self.nstring()?
            };
            return Ok(FetchItem::BodySection {
                section,
                origin,
                data,
            });
        }
        self.sp()?;
        Ok(match name.as_str() {
            "UID" => FetchItem::Uid(self.number()?),
            "FLAGS" => FetchItem::Flags(self.paren_list(Parser::flag)?),
            "INTERNALDATE" => {
                let raw = self.quoted()?;
                match parse_date_time(&raw) {
                    Some(ts) => FetchItem::InternalDate(ts),
                    None => return invalid("invalid INTERNALDATE"),
                }
            }
            "SAVEDATE" => match self.nstring()? {
                None => FetchItem::SaveDate(None),
                Some(raw) => match parse_date_time(&raw) {
                    Some(ts) => FetchItem::SaveDate(Some(ts)),
                    None => return invalid("invalid SAVEDATE"),
                },
            },
            "RFC822.SIZE" => FetchItem::Rfc822Size(self.number64()?),
            "MODSEQ" => {
                self.expect(b'(')?;
                let n = self.number64()?;
                self.expect(b')')?;
                FetchItem::ModSeq(n)
            }
            "ENVELOPE" => FetchItem::Envelope(self.balanced()?),
            "BODY" => FetchItem::Body(self.balanced()?),
            "BODYSTRUCTURE" => FetchItem::BodyStructure(self.balanced()?),
            "PREVIEW" => FetchItem::Preview(match self.nstring()? {
                Some(b) => Some(utf8(b)?),
                None => None,
            }),
            "RFC822" => FetchItem::Rfc822(self.nstring()?.unwrap_or_default()),
            "RFC822.HEADER" => FetchItem::Rfc822Header(self.nstring()?.unwrap_or_default()),
            "RFC822.TEXT" => FetchItem::Rfc822Text(self.nstring()?.unwrap_or_default()),
            other => return invalid(format!("unknown FETCH item {other}")),
        })
    }

    /// `<origin>` after a section, if there is one.
    pub(super) fn origin(&mut self) -> PResult<Option<u32>> {
        if !self.eat(b'<')? {
            return Ok(None);
        }
        let o = self.number()?;
        self.expect(b'>')?;
        Ok(Some(o))
    }

    /// `[1.2.HEADER.FIELDS (FROM TO)]`. Header field names are upper-cased, as the encoder
    /// writes them.
    pub(super) fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let mut section = Section::default();
        if self.eat(b']')? {
            return Ok(section);
        }
        while self.peek()?.is_ascii_digit() {
            let n = self.number()?;
            if n == 0 {
                return invalid("part numbers start at 1");
            }
            section.parts.push(n);
            if !self.eat(b'.')? {
                self.expect(b']')?;
                return Ok(section);
            }
        }
        let text = match self.keyword()?.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" => SectionText::Mime,
            kw @ ("HEADER.FIELDS" | "HEADER.FIELDS.NOT") => {
                self.sp()?;
                let fields = self.paren_list(|p| Ok(utf8(p.astring()?)?.to_ascii_uppercase()))?;
                SectionText::HeaderFields {
                    not: kw == "HEADER.FIELDS.NOT",
                    fields,
                }
            }
            other => return invalid(format!("unknown section text {other}")),
        };
        section.text = Some(text);
        self.expect(b']')?;
        Ok(section)
    }

    /// A parenthesised value taken as it is written: balanced parentheses, with quoted
    /// strings and literals skipped as units and no line break outside them.
    fn balanced(&mut self) -> PResult<Encoded> {
        let start = self.pos;
        self.expect(b'(')?;
        let mut depth = 1usize;
        while depth > 0 {
            match self.peek()? {
                b'(' => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    depth -= 1;
                    self.pos += 1;
                }
                b'"' => {
                    self.quoted()?;
                }
                b'{' => {
                    self.literal()?;
                }
                b'\r' | b'\n' => return invalid("line break inside a parenthesised value"),
                _ => self.pos += 1,
            }
        }
        let bytes = self.input.get(start..self.pos).unwrap_or_default();
        Ok(Encoded::from_protocol(bytes.to_vec()))
    }
}
