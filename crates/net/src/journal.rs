//! Log priorities for systemd's journal. A service's stderr is a stream into journald, which
//! records every line at the unit's default priority ("info") unless the line starts with a
//! `<N>` syslog priority prefix (sd-daemon(3); `SyslogLevelPrefix=yes`, the default). So when
//! stderr really is that stream, each line gets the prefix of its event's level and
//! `journalctl -p warning` shows warnings and errors only.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` (set by systemd, see
/// systemd.exec(5)) names the device and inode of the stream it connected, and a child whose
/// stderr was redirected elsewhere inherits the variable but not the stream.
pub fn stderr_is_journal() -> bool {
    let var = std::env::var_os("JOURNAL_STREAM");
    connected_to_journal(var.as_deref(), io::stderr().as_fd())
}

/// `var` is `JOURNAL_STREAM`'s value, `<device>:<inode>` in decimal; `fd` is the stream to check.
fn connected_to_journal(var: Option<&OsStr>, fd: BorrowedFd<'_>) -> bool {
    let Some((dev, ino)) = var.and_then(|v| v.to_str()).and_then(parse_stream) else {
        return false;
    };
    match nix::sys::stat::fstat(fd) {
        Ok(st) => u64::from(st.st_dev) == dev && u64::from(st.st_ino) == ino,
        Err(_) => false,
    }
}

fn parse_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The syslog(3) priority journald records for a tracing level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// A [`MakeWriter`] whose writers start every line with the `<N>` prefix of the event's level.
#[derive(Debug, Clone)]
pub struct Prioritized<M> {
    inner: M,
}

impl<M> Prioritized<M> {
    pub fn new(inner: M) -> Prioritized<M> {
        Prioritized { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Prioritized<M> {
    type Writer = PrefixedLines<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedLines::new(self.inner.make_writer(), priority(&Level::INFO))
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        PrefixedLines::new(self.inner.make_writer_for(meta), priority(meta.level()))
    }
}

/// Collects one event's text and writes it, each line prefixed, in a single write when
/// flushed or dropped: a line that continues the message (a multi-line error) must carry the
/// prefix too, or journald files it as "info".
pub struct PrefixedLines<W: Write> {
    inner: W,
    priority: u8,
    buf: Vec<u8>,
}

impl<W: Write> PrefixedLines<W> {
    pub fn new(inner: W, priority: u8) -> PrefixedLines<W> {
        PrefixedLines {
            inner,
            priority,
            buf: Vec::new(),
        }
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let out = prefix_lines(self.priority, &self.buf);
        self.buf.clear();
        self.inner.write_all(&out)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for PrefixedLines<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for PrefixedLines<W> {
    fn drop(&mut self) {
        // Nowhere left to report a failed write of a log line.
        let _ = self.emit();
    }
}

/// `text` with `<priority>` before each of its lines.
fn prefix_lines(priority: u8, text: &[u8]) -> Vec<u8> {
    let prefix = format!("<{priority}>");
    let mut out = Vec::with_capacity(text.len() + prefix.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn every_line_of_an_event_gets_the_prefix() {
        assert_eq!(prefix_lines(4, b"one\n"), b"<4>one\n");
        assert_eq!(prefix_lines(3, b"one\ntwo\n"), b"<3>one\n<3>two\n");
        assert_eq!(prefix_lines(6, b"no newline"), b"<6>no newline");
    }

    /// A writer into a buffer the test keeps.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_subscriber_writes_each_event_with_its_levels_prefix() {
        let out = Shared::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Prioritized::new(move || sink.clone()))
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("broken");
            tracing::warn!("odd");
            tracing::info!("fine");
            tracing::debug!("detail");
            tracing::error!("first line\nsecond line");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        let want = ["<3>", "<4>", "<6>", "<7>", "<3>", "<3>"];
        for (line, prefix) in lines.iter().zip(want) {
            assert!(
                line.starts_with(prefix),
                "{line:?} should start with {prefix}"
            );
        }
        assert!(lines[0].ends_with("broken"), "{text}");
        assert_eq!(lines[5], "<3>second line");
    }

    #[test]
    fn journal_stream_must_name_the_very_stream() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("stream")).unwrap();
        let meta = file.metadata().unwrap();
        let ours = format!("{}:{}", meta.dev(), meta.ino());
        let other = format!("{}:{}", meta.dev(), meta.ino() + 1);
        let fd = file.as_fd();
        assert!(connected_to_journal(Some(OsStr::new(&ours)), fd));
        assert!(!connected_to_journal(Some(OsStr::new(&other)), fd));
        assert!(!connected_to_journal(Some(OsStr::new("garbage")), fd));
        assert!(!connected_to_journal(Some(OsStr::new("1:")), fd));
        assert!(!connected_to_journal(None, fd));
    }
}
