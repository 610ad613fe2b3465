//! The grammar of one framed command (RFC 5804 §4): a command name (an atom, any case)
//! followed by arguments, each an atom, a number, a quoted string (`\"` and `\\` escapes) or
//! a literal whose octets the framer has already collected. Parsing is over the whole frame,
//! so it never waits and never allocates more than the frame.

use crate::framing::literal_at_end;

/// Longest quoted string; RFC 5804 §4 allows 1024 octets.
pub const MAX_QUOTED: usize = 1024;

/// One argument as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    StartTls,
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Logout,
    Noop(Option<Vec<u8>>),
    Unauthenticate,
    ListScripts,
    GetScript(String),
    PutScript {
        name: String,
        script: Vec<u8>,
    },
    CheckScript(Vec<u8>),
    SetActive(String),
    DeleteScript(String),
    RenameScript(String, String),
    HaveSpace(String, u64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty command")]
    Empty,
    #[error("unknown command")]
    Unknown,
    #[error("{0}")]
    Syntax(&'static str),
}

/// Splits a frame into tokens, up to the final line end.
pub fn tokenize(frame: &[u8]) -> Result<Vec<Token>, ParseError> {
    let mut toks = Vec::new();
    let mut i = 0;
    let bad = ParseError::Syntax;
    loop {
        while frame.get(i) == Some(&b' ') {
            i += 1;
        }
        match frame.get(i) {
            None => return Err(bad("missing line end")),
            Some(b'\r') if frame.get(i + 1) == Some(&b'\n') && i + 2 == frame.len() => {
                return Ok(toks)
            }
            Some(b'\n') if i + 1 == frame.len() => return Ok(toks),
            Some(b'"') => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match frame.get(i) {
                        None | Some(b'\r') | Some(b'\n') => {
                            return Err(bad("unterminated quoted string"))
                        }
                        Some(b'"') => break,
                        Some(b'\\') => match frame.get(i + 1) {
                            Some(c @ (b'"' | b'\\')) => {
                                s.push(*c);
                                i += 1;
                            }
                            _ => return Err(bad("invalid escape in quoted string")),
                        },
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                    if s.len() > MAX_QUOTED {
                        return Err(bad("quoted string too long"));
                    }
                }
                i += 1;
                toks.push(Token::Str(s));
            }
            Some(b'{') => {
                let nl = memchr::memchr(b'\n', &frame[i..])
                    .map(|n| i + n)
                    .ok_or(bad("missing line end"))?;
                let n = literal_at_end(&frame[i..=nl]).ok_or(bad("invalid literal"))?;
                let start = nl + 1;
                let end = usize::try_from(n)
                    .ok()
                    .and_then(|n| start.checked_add(n))
                    .filter(|&e| e <= frame.len())
                    .ok_or(bad("truncated literal"))?;
                toks.push(Token::Str(frame[start..end].to_vec()));
                i = end;
            }
            Some(_) => {
                let start = i;
                while let Some(&c) = frame.get(i) {
                    if !is_atom_char(c) {
                        break;
                    }
                    i += 1;
                }
                if start == i {
                    return Err(bad("unexpected character"));
                }
                let atom = String::from_utf8_lossy(&frame[start..i]).into_owned();
                toks.push(Token::Atom(atom));
            }
        }
        // Arguments are separated by a space or end with the line.
        match frame.get(i) {
            Some(b' ') | Some(b'\r') | Some(b'\n') | None => {}
            Some(_) => return Err(bad("missing space between arguments")),
        }
    }
}

fn is_atom_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !matches!(c, b'"' | b'{' | b'}' | b'(' | b')' | b'%' | b'*' | b'\\')
}

/// Parses one framed command.
pub fn parse(frame: &[u8]) -> Result<Command, ParseError> {
    let toks = tokenize(frame)?;
    let mut it = toks.into_iter();
    let name = match it.next() {
        None => return Err(ParseError::Empty),
        Some(Token::Atom(a)) => a.to_ascii_uppercase(),
        Some(Token::Str(_)) => return Err(ParseError::Syntax("command name expected")),
    };
    let args: Vec<Token> = it.collect();
    let cmd = match (name.as_str(), args.as_slice()) {
        ("CAPABILITY", []) => Command::Capability,
        ("STARTTLS", []) => Command::StartTls,
        ("LOGOUT", []) => Command::Logout,
        ("UNAUTHENTICATE", []) => Command::Unauthenticate,
        ("LISTSCRIPTS", []) => Command::ListScripts,
        ("NOOP", []) => Command::Noop(None),
        ("NOOP", [Token::Str(tag)]) => Command::Noop(Some(tag.clone())),
        ("AUTHENTICATE", [m]) => Command::Authenticate {
            mechanism: text(m)?,
            initial: None,
        },
        ("AUTHENTICATE", [m, Token::Str(ir)]) => Command::Authenticate {
            mechanism: text(m)?,
            initial: Some(ir.clone()),
        },
        ("GETSCRIPT", [Token::Str(n)]) => Command::GetScript(utf8(n)?),
        ("PUTSCRIPT", [Token::Str(n), Token::Str(s)]) => Command::PutScript {
            name: utf8(n)?,
            script: s.clone(),
        },
        ("CHECKSCRIPT", [Token::Str(s)]) => Command::CheckScript(s.clone()),
        ("SETACTIVE", [Token::Str(n)]) => Command::SetActive(utf8(n)?),
        ("DELETESCRIPT", [Token::Str(n)]) => Command::DeleteScript(utf8(n)?),
        ("RENAMESCRIPT", [Token::Str(a), Token::Str(b)]) => {
            Command::RenameScript(utf8(a)?, utf8(b)?)
        }
        ("HAVESPACE", [Token::Str(n), Token::Atom(size)]) => Command::HaveSpace(
            utf8(n)?,
            size.parse()
                .map_err(|_| ParseError::Syntax("size must be a number"))?,
        ),
        (
            "CAPABILITY" | "STARTTLS" | "LOGOUT" | "UNAUTHENTICATE" | "LISTSCRIPTS" | "NOOP"
            | "AUTHENTICATE" | "GETSCRIPT" | "PUTSCRIPT" | "CHECKSCRIPT" | "SETACTIVE"
            | "DELETESCRIPT" | "RENAMESCRIPT" | "HAVESPACE",
            _,
        ) => return Err(ParseError::Syntax("wrong arguments for this command")),
        _ => return Err(ParseError::Unknown),
    };
    Ok(cmd)
}

/// A SASL client response: one string (`"*"` cancels), nothing else on the line.
pub fn parse_sasl_response(frame: &[u8]) -> Result<Vec<u8>, ParseError> {
    match tokenize(frame)?.as_slice() {
        [Token::Str(s)] => Ok(s.clone()),
        _ => Err(ParseError::Syntax("a SASL response is one string")),
    }
}

fn text(t: &Token) -> Result<String, ParseError> {
    match t {
        Token::Atom(a) => Ok(a.clone()),
        Token::Str(s) => utf8(s),
    }
}

fn utf8(s: &[u8]) -> Result<String, ParseError> {
    String::from_utf8(s.to_vec()).map_err(|_| ParseError::Syntax("string is not UTF-8"))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
