//! The command grammar (RFC 3501 §9 plus the extensions announced): the token layer here,
//! one module per command family below it.
//!
//! Framing (lines and literals, the size limits, `+` continuations) is done first by
//! [`crate::framing::CommandCollector`]; the collected bytes (literals inline, as
//! `{N}\r\n<bytes>`) are parsed here in one go. Syntax errors carry the tag when it could be
//! read, so the session can answer `tag BAD`.
//!
//! Hand-written rather than imap-codec: the literal handling lives in our collector (where
//! the size limits and the continuation requests are decided), and a grammar of a few hundred
//! lines per family is easy to audit and fuzz.

mod append;
mod binary;
mod commands;
mod condstore;
mod context;
mod create;
mod esearch;
mod fetch;
mod list;
mod metadata;
mod search;
mod sort;
#[cfg(test)]
mod tests;
pub mod url;

pub use append::{
    append_in_progress, append_in_progress_with, next_append_message, AppendProgress,
};

use crate::command::{AppendHead, Command};
use crate::names::NameEncoding;
use crate::types::*;

/// Longest tag accepted.
const MAX_TAG: usize = 64;
/// Depth limit for nested SEARCH keys (parentheses, NOT, OR) so hostile input cannot
/// exhaust the stack.
const MAX_SEARCH_DEPTH: usize = 32;

/// Why a command did not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not IMAP: answered BAD.
    #[default]
    Syntax,
    /// SEARCH CHARSET we do not know: answered NO [BADCHARSET] (RFC 3501 §6.4.4).
    BadCharset,
    /// Well-formed, but a mailbox name that is not valid modified UTF-7: answered NO, as
    /// for any name the store cannot have.
    InvalidMailboxName,
}

/// A command that did not parse, with the tag when one could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
    pub kind: ErrorKind,
}

/// Parses one complete command (without its final CRLF; literals inline).
pub fn parse_command(input: &[u8]) -> Result<(String, Command), ParseError> {
    parse_command_with(input, NameEncoding::ModifiedUtf7)
}

/// [`parse_command`] with mailbox names in the encoding the session uses.
pub fn parse_command_with(
    input: &[u8],
    names: NameEncoding,
) -> Result<(String, Command), ParseError> {
    let mut p = Parser::new(input);
    p.names = names;
    let tag = match p.tag() {
        Ok(t) => t,
        Err(message) => {
            return Err(ParseError {
                tag: None,
                message,
                kind: ErrorKind::Syntax,
            })
        }
    };
    let result = (|| {
        p.sp()?;
        let cmd = p.command()?;
        if p.pos != p.input.len() {
            return Err("unexpected characters after the command".to_owned());
        }
        Ok(cmd)
    })();
    result
        .map(|c| (tag.clone(), c))
        .map_err(|message| ParseError {
            tag: Some(tag),
            message,
            kind: p.kind,
        })
}

/// [`append_in_progress`] at the first message's literal (`tag APPEND mailbox [flags]
/// [date] {N}`): the tag and that message's head.
pub fn append_before_literal(collected: &[u8]) -> Option<(String, AppendHead)> {
    append_in_progress(collected)
        .filter(|p| p.done.is_empty())
        .map(|p| (p.tag, p.next))
}

/// Reads the tag of a line that may not parse, for `BAD` replies.
pub fn peek_tag(input: &[u8]) -> Option<String> {
    Parser::new(input).tag().ok()
}

type PResult<T> = Result<T, String>;

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// What kind of error an `Err` on the way out is (set where it is not a syntax error).
    kind: ErrorKind,
    names: NameEncoding,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Parser<'a> {
        Parser {
            input,
            pos: 0,
            kind: ErrorKind::Syntax,
            names: NameEncoding::ModifiedUtf7,
        }
    }
}

/// ATOM-CHAR of RFC 3501.
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}'", char::from(b)))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    /// Case-insensitive keyword match that does not consume on failure.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        if rest.len() >= kw.len()
            && rest
                .get(..kw.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(kw.as_bytes()))
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(|b| is_astring_char(b) && b != b'+');
        if t.is_empty() || t.len() > MAX_TAG {
            return Err("missing or invalid tag".to_owned());
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err("expected an atom".to_owned());
        }
        Ok(a)
    }

    fn atom_upper(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "expected a number".to_owned())
    }

    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("expected a non-zero number".to_owned()),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err("unterminated quoted string".to_owned())
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string".to_owned()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        if !self.eat_keyword("\r\n") {
            return Err("literal must be followed by CRLF".to_owned());
        }
        let data = self
            .input
            .get(self.pos..self.pos + n)
            .ok_or_else(|| "literal is shorter than announced".to_owned())?;
        self.pos += n;
        Ok(data.to_vec())
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a string".to_owned()),
        }
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("expected an atom or string".to_owned())
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn nstring_or_nil(&mut self) -> PResult<Option<String>> {
        if self.eat_keyword("NIL") {
            return Ok(None);
        }
        let s = self.string()?;
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }

    /// A mailbox name, decoded to UTF-8 from the session's wire encoding.
    fn mailbox(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        self.names.decode(&raw).map_err(|e| {
            self.kind = ErrorKind::InvalidMailboxName;
            e.to_string()
        })
    }

    fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"') | Some(b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err("expected a mailbox pattern".to_owned());
                }
                a.to_vec()
            }
        };
        // A pattern that is not valid modified UTF-7 matches no name; it is not an error.
        Ok(self
            .names
            .decode(&raw)
            .unwrap_or_else(|_| String::from_utf8_lossy(&raw).into_owned()))
    }

    fn seq_number(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    fn seq_set(&mut self) -> PResult<SeqSet> {
        if self.eat(b'$') {
            return Ok(SeqSet::saved());
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if !self.eat(b',') {
                return Ok(SeqSet(ranges));
            }
        }
    }

    fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Err("\\* is not a flag".to_owned());
            }
            let a = self.atom_upper()?;
            return Ok(match a.as_str() {
                "ANSWERED" => Flag::Answered,
                "FLAGGED" => Flag::Flagged,
                "DELETED" => Flag::Deleted,
                "SEEN" => Flag::Seen,
                "DRAFT" => Flag::Draft,
                "RECENT" => Flag::Recent,
                _ => Flag::Extension(a),
            });
        }
        let a = self.atom()?;
        Ok(Flag::Keyword(String::from_utf8_lossy(a).into_owned()))
    }

    fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }
}
