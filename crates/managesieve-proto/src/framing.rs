//! Cutting the client's byte stream into commands. A ManageSieve command is a line that may
//! be continued by literals (`{N+}` or `{N}` then CRLF, then N octets, then the rest of the
//! line), so a command is complete at the first line end that does not announce a literal.
//! The server never sends a continuation for `{N}`: both forms are read the same way, as
//! Dovecot and Cyrus do.
//!
//! Bounded: a line longer than `max_line` (literal contents not counted) is an error that
//! ends the connection (its remainder cannot be told apart from commands); a literal larger
//! than `max_literal` is read and thrown away, and the command is answered with
//! `NO (QUOTA/MAXSIZE)`, because the client sends its octets without waiting.

/// One complete unit of the client's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole command: its lines and literal contents, with the final line end.
    Command(Vec<u8>),
    /// A literal over `max_literal`; its octets were discarded.
    LiteralTooLarge,
    /// A line over `max_line`: the connection cannot continue.
    LineTooLong,
}

/// The incremental framer, sans-IO: feed it what was read, take frames out.
#[derive(Debug)]
pub struct Framer {
    max_line: usize,
    max_literal: u64,
    /// The command so far (kept only while it fits).
    cur: Vec<u8>,
    /// The line being read, kept even while the command is discarded: its end says whether
    /// a literal follows.
    line: Vec<u8>,
    literal_left: u64,
    /// The command outgrew the limits: it is read to its end and answered as too large.
    oversized: bool,
    /// A line was too long: everything after it is ignored.
    broken: bool,
}

impl Framer {
    pub fn new(max_line: usize, max_literal: u64) -> Framer {
        Framer {
            max_line,
            max_literal,
            cur: Vec::new(),
            line: Vec::new(),
            literal_left: 0,
            oversized: false,
            broken: false,
        }
    }

    /// Forgets any partial command (after STARTTLS: nothing sent in plaintext may be read as
    /// if it came over TLS).
    pub fn clear(&mut self) {
        *self = Framer::new(self.max_line, self.max_literal);
    }

    /// True when part of a command has been read.
    pub fn is_partial(&self) -> bool {
        !self.cur.is_empty() || !self.line.is_empty() || self.literal_left > 0 || self.oversized
    }

    /// The most a whole command may hold: one literal at its largest plus the lines around
    /// it. Several literals share this, so no command can hold more.
    fn max_command(&self) -> u64 {
        self.max_literal.saturating_add(self.max_line as u64 * 2)
    }

    /// Consumes `data`, appending every frame it completes to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Frame>) {
        while !data.is_empty() && !self.broken {
            if self.literal_left > 0 {
                let n = (self.literal_left.min(data.len() as u64)) as usize;
                if !self.oversized {
                    self.cur.extend_from_slice(&data[..n]);
                }
                self.literal_left -= n as u64;
                data = &data[n..];
                continue;
            }
            let (segment, ended) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..=i], true),
                None => (data, false),
            };
            data = &data[segment.len()..];
            if self.line.len() + segment.len() > self.max_line {
                // Nothing after an unframeable line can be trusted.
                self.broken = true;
                out.push(Frame::LineTooLong);
                return;
            }
            self.line.extend_from_slice(segment);
            if !ended {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let literal = literal_at_end(&line);
            let grown = (self.cur.len() + line.len()) as u64 + literal.unwrap_or(0);
            if grown > self.max_command() || literal.is_some_and(|n| n > self.max_literal) {
                self.oversized = true;
                self.cur = Vec::new();
            }
            if !self.oversized {
                self.cur.extend_from_slice(&line);
            }
            if let Some(n) = literal {
                self.literal_left = n;
                continue;
            }
            match std::mem::take(&mut self.oversized) {
                true => out.push(Frame::LiteralTooLarge),
                false => out.push(Frame::Command(std::mem::take(&mut self.cur))),
            }
        }
    }
}

/// The literal a line announces at its end: `{N}` or `{N+}` before the CRLF (or bare LF).
pub fn literal_at_end(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', inner)?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer, input: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        f.push(input, &mut out);
        out
    }

    #[test]
    fn lines_and_literals_make_one_command_in_any_split() {
        let input = b"PUTSCRIPT \"a\" {7+}\r\nkeep;\r\n\r\nNOOP\r\n";
        for split in 0..input.len() {
            let mut f = Framer::new(100, 100);
            let mut out = frames(&mut f, &input[..split]);
            out.extend(frames(&mut f, &input[split..]));
            assert_eq!(
                out,
                vec![
                    Frame::Command(b"PUTSCRIPT \"a\" {7+}\r\nkeep;\r\n\r\n".to_vec()),
                    Frame::Command(b"NOOP\r\n".to_vec()),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_oversized_literal_is_skipped_and_reported() {
        let mut f = Framer::new(100, 4);
        let out = frames(&mut f, b"PUTSCRIPT \"a\" {10}\r\n0123456789\r\nNOOP\r\n");
        assert_eq!(
            out,
            vec![Frame::LiteralTooLarge, Frame::Command(b"NOOP\r\n".to_vec())]
        );
    }

    #[test]
    fn many_literals_in_one_command_are_bounded_together() {
        let mut f = Framer::new(20, 10);
        let mut input = b"NOOP".to_vec();
        for _ in 0..10 {
            input.extend_from_slice(b" {8+}\r\n12345678");
        }
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let out = frames(&mut f, &input);
        assert_eq!(
            out,
            vec![Frame::LiteralTooLarge, Frame::Command(b"NOOP\r\n".to_vec())]
        );
        assert!(!f.is_partial());
    }

    #[test]
    fn a_long_line_ends_the_stream() {
        let mut f = Framer::new(10, 4);
        let out = frames(&mut f, b"NOOP \"aaaaaaaaaaaaaaa\"\r\nNOOP\r\n");
        assert_eq!(out, vec![Frame::LineTooLong]);
        assert!(frames(&mut f, b"NOOP\r\n").is_empty());
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_at_end(b"X {5+}\r\n"), Some(5));
        assert_eq!(literal_at_end(b"X {5}\n"), Some(5));
        assert_eq!(literal_at_end(b"X {}\r\n"), None);
        assert_eq!(literal_at_end(b"X {5a}\r\n"), None);
        assert_eq!(literal_at_end(b"X {99999999999999999999}\r\n"), None);
        assert_eq!(literal_at_end(b"X \"{5}\"\r\n"), None);
    }
}
