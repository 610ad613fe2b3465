//! Header completion for mail from authenticated submission clients (RFC 6409 §8.2, §8.3): a
//! message without `Date:` or `Message-ID:` gets them, as Postfix's cleanup does for its own
//! users, because recipients' filters and threading treat mail without them as broken. Mail
//! arriving on the MX role is never changed.
//!
//! Sans-IO and streaming: message bytes are held only until the end of the header section
//! (at most [`MAX_HELD`]; a header section longer than that passes unchanged), then the
//! missing fields are appended to it and everything flows through.

use std::borrow::Cow;

/// The most header bytes held back while looking for the end of the header section.
pub const MAX_HELD: usize = 1 << 20;

pub struct HeaderCompletion {
    held: Vec<u8>,
    passing: bool,
    message_id: String,
    date: String,
}

impl HeaderCompletion {
    /// `message_id` with its angle brackets; `date` in RFC 5322 form.
    pub fn new(message_id: String, date: String) -> HeaderCompletion {
        HeaderCompletion {
            held: Vec::new(),
            passing: false,
            message_id,
            date,
        }
    }

    /// Takes the next decoded message bytes and returns what may be written now.
    pub fn feed<'a>(&mut self, data: &'a [u8]) -> Cow<'a, [u8]> {
        if self.passing {
            return Cow::Borrowed(data);
        }
        let from = self.held.len().saturating_sub(3);
        self.held.extend_from_slice(data);
        let end = if self.held.starts_with(b"\r\n") {
            Some(0)
        } else {
            self.held
                .get(from..)
                .unwrap_or_default()
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| from + i + 2)
        };
        match end {
            Some(i) => Cow::Owned(self.complete_at(i)),
            None if self.held.len() > MAX_HELD => {
                self.passing = true;
                Cow::Owned(std::mem::take(&mut self.held))
            }
            None => Cow::Borrowed(&[]),
        }
    }

    /// The message ended: whatever is still held (a message that is all header).
    pub fn finish(&mut self) -> Vec<u8> {
        if self.passing {
            return Vec::new();
        }
        if !self.held.is_empty() && !self.held.ends_with(b"\r\n") {
            self.held.extend_from_slice(b"\r\n");
        }
        let at = self.held.len();
        self.complete_at(at)
    }

    /// Inserts the missing fields at `at`, the end of the header section (just before its
    /// blank line), and starts passing everything through.
    fn complete_at(&mut self, at: usize) -> Vec<u8> {
        self.passing = true;
        let held = std::mem::take(&mut self.held);
        let (head, rest) = held.split_at(at.min(held.len()));
        let (has_date, has_id) = present(head);
        let mut out = Vec::with_capacity(held.len() + 128);
        out.extend_from_slice(head);
        if !has_date {
            out.extend_from_slice(format!("Date: {}\r\n", self.date).as_bytes());
        }
        if !has_id {
            out.extend_from_slice(format!("Message-ID: {}\r\n", self.message_id).as_bytes());
        }
        out.extend_from_slice(rest);
        out
    }
}

/// Whether the header section has a `Date:` and a `Message-ID:` field.
fn present(head: &[u8]) -> (bool, bool) {
    let (mut date, mut id) = (false, false);
    for line in head.split(|&b| b == b'\n') {
        if line.first().is_none_or(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii();
        date |= name.eq_ignore_ascii_case(b"date");
        id |= name.eq_ignore_ascii_case(b"message-id");
    }
    (date, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = HeaderCompletion::new(
            "<Q1@mx.test>".into(),
            "Mon, 23 Nov 2026 16:00:00 +0000".into(),
        );
        let mut out = Vec::new();
        for ch in chunks {
            out.extend_from_slice(&c.feed(ch));
        }
        out.extend(c.finish());
        out
    }

    #[test]
    fn adds_what_is_missing_at_the_end_of_the_header_section() {
        let out = run(&[
            b"From: a@x\r\nSubj",
            b"ect: hi\r\n\r",
            b"\nbody\r\n\r\nmore\r\n",
        ]);
        assert_eq!(
            out,
            b"From: a@x\r\nSubject: hi\r\nDate: Mon, 23 Nov 2026 16:00:00 +0000\r\nMessage-ID: <Q1@mx.test>\r\n\r\nbody\r\n\r\nmore\r\n"
        );
    }

    #[test]
    fn keeps_a_message_that_has_both() {
        let msg: &[u8] =
            b"DATE: x\r\nmessage-id : <m@x>\r\nFrom: a@x\r\n\r\nMessage-ID: not a header\r\n";
        assert_eq!(run(&[msg]), msg);
        // Only a field name at the start of a line counts, not a folded continuation.
        let out = run(&[b"Subject: a\r\n Date: b\r\n\r\nx\r\n"]);
        assert!(
            out.starts_with(b"Subject: a\r\n Date: b\r\nDate: Mon"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn header_only_and_empty_header_messages() {
        assert_eq!(
            run(&[b"Subject: a"]),
            b"Subject: a\r\nDate: Mon, 23 Nov 2026 16:00:00 +0000\r\nMessage-ID: <Q1@mx.test>\r\n"
        );
        assert_eq!(
            run(&[b"\r\nbody\r\n"]),
            b"Date: Mon, 23 Nov 2026 16:00:00 +0000\r\nMessage-ID: <Q1@mx.test>\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn an_endless_header_section_passes_unchanged() {
        let line =
            b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let chunks: Vec<&[u8]> =
            std::iter::repeat_n(&line[..], MAX_HELD / line.len() + 10).collect();
        let out = run(&chunks);
        assert_eq!(out.len(), line.len() * chunks.len());
        assert!(!out.windows(5).any(|w| w == b"Date:"));
    }
}
