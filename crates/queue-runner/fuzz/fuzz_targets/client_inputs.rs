//! Remote replies, EHLO keywords, relay strings and control requests: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    queue_runner::fuzzing::exercise(data);
});
