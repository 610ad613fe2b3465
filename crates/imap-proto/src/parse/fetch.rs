//! FETCH: the attributes, macros and body section specifiers (RFC 3501 §6.4.5).

use super::{PResult, Parser};
use crate::command::*;
use crate::types::*;

impl Parser<'_> {
    pub(super) fn fetch(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mut atts = Vec::new();
        if self.eat(b'(') {
            loop {
                atts.push(self.fetch_att()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else if self.eat_keyword("ALL") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
            ];
        } else if self.eat_keyword("FULL") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
                FetchAtt::Body,
            ];
        } else if self.eat_keyword("FAST") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
            ];
        } else {
            atts.push(self.fetch_att()?);
        }
        self.fetch_modifiers(uid, set, atts)
    }

    fn fetch_att(&mut self) -> PResult<FetchAtt> {
        let name = self
            .take_while(|b| b.is_ascii_alphanumeric() || b == b'.')
            .to_ascii_uppercase();
        Ok(match name.as_slice() {
            b"ENVELOPE" => FetchAtt::Envelope,
            b"FLAGS" => FetchAtt::Flags,
            b"INTERNALDATE" => FetchAtt::InternalDate,
            b"RFC822" => FetchAtt::Rfc822,
            b"RFC822.HEADER" => FetchAtt::Rfc822Header,
            b"RFC822.SIZE" => FetchAtt::Rfc822Size,
            b"RFC822.TEXT" => FetchAtt::Rfc822Text,
            b"BODYSTRUCTURE" => FetchAtt::BodyStructure,
            b"UID" => FetchAtt::Uid,
            b"MODSEQ" => FetchAtt::ModSeq,
            b"SAVEDATE" => FetchAtt::SaveDate,
            b"PREVIEW" => {
                // RFC 8970's only modifier; a preview is cheap enough to always give.
                self.eat_keyword(" (LAZY)");
                FetchAtt::Preview
            }
            b"BINARY" | b"BINARY.PEEK" | b"BINARY.SIZE" => self.binary_att(&name)?,
            b"BODY" | b"BODY.PEEK" => {
                if self.peek() != Some(b'[') {
                    if name == b"BODY" {
                        return Ok(FetchAtt::Body);
                    }
                    return Err("BODY.PEEK needs a section".to_owned());
                }
                let section = self.section()?;
                let partial = self.partial()?;
                FetchAtt::BodySection {
                    peek: name == b"BODY.PEEK",
                    section,
                    partial,
                }
            }
            _ => {
                return Err(format!(
                    "unknown fetch item {}",
                    String::from_utf8_lossy(&name)
                ))
            }
        })
    }

    /// `<origin.length>` after a section, if there is one.
    pub(super) fn partial(&mut self) -> PResult<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let origin = self.number()?;
        self.expect(b'.')?;
        let len = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some((origin, len)))
    }

    pub(super) fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            section.parts.push(self.nz_number()?);
            if !self.eat(b'.') {
                break;
            }
        }
        let needs_text =
            section.parts.is_empty() || self.input.get(self.pos.wrapping_sub(1)) == Some(&b'.');
        if needs_text {
            let text = if self.eat_keyword("HEADER.FIELDS.NOT") {
                self.header_list(true)?
            } else if self.eat_keyword("HEADER.FIELDS") {
                self.header_list(false)?
            } else if self.eat_keyword("HEADER") {
                SectionText::Header
            } else if self.eat_keyword("TEXT") {
                SectionText::Text
            } else if !section.parts.is_empty() && self.eat_keyword("MIME") {
                SectionText::Mime
            } else {
                return Err("invalid section".to_owned());
            };
            section.text = Some(text);
        }
        self.expect(b']')?;
        Ok(section)
    }

    fn header_list(&mut self, not: bool) -> PResult<SectionText> {
        self.sp()?;
        self.expect(b'(')?;
        let mut fields = Vec::new();
        loop {
            let f = self.astring()?;
            fields.push(String::from_utf8_lossy(&f).into_owned());
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        Ok(SectionText::HeaderFields { not, fields })
    }
}
