//! Feeds arbitrary bytes to the command collector and parser (and the recognisers of
//! streamed APPENDs and CATENATE's IMAP URLs): none may panic, and a parse error must carry the tag whenever the
//! input starts with a valid one.
#![no_main]

use ferrymail_imap_proto::parse::url::message_url;
use ferrymail_imap_proto::{
    append_before_literal, append_in_progress, next_append_message, parse_command, peek_tag,
    CommandCollector,
};
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
    let _ = append_in_progress(data);
    let _ = next_append_message(data, "INBOX");
    let _ = message_url(&String::from_utf8_lossy(data));
    let mut c = CommandCollector::new(512, 4096);
    for line in data.split(|&b| b == b'\n') {
        let _ = c.push_line(line);
    }
    let _ = parse_command(&c.take());
});
