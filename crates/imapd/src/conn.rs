//! The connection's byte I/O with buffers that exist only while there is data: an idle
//! connection waiting for its next command holds no input or output buffer at all (on
//! plaintext it waits for readability before allocating), which is what keeps tens of
//! thousands of IDLE clients cheap.

use std::io;

use ferrymail_net::stream::MaybeTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const READ_CHUNK: usize = 4096;

pub enum LineResult {
    Line(Vec<u8>),
    /// The line was over the limit; its first bytes are kept (for the tag).
    TooLong(Vec<u8>),
    Eof,
}

pub struct Conn {
    pub stream: MaybeTls,
    inbuf: Vec<u8>,
    start: usize,
}

impl Conn {
    pub fn new(stream: MaybeTls) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            start: 0,
        }
    }

    /// Bytes received but not consumed (must be none before a STARTTLS handshake).
    pub fn buffered(&self) -> usize {
        self.inbuf.len() - self.start
    }

    fn compact(&mut self) {
        if self.start == self.inbuf.len() {
            // Nothing pending: give the memory back.
            self.inbuf = Vec::new();
            self.start = 0;
        } else if self.start > READ_CHUNK {
            self.inbuf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Reads more bytes; Ok(false) at end of stream. Cancel-safe: bytes are only ever
    /// appended after a read completed.
    async fn fill(&mut self) -> io::Result<bool> {
        self.compact();
        if let MaybeTls::Plain(tcp) = &self.stream {
            if self.inbuf.capacity() == 0 {
                tcp.readable().await?;
            }
        }
        self.inbuf.reserve(READ_CHUNK);
        let n = self.stream.read_buf(&mut self.inbuf).await?;
        Ok(n > 0)
    }

    /// One line through LF (returned without the line end). A line longer than `max` is
    /// skipped through its LF and reported as TooLong, holding at most `max` bytes.
    pub async fn read_line(&mut self, max: usize) -> io::Result<LineResult> {
        let mut skipping: Option<Vec<u8>> = None;
        loop {
            let pending = self.inbuf.get(self.start..).unwrap_or_default();
            if let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.get(..i).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
                self.start += i + 1;
                self.compact();
                if let Some(prefix) = skipping {
                    return Ok(LineResult::TooLong(prefix));
                }
                if line.len() > max {
                    return Ok(LineResult::TooLong(
                        line.get(..128).unwrap_or(&line).to_vec(),
                    ));
                }
                return Ok(LineResult::Line(line));
            }
            if pending.len() > max {
                if skipping.is_none() {
                    skipping = Some(pending.get(..128).unwrap_or(pending).to_vec());
                }
                self.start = self.inbuf.len();
            }
            if !self.fill().await? {
                return Ok(LineResult::Eof);
            }
        }
    }

    /// Exactly `n` bytes (a literal). Ok(None) at end of stream.
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(n.min(1 << 20));
        loop {
            let pending = self.inbuf.get(self.start..).unwrap_or_default();
            let take = pending.len().min(n - out.len());
            out.extend_from_slice(pending.get(..take).unwrap_or_default());
            self.start += take;
            if out.len() == n {
                self.compact();
                return Ok(Some(out));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Skips `n` bytes (an over-size non-synchronising literal).
    pub async fn skip(&mut self, mut n: u64) -> io::Result<bool> {
        loop {
            let pending = (self.inbuf.len() - self.start) as u64;
            let take = pending.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                self.compact();
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
