//! Entry points of the cargo-fuzz targets in `fuzz/` (and of the unit tests that run their
//! corpora): each takes arbitrary bytes, must never panic on its own account, and asserts
//! the protocol's invariants — a failed assertion is a bug found.
//!
//! - [`session_script`]: the bytes are a script for three sessions sharing one memory store,
//!   with events from "other processes" in between (see [`script`]).
//! - [`response_roundtrip`]: whatever the response parser accepts re-encodes to bytes that
//!   parse to the same value.

mod generate;
mod mutate;
mod script;
#[cfg(test)]
mod tests;
mod view;

pub use generate::script as generated_script;
pub use mutate::{corpus, Mutator};
pub use script::session_script;

use crate::parse_response::parse_response;

/// Parses `data` as a stream of responses; each one read must survive encode → parse.
pub fn response_roundtrip(data: &[u8]) {
    let mut rest = data;
    while let Ok((r, n)) = parse_response(rest) {
        let bytes = r.to_bytes();
        match parse_response(&bytes) {
            Ok((again, m)) => {
                assert_eq!(again, r, "{}", String::from_utf8_lossy(&bytes));
                assert_eq!(m, bytes.len(), "{}", String::from_utf8_lossy(&bytes));
            }
            Err(e) => panic!("{e}: {r:?} encoded as {}", String::from_utf8_lossy(&bytes)),
        }
        rest = rest.get(n..).unwrap_or_default();
    }
}
