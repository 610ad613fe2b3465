//! APPEND (RFC 3501 §6.3.11) with MULTIAPPEND's several messages (RFC 3502), BINARY's
//! literal8 messages (RFC 3516) and CATENATE's message built from parts (RFC 4469).

use super::{PResult, Parser};
use crate::command::{AppendData, AppendHead, AppendMessage, CatenatePart, Command};
use crate::framing::literal_marker;
use crate::names::NameEncoding;
use crate::types::{Flag, Timestamp};

/// An APPEND collected up to the literal of one of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendProgress {
    pub tag: String,
    /// The messages before it, complete (literals only: no CATENATE).
    pub done: Vec<(AppendHead, Vec<u8>)>,
    /// The message whose literal comes next.
    pub next: AppendHead,
}

/// Recognises a command collected up to a literal marker (plus the CRLF the collector
/// adds) as an APPEND whose next literal is a message, so the connection can stream it to
/// disk instead of collecting it. None for anything else (a CATENATE included), which is
/// then collected and parsed as usual.
pub fn append_in_progress(collected: &[u8]) -> Option<AppendProgress> {
    append_in_progress_with(collected, NameEncoding::ModifiedUtf7)
}

/// [`append_in_progress`] with the mailbox name in the encoding the session uses.
pub fn append_in_progress_with(collected: &[u8], names: NameEncoding) -> Option<AppendProgress> {
    let mut p = Parser::new(collected);
    p.names = names;
    let tag = p.tag().ok()?;
    p.sp().ok()?;
    if p.atom_upper().ok()? != "APPEND" {
        return None;
    }
    let mut next = p.append_head().ok()?;
    let mut done = Vec::new();
    loop {
        if p.at_final_literal() {
            return Some(AppendProgress { tag, done, next });
        }
        let data = p.message_literal(next.binary).ok()?;
        done.push((next.clone(), data));
        p.sp().ok()?;
        let (flags, date) = p.append_opts().ok()?;
        next.flags = flags;
        next.date = date;
        next.binary = p.eat(b'~');
    }
}

/// `{N}` or `{N+}` and nothing else.
fn only_literal_marker(rest: &[u8]) -> Option<(u64, bool)> {
    if rest.first() != Some(&b'{') || rest.iter().skip(1).any(|&b| b == b'{') {
        return None;
    }
    literal_marker(rest)
}

/// What may follow a message's literal in an APPEND when the command goes on: the next
/// message's head up to its literal marker, which ends `line`. None for anything else.
pub fn next_append_message(line: &[u8], mailbox: &str) -> Option<(AppendHead, u64, bool)> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let mut p = Parser::new(line);
    p.sp().ok()?;
    let (flags, date) = p.append_opts().ok()?;
    let binary = p.eat(b'~');
    let (size, sync) = only_literal_marker(p.rest())?;
    let head = AppendHead {
        mailbox: mailbox.to_owned(),
        flags,
        date,
        binary,
    };
    Some((head, size, sync))
}

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

    /// At a literal marker that is the last thing collected (`{N}` and the CRLF).
    fn at_final_literal(&self) -> bool {
        self.rest()
            .strip_suffix(b"\r\n")
            .and_then(only_literal_marker)
            .is_some()
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
    pub(super) fn message_literal(&mut self, binary: bool) -> PResult<Vec<u8>> {
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
