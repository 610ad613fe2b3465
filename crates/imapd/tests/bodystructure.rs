//! BODYSTRUCTURE, BODY and ENVELOPE of a corpus of real-world-shaped messages (nested
//! multipart, attachments, forwarded messages, non-ASCII headers, malformed MIME), compared
//! with what Dovecot answers for the same files (`corpus/<name>.dovecot`, made by
//! `corpus/regen-dovecot.sh`) and checked against the RFC 3501 `body` grammar.

use std::path::PathBuf;

use imapd::fetch::compute_cached;

fn corpus() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("eml") {
            continue;
        }
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let eml = std::fs::read(&p).unwrap();
        let reference = std::fs::read(p.with_extension("dovecot")).unwrap();
        out.push((name, eml, reference));
    }
    out.sort();
    assert!(out.len() >= 14);
    out
}

fn ours(eml: &[u8]) -> Vec<u8> {
    let (c, _) = compute_cached(eml.to_vec(), 0);
    let mut v = b"* 1 FETCH (ENVELOPE ".to_vec();
    v.extend_from_slice(&c.envelope);
    v.extend_from_slice(b" BODY ");
    v.extend_from_slice(&c.body);
    v.extend_from_slice(b" BODYSTRUCTURE ");
    v.extend_from_slice(&c.bodystructure);
    v.push(b')');
    v
}

/// Deliberate differences from Dovecot, with what we answer instead.
/// 09: an unparsable Content-Type is text/plain; charset=us-ascii (RFC 2045 §5.2), where
/// Dovecot answers `"" ""`.
const DIFFERENT_FROM_DOVECOT: &[(&str, &str)] = &[(
    "09-garbage-content-type",
    "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"BASE64\" 10 1 NIL NIL NIL NIL)",
)];

/// Rewrites every string as `<len:bytes>` so a literal and a quoted string with the same
/// content compare equal (servers may choose either form).
fn canonical(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => {
                let mut v = Vec::new();
                i += 1;
                while s[i] != b'"' {
                    if s[i] == b'\\' {
                        i += 1;
                    }
                    v.push(s[i]);
                    i += 1;
                }
                i += 1;
                out.extend_from_slice(format!("<{}:", v.len()).as_bytes());
                out.extend_from_slice(&v);
                out.push(b'>');
            }
            b'{' => {
                let close = i + s[i..].iter().position(|&b| b == b'}').unwrap();
                let n: usize = std::str::from_utf8(&s[i + 1..close])
                    .unwrap()
                    .parse()
                    .unwrap();
                let start = close + 3;
                out.extend_from_slice(format!("<{n}:").as_bytes());
                out.extend_from_slice(&s[start..start + n]);
                out.push(b'>');
                i = start + n;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn matches_dovecot_on_the_corpus() {
    let mut failures = Vec::new();
    for (name, eml, reference) in corpus() {
        let got = ours(&eml);
        if let Some((_, expected)) = DIFFERENT_FROM_DOVECOT.iter().find(|(n, _)| *n == name) {
            let got = String::from_utf8_lossy(&got).into_owned();
            assert!(got.contains(expected), "{name}: {got}");
            continue;
        }
        if canonical(&got) != canonical(&reference) {
            failures.push(format!(
                "{name}:\n ours:    {}\n dovecot: {}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&reference)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Must equal SECTIONS in corpus/regen-dovecot.sh.
const SECTIONS: &str = "BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] BODY.PEEK[1.1] BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT DATE)] BODY.PEEK[TEXT]<5.10> RFC822.HEADER";

#[test]
fn body_sections_match_dovecot() {
    let (_, cmd) =
        ferrymail_imap_proto::parse_command(format!("x FETCH 1 ({SECTIONS})").as_bytes()).unwrap();
    let ferrymail_imap_proto::Command::Fetch { atts, .. } = cmd else {
        panic!()
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut failures = Vec::new();
    for (name, eml, _) in corpus() {
        let reference = std::fs::read(dir.join(format!("{name}.sections.dovecot"))).unwrap();
        let (c, msg) = compute_cached(eml, 0);
        let facts = imapd::fetch::Facts {
            cached: Some(c),
            content: Some(msg),
            saved: None,
        };
        // No BINARY items are asked for, so nothing can fail to decode.
        let items = imapd::fetch::items(facts, &atts).unwrap();
        let fetch =
            ferrymail_imap_proto::Response::Data(ferrymail_imap_proto::response::Data::Fetch {
                seq: 1,
                items,
            });
        let got = fetch.to_bytes();
        let got = got.strip_suffix(b"\r\n").unwrap().to_vec();
        let (a, b) = (canonical(&got), canonical(&reference));
        if a != b {
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let from = at.saturating_sub(80);
            failures.push(format!(
                "{name} differs at {at}:\n ours:    {:?}\n dovecot: {:?}",
                String::from_utf8_lossy(&a[from..(at + 80).min(a.len())]),
                String::from_utf8_lossy(&b[from..(at + 80).min(b.len())])
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A recursive-descent checker for RFC 3501's `body` and `envelope` productions.
struct G<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> G<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn lit(&mut self, t: &[u8]) -> Result<(), String> {
        if self.s[self.i..].starts_with(t) {
            self.i += t.len();
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at {}",
                String::from_utf8_lossy(t),
                self.i
            ))
        }
    }
    fn sp(&mut self) -> Result<(), String> {
        self.lit(b" ")
    }
    fn number(&mut self) -> Result<(), String> {
        let st = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        if st == self.i {
            Err(format!("expected number at {st}"))
        } else {
            Ok(())
        }
    }
    fn string(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(());
                        }
                        Some(b'\\') => self.i += 2,
                        Some(b'\r') | Some(b'\n') | None => return Err("bad quoted".into()),
                        Some(b) if b >= 0x80 => return Err("8-bit in quoted string".into()),
                        Some(_) => self.i += 1,
                    }
                }
            }
            Some(b'{') => {
                let close = self.s[self.i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("bad literal")?;
                let n: usize = std::str::from_utf8(&self.s[self.i + 1..self.i + close])
                    .unwrap()
                    .parse()
                    .map_err(|_| "bad literal size")?;
                self.i += close + 1;
                self.lit(b"\r\n")?;
                self.i += n;
                Ok(())
            }
            _ => Err(format!("expected string at {}", self.i)),
        }
    }
    fn nstring(&mut self) -> Result<(), String> {
        if self.s[self.i..].starts_with(b"NIL") {
            self.i += 3;
            Ok(())
        } else {
            self.string()
        }
    }
    fn params(&mut self) -> Result<(), String> {
        if self.s[self.i..].starts_with(b"NIL") {
            self.i += 3;
            return Ok(());
        }
        self.lit(b"(")?;
        loop {
            self.string()?;
            self.sp()?;
            self.string()?;
            if self.peek() == Some(b')') {
                self.i += 1;
                return Ok(());
            }
            self.sp()?;
        }
    }
    fn addresses(&mut self) -> Result<(), String> {
        if self.s[self.i..].starts_with(b"NIL") {
            self.i += 3;
            return Ok(());
        }
        self.lit(b"(")?;
        while self.peek() == Some(b'(') {
            self.i += 1;
            for k in 0..4 {
                if k > 0 {
                    self.sp()?;
                }
                self.nstring()?;
            }
            self.lit(b")")?;
        }
        self.lit(b")")
    }
    fn envelope(&mut self) -> Result<(), String> {
        self.lit(b"(")?;
        self.nstring()?;
        self.sp()?;
        self.nstring()?;
        for _ in 0..6 {
            self.sp()?;
            self.addresses()?;
        }
        self.sp()?;
        self.nstring()?;
        self.sp()?;
        self.nstring()?;
        self.lit(b")")
    }
    fn dsp_lang_loc(&mut self) -> Result<(), String> {
        // body-fld-dsp
        self.sp()?;
        if self.s[self.i..].starts_with(b"NIL") {
            self.i += 3;
        } else {
            self.lit(b"(")?;
            self.string()?;
            self.sp()?;
            self.params()?;
            self.lit(b")")?;
        }
        // body-fld-lang
        self.sp()?;
        if self.peek() == Some(b'(') {
            self.i += 1;
            self.string()?;
            while self.peek() == Some(b' ') {
                self.i += 1;
                self.string()?;
            }
            self.lit(b")")?;
        } else {
            self.nstring()?;
        }
        // body-fld-loc
        self.sp()?;
        self.nstring()
    }
    fn body(&mut self, ext: bool) -> Result<(), String> {
        self.lit(b"(")?;
        if self.peek() == Some(b'(') {
            while self.peek() == Some(b'(') {
                self.body(ext)?;
            }
            self.sp()?;
            self.string()?;
            if ext {
                self.sp()?;
                self.params()?;
                self.dsp_lang_loc()?;
            }
            return self.lit(b")");
        }
        let type_start = self.i;
        self.string()?;
        let mtype = String::from_utf8_lossy(&self.s[type_start..self.i]).to_lowercase();
        self.sp()?;
        let sub_start = self.i;
        self.string()?;
        let sub = String::from_utf8_lossy(&self.s[sub_start..self.i]).to_lowercase();
        self.sp()?;
        self.params()?;
        self.sp()?;
        self.nstring()?; // id
        self.sp()?;
        self.nstring()?; // description
        self.sp()?;
        self.string()?; // encoding
        self.sp()?;
        self.number()?; // octets
        if mtype == "\"message\"" && sub == "\"rfc822\"" {
            self.sp()?;
            self.envelope()?;
            self.sp()?;
            self.body(ext)?;
            self.sp()?;
            self.number()?;
        } else if mtype == "\"text\"" {
            self.sp()?;
            self.number()?;
        }
        if ext {
            self.sp()?;
            self.nstring()?; // md5
            self.dsp_lang_loc()?;
        }
        self.lit(b")")
    }
}

#[test]
fn output_follows_the_rfc3501_grammar() {
    for (name, eml, _) in corpus() {
        let (c, _) = compute_cached(eml, 0);
        for (what, bytes, ext) in [
            ("BODY", &c.body, false),
            ("BODYSTRUCTURE", &c.bodystructure, true),
        ] {
            let mut g = G { s: bytes, i: 0 };
            g.body(ext)
                .and_then(|_| {
                    if g.i == bytes.len() {
                        Ok(())
                    } else {
                        Err("trailing bytes".into())
                    }
                })
                .unwrap_or_else(|e| {
                    panic!("{name} {what}: {e}: {}", String::from_utf8_lossy(bytes))
                });
        }
        let mut g = G {
            s: &c.envelope,
            i: 0,
        };
        g.envelope().unwrap_or_else(|e| {
            panic!(
                "{name} ENVELOPE: {e}: {}",
                String::from_utf8_lossy(&c.envelope)
            )
        });
    }
}
