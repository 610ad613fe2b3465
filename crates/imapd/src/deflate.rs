//! The raw DEFLATE of COMPRESS=DEFLATE (RFC 4978): one compressor for what the server
//! writes, flushed with a sync flush after every write so the client can decode each batch
//! of responses whole, and one decompressor for what the client sends, which may end its
//! writes with any flush (partial or sync) or none.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Room added to the output buffer per round; DEFLATE expands text by at most ~1032×.
const OUT_STEP: usize = 16 * 1024;

/// The most one [`Deflate::decompress`] call adds to its output.
pub const INFLATE_LIMIT: usize = 64 * 1024;

pub struct Deflate {
    out: Compress,
    inp: Decompress,
    /// Compressed input not yet taken by the decompressor (at most one read's worth, since
    /// nothing is read while [`Deflate::has_output`]).
    unread: Vec<u8>,
    /// The last decompression stopped at [`INFLATE_LIMIT`].
    full: bool,
}

impl Default for Deflate {
    fn default() -> Deflate {
        Deflate::new()
    }
}

impl Deflate {
    pub fn new() -> Deflate {
        Deflate {
            // `false`: raw DEFLATE, no zlib header or trailer.
            out: Compress::new(Compression::default(), false),
            inp: Decompress::new(false),
            unread: Vec::new(),
            full: false,
        }
    }

    /// `bytes` compressed and sync-flushed (so the peer can decode all of it now).
    pub fn compress(&mut self, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
        let mut rest = bytes;
        loop {
            if out.capacity() == out.len() {
                out.reserve(OUT_STEP);
            }
            let before = self.out.total_in();
            self.out
                .compress_vec(rest, &mut out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let used = (self.out.total_in() - before) as usize;
            rest = rest.get(used..).unwrap_or_default();
            // The flush is complete once all input is taken and the output did not fill up.
            if rest.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Takes `bytes` of compressed input and decompresses onto the end of `out` at most
    /// [`INFLATE_LIMIT`] bytes of what it and the input before it hold: a few KB of DEFLATE
    /// may expand to MBs, and the reader's buffer must stay within the command size limits.
    /// When the limit stopped it, [`Deflate::has_output`] says so and the next call (with
    /// no new input) goes on. Whatever the input ends with, every byte the compressor has
    /// flushed so far comes out over such calls.
    pub fn decompress(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.unread.extend_from_slice(bytes);
        self.full = false;
        let start = out.len();
        loop {
            let room = INFLATE_LIMIT - (out.len() - start);
            if room == 0 {
                self.full = true;
                return Ok(());
            }
            let step = room.min(OUT_STEP);
            let at = out.len();
            out.resize(at + step, 0);
            let (in_before, out_before) = (self.inp.total_in(), self.inp.total_out());
            let result = self.inp.decompress(
                &self.unread,
                out.get_mut(at..).unwrap_or_default(),
                FlushDecompress::None,
            );
            let used = (self.inp.total_in() - in_before) as usize;
            let produced = (self.inp.total_out() - out_before) as usize;
            out.truncate(at + produced);
            self.unread.drain(..used.min(self.unread.len()));
            let status = result.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if status == Status::StreamEnd && !self.unread.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the end of the compressed stream",
                ));
            }
            // Done when all input went in with room to spare, or when nothing moves: the
            // rest is an incomplete block waiting for more input. The decompressor may stop
            // short of both at a flush point, so otherwise go on.
            if produced < step && (self.unread.is_empty() || (used == 0 && produced == 0)) {
                return Ok(());
            }
        }
    }

    /// The last [`Deflate::decompress`] stopped at [`INFLATE_LIMIT`]: more output may come
    /// without reading anything.
    pub fn has_output(&self) -> bool {
        self.full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `bytes` completes, in calls that each add at most the limit.
    fn inflate(d: &mut Deflate, bytes: &[u8], out: &mut Vec<u8>) {
        let mut before = out.len();
        d.decompress(bytes, out).unwrap();
        loop {
            assert!(out.len() - before <= INFLATE_LIMIT);
            if !d.has_output() {
                return;
            }
            before = out.len();
            d.decompress(&[], out).unwrap();
        }
    }

    #[test]
    fn each_write_decodes_whole_on_the_other_side() {
        let mut server = Deflate::new();
        let mut client = Deflate::new();
        let mut seen = Vec::new();
        for i in 0..50 {
            let line = format!("* {i} FETCH (FLAGS (\\Seen))\r\n").repeat(i + 1);
            let wire = server.compress(line.as_bytes()).unwrap();
            let start = seen.len();
            inflate(&mut client, &wire, &mut seen);
            assert_eq!(seen.get(start..).unwrap(), line.as_bytes());
        }
    }

    #[test]
    fn input_split_anywhere_decodes_to_the_same_bytes() {
        let text: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut sender = Deflate::new();
        let wire = sender.compress(&text).unwrap();
        let mut receiver = Deflate::new();
        let mut got = Vec::new();
        for piece in wire.chunks(7) {
            inflate(&mut receiver, piece, &mut got);
        }
        assert_eq!(got, text);
    }

    #[test]
    fn highly_compressible_input_in_socket_sized_reads() {
        let text: String = (0..4000)
            .map(|i| format!("line {i} of the body\r\n"))
            .collect();
        let mut sender = Deflate::new();
        let wire = sender.compress(text.as_bytes()).unwrap();
        let mut receiver = Deflate::new();
        let mut got = Vec::new();
        for piece in wire.chunks(4096) {
            inflate(&mut receiver, piece, &mut got);
        }
        assert_eq!(got, text.as_bytes());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = Deflate::new();
        let mut out = Vec::new();
        assert!(d.decompress(&[0xff; 64], &mut out).is_err());
    }

    /// A decompression bomb: 16 MiB of one byte in about 16 KB. One call inflates at most
    /// the limit whatever it is given, and the rest still comes out, call by call.
    #[test]
    fn a_bomb_inflates_in_bounded_steps() {
        let bomb_size = 16 << 20;
        let mut sender = Deflate::new();
        let wire = sender.compress(&vec![b'a'; bomb_size]).unwrap();
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        let mut receiver = Deflate::new();
        let mut out = Vec::new();
        receiver.decompress(&wire, &mut out).unwrap();
        assert_eq!(out.len(), INFLATE_LIMIT);
        assert!(receiver.has_output());
        let mut total = out.len();
        let mut calls = 1;
        while receiver.has_output() {
            out.clear();
            receiver.decompress(&[], &mut out).unwrap();
            assert!(out.len() <= INFLATE_LIMIT);
            assert!(out.iter().all(|&b| b == b'a'));
            total += out.len();
            calls += 1;
        }
        assert_eq!(total, bomb_size);
        // One more, empty, call when the last step ended exactly at the limit.
        assert!(calls <= bomb_size.div_ceil(INFLATE_LIMIT) + 1, "{calls}");
    }
}
