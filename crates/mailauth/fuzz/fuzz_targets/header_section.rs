#![no_main]

use libfuzzer_sys::fuzz_target;

// The parts of this crate that read untrusted bytes themselves (the rest is mail-auth's):
// header-section walking, authserv-id parsing, DKIM record tags and PEM keys.
fuzz_target!(|data: &[u8]| {
    ferrymail_mailauth::headers::check_invariants(data);
});
