//! Crash safety: 1,000 queued messages, queue-runner killed with SIGKILL at random moments
//! while it delivers them through the real local-delivery, restarted each time. Every message
//! must arrive at least once; duplicates are counted and reported (allowed: a delivery in
//! flight at the kill is retried).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_spool::{ClientInfo, Envelope, Recipient, Source};
use ferrymail_testkit::wait_until;
use rand::Rng;

const MESSAGES: usize = 1000;
const MAX_KILLS: usize = 8;

fn delivered_counts(t: &TestEnv) -> HashMap<(&'static str, usize), usize> {
    let mut counts = HashMap::new();
    for user in ["alice", "bob"] {
        let dir = t.maildir(&format!("{user}@example.test")).join("new");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            if let Some(seq) = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Test-Seq: "))
                .and_then(|s| s.trim().parse::<usize>().ok())
            {
                *counts.entry((user, seq)).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[test]
fn kill_9_during_delivery_loses_nothing() {
    let t = test_env(Zone::new(), 25);
    let _ld = t.start_daemon("local-delivery");

    let spool = t.spool();
    for seq in 0..MESSAGES {
        // Half to one user, half to both, so multi-recipient LMTP transactions are killed too.
        let rcpts = if seq % 2 == 0 {
            vec![Recipient::new("bob@example.test")]
        } else {
            vec![
                Recipient::new("bob@example.test"),
                Recipient::new("alice@example.test"),
            ]
        };
        let env = Envelope::new(
            Some("load@elsewhere.test".into()),
            rcpts,
            ClientInfo::default(),
            Source::Local,
        );
        let msg = format!("From: load@elsewhere.test\r\nSubject: load {seq}\r\nX-Test-Seq: {seq}\r\n\r\nbody {seq}\r\n");
        spool.enqueue(env, msg.as_bytes()).unwrap();
    }
    let expected_deliveries: usize = (0..MESSAGES).map(|s| if s % 2 == 0 { 1 } else { 2 }).sum();

    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let started = Instant::now();
    while kills < MAX_KILLS && !t.queued().is_empty() {
        let mut qr = t.start();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        qr.signal(nix::sys::signal::Signal::SIGKILL);
        assert!(
            qr.wait_timeout(Duration::from_secs(10)).is_some(),
            "SIGKILL must end it"
        );
        kills += 1;
    }
    let _qr = t.start();
    assert!(
        wait_until(Duration::from_secs(240), || t.queued().is_empty()),
        "queue not drained after {kills} kills; {} left; log tail:\n{}",
        t.queued().len(),
        t.log()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );

    let counts = delivered_counts(&t);
    // Every mailbox got each of its messages at least once.
    let missing: Vec<(&str, usize)> = (0..MESSAGES)
        .flat_map(|s| {
            let users: &[&'static str] = if s % 2 == 0 {
                &["bob"]
            } else {
                &["bob", "alice"]
            };
            users.iter().map(move |u| (*u, s))
        })
        .filter(|k| !counts.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "lost deliveries: {missing:?}");
    let total: usize = counts.values().sum();
    let duplicates = total.saturating_sub(expected_deliveries);
    eprintln!(
        "kill -9 test: {MESSAGES} messages, {expected_deliveries} mailbox deliveries expected, {total} made, \
         {duplicates} duplicates, {kills} kills, {:?}",
        started.elapsed()
    );
    // Nothing was quarantined: a kill never leaves a corrupt envelope.
    let corrupt = std::fs::read_dir(t.env.config.paths.spool_dir.join("corrupt"))
        .unwrap()
        .count();
    assert_eq!(corrupt, 0);
    assert!(kills >= 1, "the test must actually kill queue-runner");
}
