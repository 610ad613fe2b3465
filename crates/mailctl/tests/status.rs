//! `mailctl status` reports the queue and what answers, from the same config the daemons use.

use std::process::Command;

use ferrymail_spool::{ClientInfo, Envelope, Recipient, Source, Spool};
use ferrymail_testkit::process::success;
use ferrymail_testkit::Suite;

const MAILCTL: &str = env!("CARGO_BIN_EXE_mailctl");

#[test]
fn status_counts_queue_and_probes_listeners() {
    let suite = Suite::new(&[]);
    let env = &suite.env;
    let spool = Spool::open(&env.config.paths.spool_dir).unwrap();
    for _ in 0..3 {
        let e = Envelope::new(
            Some("a@example.test".into()),
            vec![Recipient::new("b@example.test")],
            ClientInfo::default(),
            Source::Local,
        );
        spool.enqueue(e, b"Subject: x\r\n\r\nbody\r\n").unwrap();
    }
    let id = spool.list(ferrymail_spool::QueueDir::Active).unwrap()[0];
    spool.hold(&id).unwrap();
    // Something listening on the SMTP port, nothing on the others.
    let smtp = std::net::TcpListener::bind(("127.0.0.1", env.ports.smtp)).unwrap();

    let out = Command::new(MAILCTL)
        .arg("-c")
        .arg(&env.config_path)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(v["queue"]["active"], 2);
    assert_eq!(v["queue"]["hold"], 1);
    assert!(v["disk"]["spool_bytes"].as_u64().unwrap() > 0);
    let listeners = v["listeners"].as_array().unwrap();
    let mx = listeners.iter().find(|l| l["role"] == "mx").unwrap();
    assert_eq!(mx["answers"], true);
    let imap = listeners.iter().find(|l| l["role"] == "imap").unwrap();
    assert_eq!(imap["answers"], false);
    drop(smtp);

    let text = Command::new(MAILCTL)
        .arg("-c")
        .arg(&env.config_path)
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("queue: 2 active, 1 held"), "{text}");
}
