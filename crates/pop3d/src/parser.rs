//! POP3 command lines (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) into typed
//! commands. Pure: bytes in, [`Command`] or [`ParseError`] out, whatever the client sent.

use std::fmt;

/// RFC 1939 §3: keywords are 3–4 characters, arguments up to 40 characters each. We accept a
/// little more for arguments (long virtual logins, SASL initial responses are bounded by the
/// line limit instead).
const MAX_USER_LEN: usize = 255;
/// Passwords are checked by the user database, which refuses longer ones anyway.
const MAX_PASSWORD_LEN: usize = 1024;

/// A message number as the client wrote it (1-based); checked against the maildrop later.
pub type MsgNum = u32;

#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Vec<u8>),
    /// APOP is recognised so it can be refused by name (it is off: it needs plaintext
    /// passwords stored on the server).
    Apop,
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
    Stls,
    Capa,
    Stat,
    List(Option<MsgNum>),
    Uidl(Option<MsgNum>),
    Retr(MsgNum),
    Top(MsgNum, u64),
    Dele(MsgNum),
    Noop,
    Rset,
    Quit,
}

impl fmt::Debug for Command {
    // Hides the password so a command can be logged safely.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Pass(_) => f.write_str("Pass(<hidden>)"),
            Command::Auth { mechanism, .. } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .finish_non_exhaustive(),
            Command::User(u) => f.debug_tuple("User").field(u).finish(),
            Command::Apop => f.write_str("Apop"),
            Command::Stls => f.write_str("Stls"),
            Command::Capa => f.write_str("Capa"),
            Command::Stat => f.write_str("Stat"),
            Command::List(n) => f.debug_tuple("List").field(n).finish(),
            Command::Uidl(n) => f.debug_tuple("Uidl").field(n).finish(),
            Command::Retr(n) => f.debug_tuple("Retr").field(n).finish(),
            Command::Top(n, l) => f.debug_tuple("Top").field(n).field(l).finish(),
            Command::Dele(n) => f.debug_tuple("Dele").field(n).finish(),
            Command::Noop => f.write_str("Noop"),
            Command::Rset => f.write_str("Rset"),
            Command::Quit => f.write_str("Quit"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Empty command")]
    Empty,
    #[error("Unknown command")]
    Unknown,
    #[error("{0}: wrong number of arguments")]
    Arity(&'static str),
    #[error("{0}: invalid message number")]
    BadNumber(&'static str),
    #[error("{0}: invalid argument")]
    BadArgument(&'static str),
}

/// Parses one command line, with or without its CRLF (a bare LF is tolerated, as most servers
/// do, since POP3 has no message data that could be smuggled through it).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    if keyword.len() > 4 || !keyword.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::Unknown);
    }
    let mut kw = [0u8; 4];
    for (d, s) in kw.iter_mut().zip(keyword) {
        *d = s.to_ascii_uppercase();
    }
    let kw = &kw[..keyword.len()];
    match kw {
        // PASS takes the rest of the line verbatim: passwords may contain spaces.
        b"PASS" => {
            if rest.is_empty() || rest.len() > MAX_PASSWORD_LEN {
                return Err(ParseError::Arity("PASS"));
            }
            Ok(Command::Pass(rest.to_vec()))
        }
        b"USER" => {
            let [name] = args::<1>("USER", rest)?;
            if name.len() > MAX_USER_LEN {
                return Err(ParseError::BadArgument("USER"));
            }
            let name = std::str::from_utf8(name).map_err(|_| ParseError::BadArgument("USER"))?;
            Ok(Command::User(name.to_owned()))
        }
        b"APOP" => Ok(Command::Apop),
        b"AUTH" => {
            let words = split(rest);
            let text = |w: &[u8]| -> Result<String, ParseError> {
                if w.is_ascii() {
                    Ok(String::from_utf8_lossy(w).into_owned())
                } else {
                    Err(ParseError::BadArgument("AUTH"))
                }
            };
            match words.as_slice() {
                [] => Ok(Command::Auth {
                    mechanism: None,
                    initial_response: None,
                }),
                [m] => Ok(Command::Auth {
                    mechanism: Some(text(m)?.to_ascii_uppercase()),
                    initial_response: None,
                }),
                [m, ir] => Ok(Command::Auth {
                    mechanism: Some(text(m)?.to_ascii_uppercase()),
                    initial_response: Some(text(ir)?),
                }),
                _ => Err(ParseError::Arity("AUTH")),
            }
        }
        b"STLS" => no_args("STLS", rest, Command::Stls),
        b"CAPA" => no_args("CAPA", rest, Command::Capa),
        b"STAT" => no_args("STAT", rest, Command::Stat),
        b"NOOP" => no_args("NOOP", rest, Command::Noop),
        b"RSET" => no_args("RSET", rest, Command::Rset),
        b"QUIT" => no_args("QUIT", rest, Command::Quit),
        b"LIST" => optional_number("LIST", rest).map(Command::List),
        b"UIDL" => optional_number("UIDL", rest).map(Command::Uidl),
        b"RETR" => {
            let [n] = args::<1>("RETR", rest)?;
            Ok(Command::Retr(msg_num("RETR", n)?))
        }
        b"DELE" => {
            let [n] = args::<1>("DELE", rest)?;
            Ok(Command::Dele(msg_num("DELE", n)?))
        }
        b"TOP" => {
            let [n, lines] = args::<2>("TOP", rest)?;
            let n = msg_num("TOP", n)?;
            let lines = number(lines).ok_or(ParseError::BadArgument("TOP"))?;
            Ok(Command::Top(n, lines))
        }
        _ => Err(ParseError::Unknown),
    }
}

/// Arguments separated by spaces. RFC 1939 says one space; runs of spaces are tolerated.
fn split(rest: &[u8]) -> Vec<&[u8]> {
    rest.split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .take(8)
        .collect()
}

fn args<'a, const N: usize>(
    cmd: &'static str,
    rest: &'a [u8],
) -> Result<[&'a [u8]; N], ParseError> {
    let words = split(rest);
    <[&[u8]; N]>::try_from(words.as_slice()).map_err(|_| ParseError::Arity(cmd))
}

fn no_args(cmd: &'static str, rest: &[u8], c: Command) -> Result<Command, ParseError> {
    if split(rest).is_empty() {
        Ok(c)
    } else {
        Err(ParseError::Arity(cmd))
    }
}

fn optional_number(cmd: &'static str, rest: &[u8]) -> Result<Option<MsgNum>, ParseError> {
    match split(rest).as_slice() {
        [] => Ok(None),
        [n] => msg_num(cmd, n).map(Some),
        _ => Err(ParseError::Arity(cmd)),
    }
}

/// Digits only (no sign, no spaces), without overflow.
fn number(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 19 || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    w.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn msg_num(cmd: &'static str, w: &[u8]) -> Result<MsgNum, ParseError> {
    match number(w).map(MsgNum::try_from) {
        Some(Ok(n)) if n > 0 => Ok(n),
        _ => Err(ParseError::BadNumber(cmd)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_set() {
        assert_eq!(
            parse(b"USER joe@a.test\r\n"),
            Ok(Command::User("joe@a.test".into()))
        );
        assert_eq!(
            parse(b"pass two words\r\n"),
            Ok(Command::Pass(b"two words".to_vec()))
        );
        assert_eq!(parse(b"STAT\r\n"), Ok(Command::Stat));
        assert_eq!(parse(b"list\r\n"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 2\r\n"), Ok(Command::List(Some(2))));
        assert_eq!(parse(b"UIDL 7\n"), Ok(Command::Uidl(Some(7))));
        assert_eq!(parse(b"RETR 1\r\n"), Ok(Command::Retr(1)));
        assert_eq!(parse(b"TOP 3 0\r\n"), Ok(Command::Top(3, 0)));
        assert_eq!(parse(b"DELE 4\r\n"), Ok(Command::Dele(4)));
        assert_eq!(parse(b"NOOP\r\n"), Ok(Command::Noop));
        assert_eq!(parse(b"RSET\r\n"), Ok(Command::Rset));
        assert_eq!(parse(b"QUIT\r\n"), Ok(Command::Quit));
        assert_eq!(parse(b"CAPA\r\n"), Ok(Command::Capa));
        assert_eq!(parse(b"STLS\r\n"), Ok(Command::Stls));
        assert_eq!(parse(b"APOP joe 0123\r\n"), Ok(Command::Apop));
        assert_eq!(
            parse(b"AUTH plain AGpvZQBwdw==\r\n"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some("AGpvZQBwdw==".into())
            })
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(parse(b"\r\n"), Err(ParseError::Empty));
        assert_eq!(parse(b" STAT\r\n"), Err(ParseError::Empty));
        assert_eq!(parse(b"XYZZY\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse(b"ST\xffT\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse(b"RETR\r\n"), Err(ParseError::Arity("RETR")));
        assert_eq!(parse(b"RETR 0\r\n"), Err(ParseError::BadNumber("RETR")));
        assert_eq!(parse(b"RETR -1\r\n"), Err(ParseError::BadNumber("RETR")));
        assert_eq!(parse(b"RETR +1\r\n"), Err(ParseError::BadNumber("RETR")));
        assert_eq!(
            parse(b"RETR 99999999999999999999999\r\n"),
            Err(ParseError::BadNumber("RETR"))
        );
        assert_eq!(
            parse(b"RETR 4294967296\r\n"),
            Err(ParseError::BadNumber("RETR"))
        );
        assert_eq!(parse(b"LIST 1 2\r\n"), Err(ParseError::Arity("LIST")));
        assert_eq!(parse(b"TOP 1\r\n"), Err(ParseError::Arity("TOP")));
        assert_eq!(parse(b"TOP 1 x\r\n"), Err(ParseError::BadArgument("TOP")));
        assert_eq!(parse(b"STAT now\r\n"), Err(ParseError::Arity("STAT")));
        assert_eq!(parse(b"PASS\r\n"), Err(ParseError::Arity("PASS")));
        assert_eq!(parse(b"USER\r\n"), Err(ParseError::Arity("USER")));
        assert_eq!(
            parse(b"USER \xff\r\n"),
            Err(ParseError::BadArgument("USER"))
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let c = parse(b"PASS hunter2\r\n").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = parse(b"AUTH PLAIN AGpvZQBodW50ZXIy\r\n").unwrap();
        assert!(!format!("{c:?}").contains("AGpvZQBodW50ZXIy"));
    }
}
