//! Arbitrary bytes to the response parser: whatever parses re-encodes and re-parses to the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrymail_imap_proto::fuzzing::response_roundtrip(data);
});
