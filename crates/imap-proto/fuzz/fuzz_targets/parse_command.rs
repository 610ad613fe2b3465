//! Feeds arbitrary bytes to the command collector and parser (and the recogniser of
//! streamed APPENDs): none may panic, and a parse error must carry the tag whenever the
//! input starts with a valid one.
#![no_main]

use ferrymail_imap_proto::{append_before_literal, parse_command, peek_tag, CommandCollector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_command(data) {
        if let Some(t) = peek_tag(data) {
            if data.get(t.len()) == Some(&b' ') {
                assert_eq!(e.tag.as_deref(), Some(t.as_str()));
            }
        }
    }
    let _ = append_before_literal(data);
    let mut c = CommandCollector::new(512, 4096);
    for line in data.split(|&b| b == b'\n') {
        let _ = c.push_line(line);
    }
    let _ = parse_command(&c.take());
});
