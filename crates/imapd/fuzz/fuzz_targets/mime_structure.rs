//! Arbitrary messages through MIME parsing, ENVELOPE/BODYSTRUCTURE rendering and section
//! extraction: nothing may panic.
#![no_main]

use imapd::fetch::compute_cached;
use imapd::mime;
use ferrymail_imap_proto::{Section, SectionText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (_cached, msg) = compute_cached(data.to_vec(), 0);
    let root = mime::parse(&msg);
    for parts in [vec![], vec![1], vec![1, 1], vec![2, 1, 3]] {
        for text in [None, Some(SectionText::Header), Some(SectionText::Text), Some(SectionText::Mime)] {
            let _ = mime::section_bytes(&msg, &root, &Section { parts: parts.clone(), text });
        }
    }
});
