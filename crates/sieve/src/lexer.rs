//! Sieve tokens (RFC 5228 §2.2–2.4, §8.1): identifiers, tags, numbers with K/M/G, quoted and
//! `text:` multi-line strings, punctuation; `#` and `/* */` comments skipped.

use super::SieveError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Ident(String),
    Tag(String),
    Number(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
}

/// A token with the 1-based line it started on (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub line: usize,
}

/// `max_script` bytes at most, so a hostile file cannot make delivery slow.
pub fn tokenize(src: &str, max_script: usize) -> Result<Vec<Spanned>, SieveError> {
    if src.len() > max_script {
        return Err(SieveError::Parse {
            line: 1,
            msg: "script too large".into(),
        });
    }
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut out = Vec::new();
    let err = |line: usize, msg: &str| SieveError::Parse {
        line,
        msg: msg.into(),
    };
    while let Some(&c) = b.get(i) {
        let start_line = line;
        let single = match c {
            b'[' => Some(Token::LBracket),
            b']' => Some(Token::RBracket),
            b'(' => Some(Token::LParen),
            b')' => Some(Token::RParen),
            b'{' => Some(Token::LBrace),
            b'}' => Some(Token::RBrace),
            b',' => Some(Token::Comma),
            b';' => Some(Token::Semicolon),
            _ => None,
        };
        if let Some(t) = single {
            out.push(Spanned { token: t, line });
            i += 1;
            continue;
        }
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while let Some(&c) = b.get(i) {
                    if c == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                loop {
                    match b.get(i) {
                        None => return Err(err(start_line, "unterminated comment")),
                        Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match b.get(i) {
                        None => return Err(err(start_line, "unterminated string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            // RFC 5228 §2.4.2: `\x` is `x` for any x.
                            match b.get(i + 1) {
                                None => return Err(err(start_line, "unterminated string")),
                                Some(&n) => {
                                    if n == b'\n' {
                                        line += 1;
                                    }
                                    s.push(n);
                                    i += 2;
                                }
                            }
                        }
                        Some(&ch) => {
                            if ch == b'\n' {
                                line += 1;
                            }
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                let s = String::from_utf8(s).map_err(|_| err(start_line, "string is not UTF-8"))?;
                out.push(Spanned {
                    token: Token::Str(s),
                    line: start_line,
                });
            }
            b':' => {
                i += 1;
                let s = i;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                let name = src.get(s..i).unwrap_or_default();
                if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(err(line, "bad tag"));
                }
                out.push(Spanned {
                    token: Token::Tag(name.to_ascii_lowercase()),
                    line,
                });
            }
            b'0'..=b'9' => {
                let s = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n: u64 = src
                    .get(s..i)
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| err(line, "number too large"))?;
                let mult: u64 = match b.get(i) {
                    Some(b'K' | b'k') => 1 << 10,
                    Some(b'M' | b'm') => 1 << 20,
                    Some(b'G' | b'g') => 1 << 30,
                    _ => 1,
                };
                if mult != 1 {
                    i += 1;
                }
                let n = n
                    .checked_mul(mult)
                    .ok_or_else(|| err(line, "number too large"))?;
                out.push(Spanned {
                    token: Token::Number(n),
                    line,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = i;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                let word = src.get(s..i).unwrap_or_default().to_ascii_lowercase();
                if word == "text" && b.get(i) == Some(&b':') {
                    i += 1;
                    let (text, next, lines) = multiline(b, i)
                        .ok_or_else(|| err(start_line, "unterminated text: string"))?;
                    i = next;
                    line += lines;
                    out.push(Spanned {
                        token: Token::Str(text),
                        line: start_line,
                    });
                } else {
                    out.push(Spanned {
                        token: Token::Ident(word),
                        line,
                    });
                }
            }
            _ => return Err(err(line, "unexpected character")),
        }
    }
    Ok(out)
}

/// `text:` up to a line holding only `.`; leading `..` on a line is unstuffed. Returns the
/// text, the index after the terminator, and the lines consumed.
fn multiline(b: &[u8], mut i: usize) -> Option<(String, usize, usize)> {
    let mut lines = 0;
    // Rest of the `text:` line: whitespace or a comment, then CRLF.
    while let Some(&c) = b.get(i) {
        i += 1;
        if c == b'\n' {
            lines += 1;
            break;
        }
    }
    let mut text = Vec::new();
    loop {
        let start = i;
        while b.get(i).is_some_and(|c| *c != b'\n') {
            i += 1;
        }
        let raw = b.get(start..i)?;
        let has_nl = b.get(i).is_some();
        if has_nl {
            i += 1;
            lines += 1;
        }
        let l = raw.strip_suffix(b"\r").unwrap_or(raw);
        if l == b"." {
            return String::from_utf8(text).ok().map(|t| (t, i, lines));
        }
        if !has_nl {
            return None;
        }
        let l = if l.starts_with(b"..") {
            l.get(1..).unwrap_or(l)
        } else {
            l
        };
        text.extend_from_slice(l);
        text.extend_from_slice(b"\r\n");
    }
}
