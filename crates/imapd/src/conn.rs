//! The connection's byte I/O with buffers that exist only while there is data: an idle
//! connection waiting for its next command holds no input or output buffer at all (on
//! plaintext it waits for readability before allocating), which is what keeps tens of
//! thousands of IDLE clients cheap.
//!
//! The bytes come from the client's own TCP/TLS connection ([`SessionStream::Net`]), or, in
//! a per-login session child serving a Unix account, from the Unix socket over which imapd's
//! main process relays that connection ([`SessionStream::Relayed`]); `SessionStream` is
//! shared with pop3d. After COMPRESS both directions pass through [`Deflate`] here, so
//! everything above reads and writes plain protocol bytes either way.

use std::io;

use ferrymail_spawn::session_stream::SessionStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::deflate::Deflate;

const READ_CHUNK: usize = 4096;

pub enum LineResult {
    Line(Vec<u8>),
    /// The line was over the limit; its first bytes are kept (for the tag).
    TooLong(Vec<u8>),
    Eof,
}

pub struct Conn {
    pub stream: SessionStream,
    inbuf: Vec<u8>,
    start: usize,
    /// Set by COMPRESS; boxed, since most connections never compress.
    deflate: Option<Box<Deflate>>,
}

impl Conn {
    pub fn new(stream: SessionStream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            start: 0,
            deflate: None,
        }
    }

    /// From now on compresses what is written and decompresses what is read; bytes received
    /// but not consumed were already compressed by the client.
    pub fn start_compression(&mut self) -> io::Result<()> {
        let mut deflate = Box::new(Deflate::new());
        let pending = self.inbuf.split_off(self.start.min(self.inbuf.len()));
        self.inbuf = Vec::new();
        self.start = 0;
        deflate.decompress(&pending, &mut self.inbuf)?;
        self.deflate = Some(deflate);
        Ok(())
    }

    /// Bytes received but not consumed (must be none before a STARTTLS handshake).
    pub fn buffered(&self) -> usize {
        self.inbuf.len() - self.start
    }

    /// The stream and the bytes received but not yet consumed (commands the client
    /// pipelined behind the last one), for handing the connection on.
    pub fn into_parts(mut self) -> (SessionStream, Vec<u8>) {
        let pending = self.inbuf.split_off(self.start.min(self.inbuf.len()));
        (self.stream, pending)
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
        let Some(deflate) = self.deflate.as_mut() else {
            if self.inbuf.capacity() == 0 {
                self.stream.readable().await?;
            }
            self.inbuf.reserve(READ_CHUNK);
            let n = self.stream.read_buf(&mut self.inbuf).await?;
            return Ok(n > 0);
        };
        // Each fill inflates at most INFLATE_LIMIT bytes, so a line or literal over its
        // limit is skipped piece by piece, never held whole.
        if deflate.has_output() {
            deflate.decompress(&[], &mut self.inbuf)?;
            return Ok(true);
        }
        if self.inbuf.capacity() == 0 {
            self.stream.readable().await?;
        }
        let mut raw = Vec::with_capacity(READ_CHUNK);
        let n = self.stream.read_buf(&mut raw).await?;
        deflate.decompress(&raw, &mut self.inbuf)?;
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

    /// Between 1 and `max` bytes, for a literal streamed elsewhere (a large APPEND): what
    /// is already buffered, else one read into a buffer of `max` bytes. Ok(None) at end of
    /// stream.
    pub async fn read_chunk(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        if self.deflate.is_some() {
            // Decompressed input lands in the buffer: fill it, then take from it.
            while self.buffered() == 0 {
                if !self.fill().await? {
                    return Ok(None);
                }
            }
        }
        let pending = self.inbuf.get(self.start..).unwrap_or_default();
        if !pending.is_empty() {
            let take = pending.len().min(max);
            let out = pending.get(..take).unwrap_or_default().to_vec();
            self.start += take;
            self.compact();
            return Ok(Some(out));
        }
        let mut buf = Vec::with_capacity(max);
        let n = self.stream.read_buf(&mut buf).await?;
        Ok((n > 0).then_some(buf))
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
        match self.deflate.as_mut() {
            Some(deflate) => {
                let wire = deflate.compress(bytes)?;
                self.stream.write_all(&wire).await?;
            }
            None => self.stream.write_all(bytes).await?,
        }
        self.stream.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::INFLATE_LIMIT;

    /// A connection whose client sends `plain` compressed (one sync flush), after COMPRESS.
    fn compressed_conn(plain: Vec<u8>) -> Conn {
        let (server, mut client) = tokio::net::UnixStream::pair().expect("socket pair");
        tokio::spawn(async move {
            let wire = Deflate::new().compress(&plain).expect("compress");
            // The server may stop reading once it has seen enough.
            let _ = client.write_all(&wire).await;
            let _ = client.shutdown().await;
        });
        let mut conn = Conn::new(SessionStream::Relayed {
            sock: server,
            tls: false,
        });
        conn.start_compression().expect("nothing pending");
        conn
    }

    /// 16 MiB in a single line, sent as about 16 KB of DEFLATE: no read may hold more than
    /// the inflation limit on top of what was already buffered.
    #[tokio::test]
    async fn a_decompression_bomb_fills_the_buffer_in_bounded_steps() {
        let bomb = 16 << 20;
        let mut conn = compressed_conn(vec![b'x'; bomb]);
        let mut seen = 0;
        while conn.fill().await.expect("read") {
            let got = conn.buffered();
            assert!(got <= INFLATE_LIMIT, "{got} bytes from one read");
            seen += got;
            // Consumed, as a line being skipped is.
            conn.start = conn.inbuf.len();
            assert!(conn.inbuf.capacity() <= 2 * INFLATE_LIMIT + READ_CHUNK);
        }
        assert_eq!(seen, bomb);
    }

    #[tokio::test]
    async fn an_over_long_compressed_line_is_skipped_and_the_next_read() {
        let mut plain = b"a1 ".to_vec();
        plain.extend(std::iter::repeat_n(b'x', 16 << 20));
        plain.extend_from_slice(b"\r\na2 NOOP\r\n");
        let mut conn = compressed_conn(plain);
        match conn.read_line(8192).await.expect("read") {
            LineResult::TooLong(prefix) => assert!(prefix.starts_with(b"a1 x")),
            _ => panic!("the long line was not refused"),
        }
        match conn.read_line(8192).await.expect("read") {
            LineResult::Line(l) => assert_eq!(l, b"a2 NOOP"),
            _ => panic!("the next line was lost"),
        }
        assert!(matches!(
            conn.read_line(8192).await.expect("read"),
            LineResult::Eof
        ));
    }
}
