//! The response parser: server bytes back into [`Response`] values, for tests (the session's
//! output is checked as values, not strings) and for clients reading a stream.
//!
//! [`parse_response`] reads one response from the start of a buffer and says how many bytes
//! it used, or that more bytes are needed ([`ResponseError::Incomplete`]) — which a client
//! tells apart from a response that can never become valid ([`ResponseError::Invalid`]).
//! ENVELOPE, BODY and BODYSTRUCTURE are taken as their balanced parenthesised text and kept
//! as [`Encoded`] bytes, as the session passes them through. Nothing here recurses on the
//! input, so no input can exhaust the stack.

mod binary;
mod data;
mod esearch;
mod fetch;
#[cfg(test)]
mod tests;
mod thread;

use crate::names::NameEncoding;
use crate::response::{Code, Kind, Response, Status};
use crate::types::Flag;
use crate::utf7;

/// Why no response could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The bytes so far are the start of a response: read more and try again.
    #[error("incomplete response")]
    Incomplete,
    /// The bytes are not a response this crate knows.
    #[error("invalid response: {0}")]
    Invalid(String),
}

type PResult<T> = Result<T, ResponseError>;

/// Most numbers a UIDPLUS set in one response code may expand to, so that `1:4294967295`
/// cannot make the parser allocate gigabytes.
const MAX_SET_EXPANSION: usize = 100_000;

/// Reads one response from the start of `input`: the response and the bytes it used (its
/// CRLF included).
pub fn parse_response(input: &[u8]) -> Result<(Response, usize), ResponseError> {
    let mut p = Parser { input, pos: 0 };
    let r = p.response()?;
    Ok((r, p.pos))
}

/// Reads every response in `input`, which must end where a response does.
pub fn parse_all(input: &[u8]) -> Result<Vec<Response>, ResponseError> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (r, n) = parse_response(rest)?;
        out.push(r);
        rest = rest.get(n..).unwrap_or_default();
    }
    Ok(out)
}

fn invalid<T>(what: impl Into<String>) -> PResult<T> {
    Err(ResponseError::Invalid(what.into()))
}

pub(crate) struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The next byte; running out of input means the response is not complete yet.
    fn peek(&self) -> PResult<u8> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(ResponseError::Incomplete)
    }

    fn eat(&mut self, b: u8) -> PResult<bool> {
        if self.peek()? == b {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b)? {
            Ok(())
        } else {
            invalid(format!("expected '{}'", char::from(b)))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    fn crlf(&mut self) -> PResult<()> {
        self.expect(b'\r')?;
        self.expect(b'\n')
    }

    fn at_crlf(&self) -> PResult<bool> {
        Ok(self.peek()? == b'\r')
    }

    /// Bytes while `f` holds; the input must go on after them.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> PResult<&'a [u8]> {
        let start = self.pos;
        while f(self.peek()?) {
            self.pos += 1;
        }
        Ok(self.input.get(start..self.pos).unwrap_or_default())
    }

    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(crate::parse::is_atom_char)?;
        if a.is_empty() {
            return invalid("expected an atom");
        }
        Ok(a)
    }

    /// A string argument of a response code: an atom or a quoted string, never a literal.
    /// A code lives on its status line, and text that merely starts with `[` must not be
    /// taken for a code waiting on literal bytes that will never come. The quoted string is
    /// one the encoder would quote (7-bit, under 1024 bytes), since it writes no literal here.
    fn code_string(&mut self) -> PResult<Vec<u8>> {
        if self.peek()? != b'"' {
            return Ok(self.atom()?.to_vec());
        }
        let s = self.quoted()?;
        if s.len() >= 1024 || !s.is_ascii() {
            return invalid("response code string that needs a literal");
        }
        Ok(s)
    }

    fn atom_string(&mut self) -> PResult<String> {
        utf8(self.atom()?.to_vec())
    }

    /// A keyword (letters, digits, `.` and `-`), upper-cased.
    fn keyword(&mut self) -> PResult<String> {
        let k = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')?;
        if k.is_empty() {
            return invalid("expected a keyword");
        }
        Ok(String::from_utf8_lossy(k).to_ascii_uppercase())
    }

    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit())?;
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or_else(|| invalid("expected a number"), Ok)
    }

    fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).or_else(|_| invalid("number out of range"))
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek()? {
                        c @ (b'"' | b'\\') => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return invalid("invalid escape in quoted string"),
                    }
                }
                b'\r' | b'\n' | 0 => return invalid("unterminated quoted string"),
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}\r\n` and the n bytes after it.
    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'{')?;
        let n = usize::try_from(self.number64()?).or_else(|_| invalid("literal too large"))?;
        self.expect(b'}')?;
        self.crlf()?;
        let end = self
            .pos
            .checked_add(n)
            .map_or_else(|| invalid("literal too large"), Ok)?;
        let data = self
            .input
            .get(self.pos..end)
            .ok_or(ResponseError::Incomplete)?;
        self.pos = end;
        Ok(data.to_vec())
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => invalid("expected a string"),
        }
    }

    fn is_nil(&self) -> bool {
        self.input
            .get(self.pos..self.pos + 3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"NIL"))
    }

    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.is_nil() {
            self.pos += 3;
            return Ok(None);
        }
        self.string().map(Some)
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek()? {
            b'"' | b'{' => self.string(),
            _ => {
                let a = self.take_while(|b| crate::parse::is_atom_char(b) || b == b']')?;
                if a.is_empty() {
                    return invalid("expected an atom or string");
                }
                Ok(a.to_vec())
            }
        }
    }

    /// A mailbox name, decoded from modified UTF-7; one that is not modified UTF-7 but is
    /// UTF-8 is taken as it is, as a session that enabled IMAP4rev2 writes it.
    fn mailbox(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        utf7::decode(&raw).or_else(|_| {
            NameEncoding::Utf8
                .decode(&raw)
                .or_else(|e| invalid(e.to_string()))
        })
    }

    /// A flag or a LIST attribute: `\Name` or an atom.
    fn flag_atom(&mut self) -> PResult<String> {
        let slash = self.eat(b'\\')?;
        let rest = if slash && self.eat(b'*')? {
            "*".to_owned()
        } else {
            self.atom_string()?
        };
        Ok(if slash { format!("\\{rest}") } else { rest })
    }

    fn flag(&mut self) -> PResult<Flag> {
        let a = self.flag_atom()?;
        Ok(match a.to_ascii_uppercase().as_str() {
            "\\ANSWERED" => Flag::Answered,
            "\\FLAGGED" => Flag::Flagged,
            "\\DELETED" => Flag::Deleted,
            "\\SEEN" => Flag::Seen,
            "\\DRAFT" => Flag::Draft,
            "\\RECENT" => Flag::Recent,
            _ if a.starts_with('\\') => Flag::Extension(a[1..].to_owned()),
            _ => Flag::Keyword(a),
        })
    }

    /// `(` items separated by single spaces `)`.
    fn paren_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')')? {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')')? {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// Atoms each after a space, up to `end` (not consumed).
    fn spaced_atoms(&mut self, end: u8) -> PResult<Vec<String>> {
        let mut out = Vec::new();
        while self.peek()? != end {
            self.sp()?;
            if self.peek()? == end {
                break;
            }
            out.push(self.atom_string()?);
        }
        Ok(out)
    }

    /// The text up to the end of the line, and the CRLF.
    fn text_to_eol(&mut self) -> PResult<String> {
        let t = self.take_while(|b| b != b'\r' && b != b'\n')?;
        self.crlf()?;
        utf8(t.to_vec())
    }

    fn response(&mut self) -> PResult<Response> {
        match self.peek()? {
            b'+' => {
                self.pos += 1;
                if !self.at_crlf()? {
                    self.sp()?;
                }
                Ok(Response::Continue(self.text_to_eol()?))
            }
            b'*' => {
                self.pos += 1;
                self.sp()?;
                if self.peek()?.is_ascii_digit() {
                    let n = self.number()?;
                    self.sp()?;
                    let d = self.numbered(n)?;
                    self.crlf()?;
                    return Ok(Response::Data(d));
                }
                let word = self.keyword()?;
                if let Some(kind) = status_kind(&word) {
                    return self.status(None, kind).map(Response::Status);
                }
                let d = self.data(&word)?;
                self.crlf()?;
                Ok(Response::Data(d))
            }
            _ => {
                let tag =
                    self.take_while(|b| (crate::parse::is_atom_char(b) || b == b']') && b != b'+')?;
                if tag.is_empty() {
                    return invalid("expected a tag, '*' or '+'");
                }
                let tag = utf8(tag.to_vec())?;
                self.sp()?;
                let word = self.keyword()?;
                let Some(kind) = status_kind(&word) else {
                    return invalid("a tagged response must be a status");
                };
                self.status(Some(tag), kind).map(Response::Status)
            }
        }
    }

    /// After `OK`/`NO`/...: the optional `[code]` and the text.
    fn status(&mut self, tag: Option<String>, kind: Kind) -> PResult<Status> {
        let mut code = None;
        if !self.at_crlf()? {
            self.sp()?;
            if self.peek()? == b'[' {
                let start = self.pos;
                match self.code() {
                    Ok(c) => code = Some(c),
                    Err(ResponseError::Incomplete) => return Err(ResponseError::Incomplete),
                    // Not a code this crate knows: plain text that starts with '['.
                    Err(ResponseError::Invalid(_)) => self.pos = start,
                }
            }
        }
        let text = self.text_to_eol()?;
        Ok(Status {
            tag,
            kind,
            code,
            text,
        })
    }

    /// `[CODE args]` and the space after it (none at the end of the line).
    fn code(&mut self) -> PResult<Code> {
        self.expect(b'[')?;
        let name = self.keyword()?;
        let code = match name.as_str() {
            "ALERT" => Code::Alert,
            "PARSE" => Code::Parse,
            "READ-ONLY" => Code::ReadOnly,
            "READ-WRITE" => Code::ReadWrite,
            "TRYCREATE" => Code::TryCreate,
            "CLOSED" => Code::Closed,
            "ALREADYEXISTS" => Code::AlreadyExists,
            "AUTHENTICATIONFAILED" => Code::AuthenticationFailed,
            "AUTHORIZATIONFAILED" => Code::AuthorizationFailed,
            "CANNOT" => Code::Cannot,
            "USEATTR" => Code::UseAttr,
            "INUSE" => Code::InUse,
            "LIMIT" => Code::Limit,
            "NONEXISTENT" => Code::Nonexistent,
            "NOPERM" => Code::NoPerm,
            "METADATA" => {
                self.sp()?;
                match self.keyword()?.as_str() {
                    "TOOMANY" => Code::MetadataTooMany,
                    "LONGENTRIES" => {
                        self.sp()?;
                        Code::MetadataLongEntries(self.number64()?)
                    }
                    "MAXSIZE" => {
                        self.sp()?;
                        Code::MetadataMaxSize(self.number64()?)
                    }
                    other => return invalid(format!("unknown METADATA code {other}")),
                }
            }
            "OVERQUOTA" => Code::OverQuota,
            "PRIVACYREQUIRED" => Code::PrivacyRequired,
            "SERVERBUG" => Code::ServerBug,
            "TOOBIG" => Code::TooBig,
            "UNAVAILABLE" => Code::Unavailable,
            "COMPRESSIONACTIVE" => Code::CompressionActive,
            "NOMODSEQ" => Code::NoModSeq,
            "HIGHESTMODSEQ" => {
                self.sp()?;
                Code::HighestModSeq(self.number64()?)
            }
            "MODIFIED" => {
                self.sp()?;
                Code::Modified(self.uid_set()?)
            }
            "UNKNOWN-CTE" => Code::UnknownCte,
            "BADURL" => {
                self.sp()?;
                // RFC 4469 url-resp-text: no NUL, `]` or line break (what the encoder drops).
                let url = self.take_while(|b| !matches!(b, b']' | b'\r' | b'\n' | 0))?;
                Code::BadUrl(utf8(url.to_vec())?)
            }
            "BADCHARSET" => {
                let mut sets = Vec::new();
                if self.peek()? == b' ' {
                    self.sp()?;
                    sets = self.paren_list(|p| utf8(p.code_string()?))?;
                }
                Code::BadCharset(sets)
            }
            "CAPABILITY" => Code::Capability(self.spaced_atoms(b']')?),
            "PERMANENTFLAGS" => {
                self.sp()?;
                Code::PermanentFlags(self.paren_list(Parser::flag)?)
            }
            "UIDNEXT" | "UIDVALIDITY" | "UNSEEN" => {
                self.sp()?;
                let n = self.number()?;
                match name.as_str() {
                    "UIDNEXT" => Code::UidNext(n),
                    "UIDVALIDITY" => Code::UidValidity(n),
                    _ => Code::Unseen(n),
                }
            }
            "NOUPDATE" => {
                self.sp()?;
                Code::NoUpdate(utf8(self.code_string()?)?)
            }
            "APPENDUID" => {
                self.sp()?;
                let uidvalidity = self.number()?;
                self.sp()?;
                let uids = self.uid_set()?;
                Code::AppendUid { uidvalidity, uids }
            }
            "COPYUID" => {
                self.sp()?;
                let uidvalidity = self.number()?;
                self.sp()?;
                let source = self.uid_set()?;
                self.sp()?;
                let dest = self.uid_set()?;
                Code::CopyUid {
                    uidvalidity,
                    source,
                    dest,
                }
            }
            other => return invalid(format!("unknown response code {other}")),
        };
        self.expect(b']')?;
        if !self.at_crlf()? {
            self.sp()?;
        }
        Ok(code)
    }

    /// A UIDPLUS set (`1:3,7`), expanded in the order written.
    fn uid_set(&mut self) -> PResult<Vec<u32>> {
        let mut out = Vec::new();
        loop {
            let a = self.number()?;
            let b = if self.eat(b':')? { self.number()? } else { a };
            let span = a.abs_diff(b) as usize + 1;
            if out.len() + span > MAX_SET_EXPANSION {
                return invalid("UID set too large");
            }
            if a <= b {
                out.extend(a..=b);
            } else {
                out.extend((b..=a).rev());
            }
            if !self.eat(b',')? {
                return Ok(out);
            }
        }
    }
}

fn status_kind(word: &str) -> Option<Kind> {
    Some(match word {
        "OK" => Kind::Ok,
        "NO" => Kind::No,
        "BAD" => Kind::Bad,
        "PREAUTH" => Kind::PreAuth,
        "BYE" => Kind::Bye,
        _ => return None,
    })
}

fn utf8(bytes: Vec<u8>) -> PResult<String> {
    String::from_utf8(bytes).or_else(|_| invalid("text is not UTF-8"))
}
