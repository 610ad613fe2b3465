#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Any line sequence through the POP3 state machine and any bytes through the RETR/TOP
    // encoder: no panic, and only well-formed POP3 replies.
    pop3d::fuzzing::drive(data);
});
