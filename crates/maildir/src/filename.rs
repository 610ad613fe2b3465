//! Maildir file names: generating unique ones and taking existing ones apart.
//!
//! A name is `BASE[:INFO]`. We generate Dovecot-style bases,
//! `<secs>.M<usec>P<pid>Q<seq>.<host>,S=<size>,W=<vsize>`: the pid separates processes, the
//! per-process atomic `Q` counter separates threads and quick successive deliveries, and the
//! `S=`/`W=` fields let readers learn the physical and CRLF sizes without a stat or a read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flags::Flags;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The host part of unique names, escaped once per process.
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = nix::unistd::gethostname().unwrap_or_default();
        sanitize_host(std::os::unix::ffi::OsStrExt::as_bytes(raw.as_os_str()))
    })
}

/// Escapes bytes that would break a maildir name: `/` and `:` as the maildir spec asks
/// (`\057`, `\072`), and also `,` (it would fake `S=` fields), `\` (so escapes stay
/// unambiguous) and anything non-printable, all as `\ooo` octal.
pub(crate) fn sanitize_host(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'/' | b':' | b',' | b'\\' => out.push_str(&format!("\\{b:03o}")),
            0x21..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    if out.is_empty() {
        out.push_str("localhost");
    }
    out
}

/// A fresh unique name for a file in `tmp/` (without the size fields, which are not known
/// until the message is written).
pub(crate) fn unique_tmp_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        seq,
        host()
    )
}

/// The final base: tmp name plus the size fields.
pub(crate) fn base_with_sizes(tmp_name: &str, size: u64, vsize: u64) -> String {
    format!("{tmp_name},S={size},W={vsize}")
}

/// A file name is something we may act on inside `new/` or `cur/`: one path component,
/// not hidden (dotfiles are other tools' state and can never be `.` or `..`), no NUL.
pub(crate) fn is_message_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\0'])
}

/// The parts of a message file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedName<'a> {
    pub base: &'a str,
    pub flags: Flags,
    pub size: Option<u64>,
    pub vsize: Option<u64>,
}

/// Splits a file name into base and flags and reads the `S=`/`W=` fields. Names written by
/// other programs may have neither; that is not an error.
pub(crate) fn parse_name(name: &str) -> ParsedName<'_> {
    let (base, flags) = match name.split_once(':') {
        Some((base, info)) => (base, Flags::from_info(info)),
        None => (name, Flags::empty()),
    };
    let mut size = None;
    let mut vsize = None;
    // The first comma-separated field is the unique part itself; only later fields are
    // metadata (a host name cannot contain a comma in names we write).
    for field in base.split(',').skip(1) {
        if let Some(v) = field.strip_prefix("S=") {
            size = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("W=") {
            vsize = v.parse().ok();
        }
    }
    ParsedName {
        base,
        flags,
        size,
        vsize,
    }
}

/// Sort key putting messages in delivery order: the leading seconds, then the microseconds
/// of Dovecot-style names, then the whole base for a stable order among the rest.
pub fn delivery_order_key(base: &str) -> (u64, u64, &str) {
    let mut parts = base.splitn(2, '.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let usec = parts
        .next()
        .and_then(|rest| rest.strip_prefix('M'))
        .map(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            rest.get(..digits).and_then(|d| d.parse().ok()).unwrap_or(0)
        })
        .unwrap_or(0);
    (secs, usec, base)
}

/// Counts the size a message would have with every bare LF turned into CRLF (Dovecot's
/// `W=`, what POP3 LIST and IMAP RFC822.SIZE report), across chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct SizeCounter {
    pub size: u64,
    bare_lf: u64,
    last_was_cr: bool,
}

impl SizeCounter {
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        let mut prev_cr = self.last_was_cr;
        for &b in chunk {
            if b == b'\n' && !prev_cr {
                self.bare_lf += 1;
            }
            prev_cr = b == b'\r';
        }
        if let Some(&last) = chunk.last() {
            self.last_was_cr = last == b'\r';
        }
    }

    pub fn vsize(&self) -> u64 {
        self.size + self.bare_lf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_escaping() {
        assert_eq!(sanitize_host(b"mx1.example.org"), "mx1.example.org");
        assert_eq!(sanitize_host(b"a/b:c"), "a\\057b\\072c");
        assert_eq!(sanitize_host(b"a,S=1"), "a\\054S=1");
        assert_eq!(sanitize_host(b"a\\b c\n"), "a\\134b\\040c\\012");
        assert_eq!(sanitize_host(b""), "localhost");
    }

    #[test]
    fn generated_names_have_dovecot_shape() {
        let name = unique_tmp_name();
        let (secs, rest) = name.split_once(".M").unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        let (usec, rest) = rest.split_once('P').unwrap();
        assert!(usec.parse::<u32>().unwrap() < 1_000_000);
        let (pid, rest) = rest.split_once('Q').unwrap();
        assert_eq!(pid.parse::<u32>().unwrap(), std::process::id());
        let (seq, host) = rest.split_once('.').unwrap();
        assert!(seq.parse::<u64>().unwrap() >= 1);
        assert!(!host.is_empty());
        assert!(!host.contains(['/', ':', ',']));
        assert!(is_message_file_name(&name));
        assert_ne!(unique_tmp_name(), unique_tmp_name());
    }

    #[test]
    fn parse_dovecot_name() {
        let p = parse_name("1700000000.M12P34Q5.host,S=1234,W=1260:2,FSa");
        assert_eq!(p.base, "1700000000.M12P34Q5.host,S=1234,W=1260");
        assert_eq!(p.size, Some(1234));
        assert_eq!(p.vsize, Some(1260));
        assert_eq!(p.flags.letters(), "FSa");
    }

    #[test]
    fn parse_foreign_and_junk_names() {
        let p = parse_name("1234.5678_1.host");
        assert_eq!(
            (p.base, p.size, p.vsize, p.flags),
            ("1234.5678_1.host", None, None, Flags::empty())
        );
        let p = parse_name("x,S=notanumber:2,S");
        assert_eq!((p.size, p.flags), (None, Flags::SEEN));
        // S= inside the first field is part of the unique name, not a size.
        assert_eq!(parse_name("S=5").size, None);
        assert_eq!(parse_name("a:b:c").base, "a");
    }

    #[test]
    fn order_key() {
        let mut v = [
            "1700000001.M5P1Q1.h",
            "1700000000.M900P1Q1.h",
            "1700000000.M10P1Q2.h",
            "junk",
        ];
        v.sort_by_key(|b| delivery_order_key(b));
        assert_eq!(
            v,
            [
                "1700000000.M10P1Q2.h",
                "1700000000.M900P1Q1.h",
                "1700000001.M5P1Q1.h",
                "junk"
            ]
        );
    }

    #[test]
    fn vsize_counts_bare_lf_across_chunks() {
        let mut c = SizeCounter::default();
        c.update(b"a\nb\r");
        c.update(b"\nc\n");
        c.update(b"");
        c.update(b"\r\n");
        assert_eq!(c.size, 9);
        assert_eq!(c.vsize(), 11);
    }
}
