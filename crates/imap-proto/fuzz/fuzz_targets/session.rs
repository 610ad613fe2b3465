//! A script for three sessions sharing one in-memory store (see
//! `ferrymail_imap_proto::fuzzing::session_script`): every command answered exactly once,
//! no sequence number or UID the client was not told of (EXPUNGE, VANISHED, FETCH, ESEARCH
//! updates), EXISTS never shrinking without EXPUNGE, MODSEQ and HIGHESTMODSEQ never going
//! down, no EXPUNGE after ENABLE QRESYNC, every response re-parsing to itself, only BYE and
//! OK in reply to LOGOUT, and no panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrymail_imap_proto::fuzzing::session_script(data);
});
