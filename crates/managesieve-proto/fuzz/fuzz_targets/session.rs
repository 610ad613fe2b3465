//! Arbitrary client bytes through the ManageSieve framer, parser and session over an in-memory
//! store (see `ferrymail_managesieve::fuzzing::session`): no panic, every reply a whole line,
//! no storage request before a login.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrymail_managesieve::fuzzing::session(data);
});
