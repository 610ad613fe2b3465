//! SMTP replies: formatting for servers (with RFC 2034 enhanced status codes on every line) and
//! incremental parsing for clients (multi-line replies, hostile or broken servers included).

use std::fmt;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl EnhancedCode {
    pub fn parse(s: &str) -> Option<EnhancedCode> {
        let mut it = s.split('.');
        let class: u8 = it.next()?.parse().ok()?;
        let subject: u16 = it.next()?.parse().ok()?;
        let detail: u16 = it.next()?.parse().ok()?;
        if it.next().is_some() || !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return None;
        }
        Some(EnhancedCode(class, subject, detail))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A complete reply: a three-digit code, an optional enhanced code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    pub lines: Vec<String>,
}

impl Reply {
    /// `enhanced` is written like `"2.1.0"`; an unparsable one is dropped (a programming error
    /// that must not corrupt the wire format).
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: EnhancedCode::parse(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced code (greeting, EHLO response, which RFC 2034 exempts).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    pub fn multiline(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced,
            lines: if lines.is_empty() {
                vec![String::new()]
            } else {
                lines
            },
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the wire form. Text is sanitised: a CR or LF inside a line (say from a remote
    /// server's reply quoted back) would otherwise forge extra reply lines.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            out.extend_from_slice(format!("{:03}{sep}", self.code).as_bytes());
            if let Some(e) = self.enhanced {
                out.extend_from_slice(format!("{e} ").as_bytes());
            }
            out.extend(
                line.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// All text lines joined with a space (for logs and DSNs).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.enhanced {
            Some(e) => write!(f, "{} {} {}", self.code, e, self.text()),
            None => write!(f, "{} {}", self.code, self.text()),
        }
    }
}

/// Why a server's reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    #[error("reply code changed inside a multi-line reply")]
    CodeMismatch,
    #[error("multi-line reply longer than {0} lines")]
    TooManyLines(usize),
}

/// Feeds reply lines one at a time; yields a [`Reply`] when the last line arrives.
/// Bounded: a server sending an endless multi-line reply is cut off after `max_lines`.
#[derive(Debug)]
pub struct ReplyParser {
    code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
    max_lines: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new(200)
    }
}

impl ReplyParser {
    pub fn new(max_lines: usize) -> ReplyParser {
        ReplyParser {
            code: None,
            enhanced: None,
            lines: Vec::new(),
            max_lines,
        }
    }

    /// One line, with or without its CRLF.
    pub fn feed_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let line = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let bytes = line;
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::Malformed(truncate(&text)));
        }
        let code: u16 = text[..3]
            .parse()
            .map_err(|_| ReplyError::Malformed(truncate(&text)))?;
        if !(200..600).contains(&code) {
            return Err(ReplyError::Malformed(truncate(&text)));
        }
        let (last, rest) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, text.get(4..).unwrap_or("")),
            Some(b'-') => (false, text.get(4..).unwrap_or("")),
            Some(_) => return Err(ReplyError::Malformed(truncate(&text))),
        };
        match self.code {
            Some(c) if c != code => return Err(ReplyError::CodeMismatch),
            _ => self.code = Some(code),
        }
        // An enhanced code is recognised only when its class matches the reply's.
        let mut body = rest;
        if let Some((first, tail)) = rest.split_once(' ').or(Some((rest, ""))) {
            if let Some(e) = EnhancedCode::parse(first) {
                if u16::from(e.0) == code / 100 {
                    if self.lines.is_empty() {
                        self.enhanced = Some(e);
                    }
                    body = tail;
                }
            }
        }
        if self.lines.len() >= self.max_lines {
            return Err(ReplyError::TooManyLines(self.max_lines));
        }
        self.lines.push(body.to_owned());
        if !last {
            return Ok(None);
        }
        let reply = Reply {
            code,
            enhanced: self.enhanced.take(),
            lines: std::mem::take(&mut self.lines),
        };
        self.code = None;
        Ok(Some(reply))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_multiline_with_enhanced_code_on_every_line() {
        let r = Reply::multiline(
            250,
            EnhancedCode::parse("2.0.0"),
            vec!["first".into(), "second".into()],
        );
        assert_eq!(r.to_bytes(), b"250-2.0.0 first\r\n250 2.0.0 second\r\n");
        assert_eq!(Reply::plain(220, "hi").to_bytes(), b"220 hi\r\n");
    }

    #[test]
    fn sanitises_line_breaks_in_text() {
        let r = Reply::new(550, "5.1.1", "no\r\n250 ok");
        assert_eq!(r.to_bytes(), b"550 5.1.1 no  250 ok\r\n");
    }

    #[test]
    fn parses_multiline_replies() {
        let mut p = ReplyParser::default();
        assert_eq!(p.feed_line(b"250-mx.b.test hello\r\n").unwrap(), None);
        assert_eq!(p.feed_line(b"250-PIPELINING\r\n").unwrap(), None);
        let r = p.feed_line(b"250 SIZE 1000\r\n").unwrap().unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, vec!["mx.b.test hello", "PIPELINING", "SIZE 1000"]);
        let r = p
            .feed_line(b"550 5.1.1 <x@b.test>: no such user")
            .unwrap()
            .unwrap();
        assert_eq!(r.enhanced, Some(EnhancedCode(5, 1, 1)));
        assert_eq!(r.text(), "<x@b.test>: no such user");
        let r = p.feed_line(b"421").unwrap().unwrap();
        assert_eq!(r.code, 421);
    }

    #[test]
    fn enhanced_code_of_wrong_class_is_text() {
        let mut p = ReplyParser::default();
        let r = p.feed_line(b"250 5.0.0 odd").unwrap().unwrap();
        assert_eq!(r.enhanced, None);
        assert_eq!(r.text(), "5.0.0 odd");
    }

    #[test]
    fn rejects_garbage_mismatch_and_endless_replies() {
        let mut p = ReplyParser::default();
        assert!(matches!(
            p.feed_line(b"hello"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(p.feed_line(b"25"), Err(ReplyError::Malformed(_))));
        assert!(matches!(
            p.feed_line(b"250x"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            p.feed_line(b"999 x"),
            Err(ReplyError::Malformed(_))
        ));
        let mut p = ReplyParser::default();
        p.feed_line(b"250-a").unwrap();
        assert_eq!(p.feed_line(b"251 b"), Err(ReplyError::CodeMismatch));
        let mut p = ReplyParser::new(5);
        for _ in 0..5 {
            assert_eq!(p.feed_line(b"250-more").unwrap(), None);
        }
        assert_eq!(p.feed_line(b"250-more"), Err(ReplyError::TooManyLines(5)));
    }
}
