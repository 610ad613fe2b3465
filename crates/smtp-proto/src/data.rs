//! The DATA phase: reading a dot-terminated message (server side) and writing one (client side).
//!
//! Only `<CRLF>.<CRLF>` ends the data. A bare LF or bare CR is never a line end for that purpose,
//! whatever the policy: this is what closes the SMTP smuggling hole (CVE-2023-51764/51765/51766),
//! where `<LF>.<LF>` or `<LF>.<CRLF>` ends DATA for one server but not for the next, letting a
//! second forged message ride inside the first.

/// What to do with a bare CR or LF inside the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEndingPolicy {
    /// Keep reading to the terminator, then refuse the message.
    Reject,
    /// Replace the bare CR or LF by CRLF in the stored message.
    Normalize,
}

/// How a finished DATA phase turned out; decided only once the terminator has been read, so the
/// session stays in sync with the client whatever went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataOutcome {
    /// Bytes of message after unstuffing (counted even past the size limit).
    pub size: u64,
    pub too_big: bool,
    pub bare_line_ending: bool,
    pub line_too_long: bool,
    /// Any byte with the high bit set (8BITMIME content).
    pub eight_bit: bool,
    pub nul: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Dot,
    DotCr,
    Mid,
    Cr,
}

/// Incremental decoder for the bytes after `354`. Feed what arrives; it writes the unstuffed
/// message into the output buffer and says where the terminator ended.
#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    policy: LineEndingPolicy,
    max_size: u64,
    max_line: usize,
    line_len: usize,
    outcome: DataOutcome,
}

impl DataDecoder {
    /// `max_size`: message bytes kept (beyond it the rest is read and discarded);
    /// `max_line`: longest line in octets including CRLF.
    pub fn new(policy: LineEndingPolicy, max_size: u64, max_line: usize) -> DataDecoder {
        DataDecoder {
            state: State::LineStart,
            policy,
            max_size,
            max_line,
            line_len: 0,
            outcome: DataOutcome::default(),
        }
    }

    /// Decodes `input` into `out`. Returns `Some(n)` when the terminator ended at `input[n-1]`
    /// (bytes after it belong to the next command, e.g. pipelined), `None` when more is needed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        for (i, &b) in input.iter().enumerate() {
            if self.step(b, out) {
                return Some(i + 1);
            }
        }
        None
    }

    /// The final account; only meaningful after `feed` returned `Some`.
    pub fn outcome(&self) -> DataOutcome {
        self.outcome
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.outcome.size += bytes.len() as u64;
        if self.outcome.size > self.max_size {
            self.outcome.too_big = true;
            return;
        }
        out.extend_from_slice(bytes);
    }

    fn count_line(&mut self, n: usize) {
        self.line_len += n;
        if self.line_len > self.max_line {
            self.outcome.line_too_long = true;
        }
    }

    fn bare(&mut self, out: &mut Vec<u8>, which: u8) {
        self.outcome.bare_line_ending = true;
        match self.policy {
            LineEndingPolicy::Normalize => {
                self.emit(b"\r\n", out);
                self.line_len = 0;
            }
            LineEndingPolicy::Reject => {
                self.emit(&[which], out);
                self.count_line(1);
            }
        }
    }

    /// One byte; true at the end of the terminator.
    fn step(&mut self, b: u8, out: &mut Vec<u8>) -> bool {
        if b >= 0x80 {
            self.outcome.eight_bit = true;
        } else if b == 0 {
            self.outcome.nul = true;
        }
        match self.state {
            State::LineStart => match b {
                b'.' => {
                    self.count_line(1);
                    self.state = State::Dot;
                }
                _ => {
                    self.state = State::Mid;
                    return self.step_mid(b, out);
                }
            },
            State::Dot => match b {
                b'\r' => self.state = State::DotCr,
                _ => {
                    // A leading dot followed by text is stuffing: drop the dot.
                    self.state = State::Mid;
                    return self.step_mid(b, out);
                }
            },
            State::DotCr => match b {
                b'\n' => {
                    self.state = State::LineStart;
                    return true;
                }
                _ => {
                    // ".<CR>x": the dot was stuffing, the CR is bare.
                    self.bare(out, b'\r');
                    self.state = State::Mid;
                    return self.step_mid(b, out);
                }
            },
            State::Mid => return self.step_mid(b, out),
            State::Cr => match b {
                b'\n' => {
                    self.emit(b"\r\n", out);
                    self.line_len = 0;
                    self.state = State::LineStart;
                }
                _ => {
                    self.bare(out, b'\r');
                    self.state = State::Mid;
                    return self.step_mid(b, out);
                }
            },
        }
        false
    }

    fn step_mid(&mut self, b: u8, out: &mut Vec<u8>) -> bool {
        match b {
            b'\r' => {
                self.count_line(1);
                self.state = State::Cr;
            }
            b'\n' => self.bare(out, b'\n'),
            _ => {
                self.count_line(1);
                self.emit(&[b], out);
            }
        }
        false
    }
}

/// Client side: turns message bytes into DATA wire form — CRLF line ends, leading dots
/// doubled — and [`DotStuffer::finish`] appends the terminator.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            at_line_start: true,
            pending_cr: false,
        }
    }
}

impl DotStuffer {
    pub fn new() -> DotStuffer {
        DotStuffer::default()
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 4);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
                _ => {
                    if self.at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    self.at_line_start = false;
                }
            }
        }
    }

    /// Ends the message: a final CRLF if the message lacked one, then `.<CRLF>`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
        }
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8], policy: LineEndingPolicy) -> (Option<usize>, Vec<u8>, DataOutcome) {
        let mut d = DataDecoder::new(policy, 1 << 20, 1000);
        let mut out = Vec::new();
        let end = d.feed(input, &mut out);
        (end, out, d.outcome())
    }

    #[test]
    fn unstuffs_and_stops_at_crlf_dot_crlf() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        let (end, out, o) = decode(input, LineEndingPolicy::Reject);
        assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(&input[end.unwrap()..], b"QUIT\r\n");
        assert!(!o.bare_line_ending);
    }

    #[test]
    fn empty_message() {
        let (end, out, _) = decode(b".\r\n", LineEndingPolicy::Reject);
        assert_eq!(end, Some(3));
        assert!(out.is_empty());
    }

    #[test]
    fn smuggling_sequences_never_end_data() {
        for evil in [
            &b"a\n.\nMAIL FROM:<x>\r\n"[..],
            b"a\n.\r\nMAIL FROM:<x>\r\n",
            b"a\r\n.\nMAIL FROM:<x>\r\n",
            b"a\r.\rMAIL FROM:<x>\r\n",
            b"a\r.\r\nMAIL FROM:<x>\r\n",
            b"a\r\n.\rMAIL FROM:<x>\r\n",
        ] {
            for policy in [LineEndingPolicy::Reject, LineEndingPolicy::Normalize] {
                let (end, _, o) = decode(evil, policy);
                assert_eq!(end, None, "{:?} ended data under {policy:?}", evil);
                assert!(o.bare_line_ending, "{evil:?}");
            }
        }
    }

    #[test]
    fn normalize_turns_bare_endings_into_crlf() {
        let (end, out, o) = decode(b"a\nb\rc\r\n.\r\n", LineEndingPolicy::Normalize);
        assert!(end.is_some());
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
        assert!(o.bare_line_ending);
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let input = b"x\r\n..y\r\n.z\r\n\r\n.\r\n";
        let (end, whole, _) = decode(input, LineEndingPolicy::Reject);
        let mut d = DataDecoder::new(LineEndingPolicy::Reject, 1 << 20, 1000);
        let mut out = Vec::new();
        let mut ended = None;
        for (i, b) in input.iter().enumerate() {
            if d.feed(std::slice::from_ref(b), &mut out).is_some() {
                ended = Some(i + 1);
                break;
            }
        }
        assert_eq!(ended, end);
        assert_eq!(out, whole);
        assert_eq!(out, b"x\r\n.y\r\nz\r\n\r\n");
    }

    #[test]
    fn size_and_line_limits_are_reported_not_buffered() {
        let mut d = DataDecoder::new(LineEndingPolicy::Reject, 10, 1000);
        let mut out = Vec::new();
        let end = d.feed(b"0123456789abcdef\r\n.\r\n", &mut out);
        assert!(end.is_some());
        assert!(out.len() <= 10);
        assert!(d.outcome().too_big);
        assert_eq!(d.outcome().size, 18);
        let long = [vec![b'a'; 1200], b"\r\n.\r\n".to_vec()].concat();
        let (_, _, o) = decode(&long, LineEndingPolicy::Reject);
        assert!(o.line_too_long);
        let ok = [vec![b'a'; 998], b"\r\n.\r\n".to_vec()].concat();
        assert!(!decode(&ok, LineEndingPolicy::Reject).2.line_too_long);
    }

    #[test]
    fn flags_eight_bit_and_nul() {
        let (_, _, o) = decode("ä\0\r\n.\r\n".as_bytes(), LineEndingPolicy::Reject);
        assert!(o.eight_bit && o.nul);
    }

    #[test]
    fn dot_stuffer_round_trips_through_decoder() {
        let cases: &[&[u8]] = &[
            b"a\r\n.b\r\n..c\r\n",
            b"no final newline",
            b".\r\n",
            b"unix\nline\nends\n.dot\n",
            b"",
            b"cr at end\r",
        ];
        for &msg in cases {
            let mut s = DotStuffer::new();
            let mut wire = Vec::new();
            // Split to exercise state across feeds.
            let mid = msg.len() / 2;
            s.feed(&msg[..mid], &mut wire);
            s.feed(&msg[mid..], &mut wire);
            s.finish(&mut wire);
            let (end, out, o) = decode(&wire, LineEndingPolicy::Reject);
            assert_eq!(end, Some(wire.len()), "{msg:?}");
            assert!(!o.bare_line_ending, "{msg:?}");
            let mut expected = Vec::new();
            let normalized = String::from_utf8_lossy(msg)
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .replace('\n', "\r\n");
            expected.extend_from_slice(normalized.as_bytes());
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(out, expected, "{msg:?}");
        }
    }
}
