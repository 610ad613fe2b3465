#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Any bytes as a passwd-file: no panic, and render→parse keeps every entry.
    ferrymail_users::fuzzing::passwd_file(data);
});
