//! Splits a stored message (CRLF lines) into what the milters get: header fields, the end of
//! the header, then body bytes. Streaming and bounded: only the field being read is held, cut
//! at a limit as Postfix's `header_size_limit` cuts it.

/// One header field as stored: `Name: value\r\n` with its continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub raw: Vec<u8>,
}

impl Field {
    fn colon(&self) -> usize {
        self.raw
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(self.raw.len())
    }

    pub fn name(&self) -> String {
        let n = self.raw.get(..self.colon()).unwrap_or_default();
        String::from_utf8_lossy(n)
            .trim_end_matches([' ', '\t'])
            .to_string()
    }

    /// The value as the milter protocol carries it: everything after the colon, the final
    /// line break removed and folded lines joined by a bare LF (Sendmail's form).
    pub fn value(&self) -> String {
        let v = self.raw.get(self.colon() + 1..).unwrap_or_default();
        let v = v.strip_suffix(b"\n").unwrap_or(v);
        let v = v.strip_suffix(b"\r").unwrap_or(v);
        String::from_utf8_lossy(v).replace("\r\n", "\n")
    }
}

/// A piece of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Header(Field),
    /// The end of the header section; the empty line itself is part of neither.
    Eoh,
    Body(Vec<u8>),
}

#[derive(Debug)]
pub struct Splitter {
    in_header: bool,
    /// The current line (header section only).
    line: Vec<u8>,
    /// The field being gathered (a start line and its continuations).
    field: Option<Field>,
    max_field: usize,
    /// Octets of the message consumed before the body (header section and empty line).
    header_len: u64,
}

impl Splitter {
    /// `max_field`: the longest header field kept; the rest of a longer one is dropped.
    pub fn new(max_field: usize) -> Splitter {
        Splitter {
            in_header: true,
            line: Vec::new(),
            field: None,
            max_field,
            header_len: 0,
        }
    }

    /// Where the body starts in the message (valid once [`Part::Eoh`] was produced).
    pub fn body_offset(&self) -> u64 {
        self.header_len
    }

    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Part>) {
        while self.in_header && !data.is_empty() {
            let (take, complete) = match data.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (data.len(), false),
            };
            let (chunk, rest) = data.split_at(take);
            data = rest;
            self.header_len += take as u64;
            let room = self.max_field.saturating_sub(self.line.len());
            self.line
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if complete {
                if self.line.last() != Some(&b'\n') {
                    // Cut: keep the line ending so the field stays well formed.
                    self.line.truncate(self.line.len().saturating_sub(2));
                    self.line.extend_from_slice(b"\r\n");
                }
                let line = std::mem::take(&mut self.line);
                self.header_line(line, out);
            }
        }
        if !data.is_empty() {
            out.push(Part::Body(data.to_vec()));
        }
    }

    fn header_line(&mut self, line: Vec<u8>, out: &mut Vec<Part>) {
        if line == b"\r\n" || line == b"\n" {
            self.end_header(out);
            return;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(f) = self.field.as_mut() {
                let room = self.max_field.saturating_sub(f.raw.len());
                if line.len() <= room {
                    f.raw.extend_from_slice(&line);
                }
                return;
            }
        }
        if let Some(f) = self.field.take() {
            out.push(Part::Header(f));
        }
        if is_field_start(&line) {
            self.field = Some(Field { raw: line });
        } else {
            // Not a header field: the body starts here, without an empty line.
            self.header_len -= line.len() as u64;
            self.end_header(out);
            out.push(Part::Body(line));
        }
    }

    fn end_header(&mut self, out: &mut Vec<Part>) {
        if let Some(f) = self.field.take() {
            out.push(Part::Header(f));
        }
        self.in_header = false;
        out.push(Part::Eoh);
    }

    /// The message ended: a header section without body ends here.
    pub fn finish(&mut self, out: &mut Vec<Part>) {
        if !self.in_header {
            return;
        }
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(b"\r\n");
            self.header_len += 2;
            self.header_line(line, out);
        }
        if self.in_header {
            self.end_header(out);
        }
    }
}

/// `name:` with a name of printable characters (RFC 5322 ftext), blanks allowed before the
/// colon as in obsolete syntax.
fn is_field_start(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = line.get(..colon).unwrap_or_default();
    let trimmed = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(&[][..], |e| name.get(..=e).unwrap_or_default());
    !trimmed.is_empty() && trimmed.iter().all(|&b| (33..=126).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(msg: &[u8], step: usize) -> (Vec<Part>, u64) {
        let mut s = Splitter::new(100);
        let mut out = Vec::new();
        for c in msg.chunks(step) {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        // Adjacent body pieces are one stream.
        let mut merged: Vec<Part> = Vec::new();
        for p in out {
            match (merged.last_mut(), p) {
                (Some(Part::Body(a)), Part::Body(b)) => a.extend_from_slice(&b),
                (_, p) => merged.push(p),
            }
        }
        (merged, s.body_offset())
    }

    fn field(raw: &str) -> Part {
        Part::Header(Field {
            raw: raw.as_bytes().to_vec(),
        })
    }

    #[test]
    fn splits_fields_folds_and_body_at_any_chunking() {
        let msg = b"Subject: hi\r\nX-Long: a\r\n\tb\r\nTo: x@y\r\n\r\nbody\r\n.line\r\n";
        for step in [1, 2, 3, 7, 100] {
            let (parts, off) = split(msg, step);
            assert_eq!(
                parts,
                [
                    field("Subject: hi\r\n"),
                    field("X-Long: a\r\n\tb\r\n"),
                    field("To: x@y\r\n"),
                    Part::Eoh,
                    Part::Body(b"body\r\n.line\r\n".to_vec()),
                ],
                "step {step}"
            );
            assert_eq!(off, 39);
        }
        let Part::Header(f) = &split(msg, 5).0[1] else {
            panic!()
        };
        assert_eq!(f.name(), "X-Long");
        assert_eq!(f.value(), " a\n\tb");
    }

    #[test]
    fn a_line_that_is_no_field_starts_the_body() {
        let (parts, off) = split(b"A: 1\r\nnot a header\r\nrest\r\n", 4);
        assert_eq!(
            parts,
            [
                field("A: 1\r\n"),
                Part::Eoh,
                Part::Body(b"not a header\r\nrest\r\n".to_vec())
            ]
        );
        assert_eq!(off, 6);
        let (parts, _) = split(b"A: 1\r\nB: 2", 3);
        assert_eq!(parts, [field("A: 1\r\n"), field("B: 2\r\n"), Part::Eoh]);
        let (parts, _) = split(b"", 3);
        assert_eq!(parts, [Part::Eoh]);
    }

    #[test]
    fn long_fields_are_cut_at_the_limit() {
        let mut msg = b"X: ".to_vec();
        msg.extend(std::iter::repeat_n(b'a', 500));
        msg.extend_from_slice(b"\r\n\tmore\r\nY: 1\r\n\r\n");
        let (parts, off) = split(&msg, 64);
        assert_eq!(off as usize, msg.len());
        let Part::Header(f) = &parts[0] else { panic!() };
        assert_eq!(f.raw.len(), 100);
        assert!(f.raw.ends_with(b"\r\n"));
        assert_eq!(parts[1], field("Y: 1\r\n"));
    }
}
