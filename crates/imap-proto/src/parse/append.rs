//! APPEND (RFC 3501 §6.3.11) with MULTIAPPEND's several messages (RFC 3502), BINARY's
//! literal8 messages (RFC 3516) and CATENATE's message built from parts (RFC 4469).

use super::{PResult, Parser};
use crate::command::{AppendData, AppendHead, AppendMessage, CatenatePart, Command};
use crate::types::{Flag, Timestamp};

impl Parser<'_> {
    /// What comes between `APPEND` and the first message's literal (its `~` included).
    pub(super) fn append_head(&mut self) -> PResult<AppendHead> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let (flags, date) = self.append_opts()?;
        Ok(AppendHead {
            mailbox,
            flags,
            date,
            binary: self.eat(b'~'),
        })
    }

    /// `[flag-list SP] [date-time SP]` before a message.
    pub(super) fn append_opts(&mut self) -> PResult<(Vec<Flag>, Option<Timestamp>)> {
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            let raw = self.quoted()?;
            date = Some(
                crate::date::parse_date_time(&raw).ok_or_else(|| "invalid date-time".to_owned())?,
            );
            self.sp()?;
        }
        Ok((flags, date))
    }

    pub(super) fn append(&mut self) -> PResult<Command> {
        let head = self.append_head()?;
        let mut messages = vec![self.append_message(head.flags, head.date, head.binary)?];
        while self.eat(b' ') {
            let (flags, date) = self.append_opts()?;
            let binary = self.eat(b'~');
            messages.push(self.append_message(flags, date, binary)?);
        }
        Ok(Command::Append {
            mailbox: head.mailbox,
            messages,
        })
    }

    /// A message's literal (after its `~`, if `binary`) or its CATENATE list.
    fn append_message(
        &mut self,
        flags: Vec<Flag>,
        date: Option<Timestamp>,
        binary: bool,
    ) -> PResult<AppendMessage> {
        if !binary && self.eat_keyword("CATENATE") {
            self.sp()?;
            let (parts, binary) = self.catenate_parts()?;
            return Ok(AppendMessage {
                flags,
                date,
                binary,
                data: AppendData::Catenate(parts),
            });
        }
        Ok(AppendMessage {
            flags,
            date,
            binary,
            data: AppendData::Literal(self.message_literal(binary)?),
        })
    }

    /// A literal, or after a `~` a literal8; only a literal8 may hold NUL (RFC 3516).
    fn message_literal(&mut self, binary: bool) -> PResult<Vec<u8>> {
        let data = self.literal()?;
        if !binary && data.contains(&0) {
            return Err("NUL in a literal (only a literal8 may hold one)".to_owned());
        }
        Ok(data)
    }

    /// `(TEXT literal URL url ...)`; true when a TEXT part was a literal8.
    fn catenate_parts(&mut self) -> PResult<(Vec<CatenatePart>, bool)> {
        self.expect(b'(')?;
        let mut parts = Vec::new();
        let mut any_binary = false;
        loop {
            if self.eat_keyword("TEXT ") {
                let binary = self.eat(b'~');
                any_binary |= binary;
                parts.push(CatenatePart::Text(self.message_literal(binary)?));
            } else if self.eat_keyword("URL ") {
                let url = self.astring()?;
                let url = String::from_utf8(url).map_err(|_| "URL is not UTF-8".to_owned())?;
                parts.push(CatenatePart::Url(url));
            } else {
                return Err("expected TEXT or URL".to_owned());
            }
            if self.eat(b')') {
                return Ok((parts, any_binary));
            }
            self.sp()?;
        }
    }
}

#[cfg(test)]
mod tests;
