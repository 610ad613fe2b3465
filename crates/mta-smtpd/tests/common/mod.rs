//! mta-smtpd's integration tests run the real binary in a dev environment (the shared test
//! kit's `Suite`); these are the readers for what ended up in the spool.
#![allow(dead_code)]

use ferrymail_config::Config;
use ferrymail_testkit::Suite;

pub const USER: &str = "demo@example.test";
pub const PASS: &str = "demo";

/// Prepares an environment, lets `tweak` change the config, starts mta-smtpd.
pub fn start(tweak: impl FnOnce(&mut Config)) -> Suite {
    let mut s = Suite::new(&[(USER, PASS), ("other@example.test", "other-pass")]);
    // Never the machine's resolver: a test that wants client names gives its own DNS server.
    s.edit_config(|c| c.smtpd.client_name_timeout = std::time::Duration::ZERO);
    s.edit_config(tweak);
    s.start("mta-smtpd");
    s
}

/// Files anywhere under spool/tmp (must be empty when no message is in flight).
pub fn tmp_files(s: &Suite) -> Vec<String> {
    std::fs::read_dir(s.env.config.paths.spool_dir.join("tmp"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn data_files(s: &Suite) -> usize {
    std::fs::read_dir(s.env.config.paths.spool_dir.join("data"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The message bytes after the Received: header mta-smtpd prepends.
pub fn without_received(bytes: &[u8]) -> &[u8] {
    assert!(
        bytes.starts_with(b"Received: "),
        "{}",
        String::from_utf8_lossy(bytes)
    );
    // The header ends at the first CRLF not followed by a continuation (tab).
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(2).position(|w| w == b"\r\n") {
        let end = i + p + 2;
        if bytes.get(end) != Some(&b'\t') {
            return &bytes[end..];
        }
        i = end;
    }
    panic!("unterminated Received header")
}
