#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as a milter's replies: negotiation, then every event in turn. Panics
    // inside on a broken invariant (a refusal that is not 4xx/5xx, an action not offered).
    let _ = ferrymail_milter::fuzzing::replies(data);
});
