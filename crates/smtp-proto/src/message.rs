//! Where a message's header section ends (RFC 5322 §2.1: at the first empty line). The one rule
//! for every program that looks into stored mail: the spool holds CRLF (mta-smtpd and sendmail
//! normalise), but Maildir files written by other tools often hold bare LF, so an empty line is
//! CRLF or a bare LF, whichever comes first, in any mix (`\r\n\n`, `\n\r\n`).

/// The end of the header section of a message that has an empty line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEnd {
    /// Length of the header section: every field line with its line ending, the empty line
    /// excluded.
    pub header_len: usize,
    /// Where the body starts: just after the empty line.
    pub body_start: usize,
}

/// The first empty line of `msg`; `None` when there is none (the message is all header, or
/// empty), in which case the header section is the whole message and there is no body.
pub fn header_end(msg: &[u8]) -> Option<HeaderEnd> {
    let mut line = 0;
    loop {
        let rest = msg.get(line..)?;
        let blank = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            0
        };
        if blank > 0 {
            return Some(HeaderEnd {
                header_len: line,
                body_start: line + blank,
            });
        }
        line += rest.iter().position(|&b| b == b'\n')? + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(msg: &[u8]) -> Option<(usize, usize)> {
        header_end(msg).map(|e| (e.header_len, e.body_start))
    }

    #[test]
    fn crlf_and_bare_lf_whichever_comes_first() {
        assert_eq!(ends(b"A: 1\r\nB: 2\r\n\r\nbody\r\n"), Some((12, 14)));
        assert_eq!(ends(b"A: 1\nB: 2\n\nbody\n"), Some((10, 11)));
        // Mixed: a CRLF field line then a bare LF empty line, and the other way round.
        assert_eq!(ends(b"A: 1\r\n\nbody"), Some((6, 7)));
        assert_eq!(ends(b"A: 1\n\r\nbody"), Some((5, 7)));
        // The first empty line wins, whatever follows in the body.
        assert_eq!(ends(b"A: 1\n\nx\r\n\r\ny"), Some((5, 6)));
        assert_eq!(ends(b"A: 1\r\n\r\nx\n\ny"), Some((6, 8)));
    }

    #[test]
    fn no_body_no_header_and_empty_input() {
        assert_eq!(ends(b""), None);
        assert_eq!(ends(b"A: 1\r\nB: 2\r\n"), None);
        assert_eq!(ends(b"A: 1"), None);
        // An empty line first: no header fields at all.
        assert_eq!(ends(b"\r\nbody"), Some((0, 2)));
        assert_eq!(ends(b"\nbody"), Some((0, 1)));
        assert_eq!(ends(b"\r\n"), Some((0, 2)));
    }

    #[test]
    fn a_lone_cr_is_not_a_line_ending() {
        assert_eq!(ends(b"A: 1\r\r\nB: 2\r\n"), None);
        assert_eq!(ends(b"A: 1\r\rbody"), None);
        // A folded line is still header.
        assert_eq!(ends(b"A: 1\r\n 2\r\n\r\n"), Some((10, 12)));
    }
}
