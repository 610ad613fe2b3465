//! Command framing: lines and literals (`{N}` and LITERAL+'s `{N+}`), with the size limits
//! decided here before any byte is buffered. The shell reads a line, pushes it, and reads
//! exactly the literal size announced (after a `+` continuation for the synchronising form).

/// What the collector needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Collected {
    /// The command is complete; take it with [`CommandCollector::take`].
    Complete,
    /// A literal of this many bytes follows; `sync` means the client waits for `+`.
    Literal { size: u64, sync: bool },
}

/// Why a command could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    #[error("command line too long")]
    LineTooLong,
    #[error("literal too large")]
    LiteralTooLarge { size: u64, sync: bool },
}

/// Assembles a command from its lines and literals, enforcing the size limits.
#[derive(Debug, Default)]
pub struct CommandCollector {
    buf: Vec<u8>,
    max_line: usize,
    max_literal: u64,
}

impl CommandCollector {
    pub fn new(max_line: usize, max_literal: u64) -> Self {
        CommandCollector {
            buf: Vec::new(),
            max_line,
            max_literal,
        }
    }

    /// Adds one line (with or without its CRLF). The non-literal text of a command counts
    /// against the line limit as a whole, so a client cannot grow it with empty literals.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Collected, CollectError> {
        let line = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        self.buf.extend_from_slice(line);
        if line.len() > self.max_line {
            self.reset();
            return Err(CollectError::LineTooLong);
        }
        match literal_marker(line) {
            Some((size, sync)) => {
                if size > self.max_literal {
                    self.reset();
                    return Err(CollectError::LiteralTooLarge { size, sync });
                }
                self.buf.extend_from_slice(b"\r\n");
                Ok(Collected::Literal { size, sync })
            }
            None => Ok(Collected::Complete),
        }
    }

    /// Adds literal bytes (after [`Collected::Literal`]).
    pub fn push_literal(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The bytes collected so far (for a peek at the tag).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Hands over the complete command and starts afresh (releasing the buffer so an idle
    /// connection holds no command memory).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn reset(&mut self) {
        self.buf = Vec::new();
    }
}

/// `{N}` or `{N+}` at the end of a line.
pub fn literal_marker(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let spec = inner.get(open + 1..)?;
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (spec, true),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((size, sync))
}
