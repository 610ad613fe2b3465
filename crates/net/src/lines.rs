//! Reading protocol lines with a hard length limit.
//!
//! A line is only ever held up to `max` bytes: a client sending a 1 MB "line" costs us `max`
//! bytes of memory, after which the rest is skipped up to its LF and reported as
//! [`Line::TooLong`], so the protocol can answer with its "line too long" error and go on.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What one call to [`read_line`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, terminator included, is in the buffer.
    Complete,
    /// The line exceeded the limit; it was consumed through its LF and the buffer is empty.
    TooLong,
    /// The peer closed the connection. The buffer holds any unterminated tail.
    Eof,
}

/// Reads one line (through LF) into `buf` (cleared first), never keeping more than `max` bytes.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if too_long { Line::TooLong } else { Line::Eof });
        }
        let (chunk, done) = match memchr_lf(available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// The line without its terminator; `None` unless it ends in exactly CRLF.
pub fn strip_crlf(line: &[u8]) -> Option<&[u8]> {
    line.strip_suffix(b"\r\n")
}

/// The line without a trailing CRLF or bare LF (for protocols that tolerate LF in commands).
pub fn strip_eol(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        // A tiny buffer so lines straddle fill_buf boundaries.
        let mut r = BufReader::with_capacity(3, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for _ in 0..100 {
            let l = read_line(&mut r, &mut buf, max).await.unwrap();
            let eof = l == Line::Eof;
            out.push((l, buf.clone()));
            if eof {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_enforces_limit() {
        let got = lines(b"HELO a\r\n0123456789abc\r\nNOOP\r\ntail", 10).await;
        assert_eq!(got[0], (Line::Complete, b"HELO a\r\n".to_vec()));
        assert_eq!(got[1], (Line::TooLong, Vec::new()));
        assert_eq!(got[2], (Line::Complete, b"NOOP\r\n".to_vec()));
        assert_eq!(got[3], (Line::Eof, b"tail".to_vec()));
    }

    #[tokio::test]
    async fn huge_line_without_newline_is_too_long_at_eof() {
        let big = vec![b'x'; 1 << 20];
        let got = lines(&big, 512).await;
        assert_eq!(
            got,
            vec![(Line::TooLong, Vec::new()), (Line::Eof, Vec::new())]
        );
    }

    #[test]
    fn crlf_helpers() {
        assert_eq!(strip_crlf(b"a\r\n"), Some(&b"a"[..]));
        assert_eq!(strip_crlf(b"a\n"), None);
        assert_eq!(strip_eol(b"a\n"), b"a");
        assert_eq!(strip_eol(b"a"), b"a");
    }
}
