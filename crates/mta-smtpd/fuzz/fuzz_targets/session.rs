#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Panics inside on any broken invariant (reply format, enhanced codes, envelopes queued
    // without recipients or, on submission ports, without AUTH).
    let _ = mta_smtpd::fuzzing::run(data);
});
