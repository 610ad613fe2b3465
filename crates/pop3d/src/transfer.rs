//! The bytes of a message as RETR and TOP send them: every line ending CRLF (Maildir files
//! usually hold bare LF), lines starting with `.` dot-stuffed, the whole closed by `.` CRLF
//! (RFC 1939 §3). Pure and incremental, so a file of any size streams through it in chunks and
//! a chunk boundary anywhere (between CR and LF, before a dot) changes nothing.

/// Turns message file contents into the multi-line response body.
#[derive(Debug, Clone)]
pub struct Encoder {
    at_line_start: bool,
    /// The last byte passed through was CR (its LF may arrive in the next chunk).
    last_cr: bool,
    line_len: u64,
    line_first: u8,
    in_body: bool,
    /// TOP's remaining body lines; `None` for RETR.
    body_lines_left: Option<u64>,
    done: bool,
}

impl Encoder {
    /// `top`: `None` for the whole message (RETR), `Some(n)` for the header, the blank line
    /// and `n` body lines (TOP).
    pub fn new(top: Option<u64>) -> Encoder {
        Encoder {
            at_line_start: true,
            last_cr: false,
            line_len: 0,
            line_first: 0,
            in_body: false,
            body_lines_left: top,
            done: false,
        }
    }

    /// True once TOP has sent all it should: the rest of the file need not be read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Encodes `input`, appending to `out`. Returns [`is_done`](Self::is_done).
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> bool {
        out.reserve(input.len() + input.len() / 32 + 8);
        while !self.done && !input.is_empty() {
            if self.at_line_start {
                self.line_len = 0;
                self.line_first = input[0];
                if input[0] == b'.' {
                    out.push(b'.');
                }
                self.at_line_start = false;
            }
            match memchr::memchr(b'\n', input) {
                None => {
                    out.extend_from_slice(input);
                    self.line_len += input.len() as u64;
                    self.last_cr = input.last() == Some(&b'\r');
                    return self.done;
                }
                Some(i) => {
                    let content = &input[..i];
                    out.extend_from_slice(content);
                    self.line_len += i as u64;
                    let cr_before = match content.last() {
                        Some(&b) => b == b'\r',
                        None => self.last_cr,
                    };
                    if cr_before {
                        out.push(b'\n');
                    } else {
                        out.extend_from_slice(b"\r\n");
                    }
                    input = &input[i + 1..];
                    self.end_of_line();
                }
            }
        }
        self.done
    }

    fn end_of_line(&mut self) {
        let empty = self.line_len == 0 || (self.line_len == 1 && self.line_first == b'\r');
        self.at_line_start = true;
        self.last_cr = false;
        let Some(left) = self.body_lines_left.as_mut() else {
            return;
        };
        if !self.in_body {
            if empty {
                self.in_body = true;
                self.done = *left == 0;
            }
        } else {
            *left = left.saturating_sub(1);
            self.done = *left == 0;
        }
    }

    /// Closes the response: terminates an unterminated last line, then `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(if self.last_cr { b"\n" } else { b"\r\n" });
            self.at_line_start = true;
        }
        out.extend_from_slice(b".\r\n");
        self.done = true;
    }
}

/// The size of a message with every bare LF counted as CRLF: what LIST and STAT report
/// (Dovecot's `W=`), for files whose name does not carry it.
#[derive(Debug, Default, Clone)]
pub struct CrlfSize {
    size: u64,
    last_cr: bool,
}

impl CrlfSize {
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        for i in memchr::memchr_iter(b'\n', chunk) {
            let cr = match i.checked_sub(1) {
                Some(j) => chunk.get(j) == Some(&b'\r'),
                None => self.last_cr,
            };
            if !cr {
                self.size += 1;
            }
        }
        if let Some(&b) = chunk.last() {
            self.last_cr = b == b'\r';
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Encodes a whole in-memory message (tests, fuzzing, small messages).
pub fn encode_all(message: &[u8], top: Option<u64>) -> Vec<u8> {
    let mut e = Encoder::new(top);
    let mut out = Vec::with_capacity(message.len() + 64);
    e.push(message, &mut out);
    e.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(message: &[u8], top: Option<u64>, size: usize) -> Vec<u8> {
        let mut e = Encoder::new(top);
        let mut out = Vec::new();
        for c in message.chunks(size) {
            if e.push(c, &mut out) {
                break;
            }
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn converts_lf_and_stuffs_dots() {
        let msg = b"Subject: x\n\n.hidden\n..two\nplain\r\nend.\n.";
        let want = b"Subject: x\r\n\r\n..hidden\r\n...two\r\nplain\r\nend.\r\n..\r\n.\r\n";
        assert_eq!(encode_all(msg, None), want);
        for size in 1..msg.len() {
            assert_eq!(chunked(msg, None, size), want, "chunk size {size}");
        }
    }

    #[test]
    fn a_lone_dot_line_cannot_end_the_response_early() {
        let out = encode_all(b"a\n.\nb\n", None);
        assert_eq!(out, b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(out.windows(5).filter(|w| w == b"\r\n.\r\n").count(), 1);
    }

    #[test]
    fn top_sends_header_blank_line_and_n_body_lines() {
        let msg = b"A: 1\nB: 2\n\nl1\n.l2\nl3\n";
        assert_eq!(encode_all(msg, Some(0)), b"A: 1\r\nB: 2\r\n\r\n.\r\n");
        assert_eq!(
            encode_all(msg, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n"
        );
        assert_eq!(encode_all(msg, Some(99)), encode_all(msg, None));
        let crlf = b"A: 1\r\n\r\nl1\r\nl2\r\n";
        for size in 1..crlf.len() {
            assert_eq!(chunked(crlf, Some(1), size), b"A: 1\r\n\r\nl1\r\n.\r\n");
        }
    }

    #[test]
    fn unterminated_last_line_is_terminated() {
        assert_eq!(encode_all(b"x", None), b"x\r\n.\r\n");
        assert_eq!(encode_all(b"x\r", None), b"x\r\n.\r\n");
        assert_eq!(encode_all(b"", None), b".\r\n");
    }

    #[test]
    fn crlf_size_counts_bare_lf_twice() {
        let cases: [&[u8]; 5] = [b"a\nb\r\nc", b"\n\n", b"\r\n\r\n", b"", b"x\r\ny\n"];
        for msg in cases {
            let want = msg.len() as u64
                + msg
                    .iter()
                    .enumerate()
                    .filter(|&(i, &b)| b == b'\n' && (i == 0 || msg[i - 1] != b'\r'))
                    .count() as u64;
            for size in 1..=msg.len().max(1) {
                let mut c = CrlfSize::default();
                for chunk in msg.chunks(size) {
                    c.update(chunk);
                }
                assert_eq!(c.size(), want, "{msg:?} in chunks of {size}");
            }
        }
    }
}
