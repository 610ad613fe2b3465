//! The raw DEFLATE of COMPRESS=DEFLATE (RFC 4978): one compressor for what the server
//! writes, flushed with a sync flush after every write so the client can decode each batch
//! of responses whole, and one decompressor for what the client sends, which may end its
//! writes with any flush (partial or sync) or none.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Room added to the output buffer per round; DEFLATE expands text by at most ~1032×.
const OUT_STEP: usize = 16 * 1024;

pub struct Deflate {
    out: Compress,
    inp: Decompress,
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

    /// Decompresses `bytes` onto the end of `out`. Whatever `bytes` ends with, every byte
    /// the compressor has flushed so far comes out.
    pub fn decompress(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut rest = bytes;
        loop {
            if out.capacity() == out.len() {
                out.reserve(OUT_STEP);
            }
            let (in_before, out_before) = (self.inp.total_in(), self.inp.total_out());
            let status = self
                .inp
                .decompress_vec(rest, out, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (self.inp.total_in() - in_before) as usize;
            let produced = self.inp.total_out() - out_before;
            rest = rest.get(used..).unwrap_or_default();
            if status == Status::StreamEnd && !rest.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the end of the compressed stream",
                ));
            }
            if rest.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if used == 0 && produced == 0 && out.len() < out.capacity() {
                // No progress with room to spare: the rest is an incomplete block.
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_decodes_whole_on_the_other_side() {
        let mut server = Deflate::new();
        let mut client = Deflate::new();
        let mut seen = Vec::new();
        for i in 0..50 {
            let line = format!("* {i} FETCH (FLAGS (\\Seen))\r\n").repeat(i + 1);
            let wire = server.compress(line.as_bytes()).unwrap();
            let start = seen.len();
            client.decompress(&wire, &mut seen).unwrap();
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
            receiver.decompress(piece, &mut got).unwrap();
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
            receiver.decompress(piece, &mut got).unwrap();
        }
        assert_eq!(got, text.as_bytes());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = Deflate::new();
        let mut out = Vec::new();
        assert!(d.decompress(&[0xff; 64], &mut out).is_err());
    }
}
