//! A scheduling index torn between its two trees must not strand a message.
//!
//! The index keeps each message's due time twice: a `msgs` record (id → time) and a `due` key
//! (time ‖ id) the dispatcher scans. A process killed between two separate writes of those
//! trees could leave the record without its key; the start-up scan trusted the record, so an
//! acknowledged message sat in `queue/` with `attempts: 0` until an admin flushed the queue.
//! Here that state is built by hand and queue-runner restarted: the message must be delivered
//! within two scan intervals, and a message committed behind the scan's back must not be
//! dropped from the index either.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_testkit::wait_until;
use queue_runner::index::{lock_instance, Index};

/// Long enough that "delivered within two scan intervals" cannot be the periodic scan
/// papering over the problem by luck, short enough for a test.
const SCAN: Duration = Duration::from_secs(4);

/// Opens the index the way queue-runner does, waiting for a just-dropped handle's sled
/// flusher to let go of the database.
fn open_index(dir: &std::path::Path) -> Index {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let opened =
            lock_instance(&dir.with_extension("lock")).and_then(|lock| Index::open(dir, lock));
        match opened {
            Ok(i) => return i,
            Err(e) if Instant::now() >= deadline => panic!("cannot open the index: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn delivered(t: &TestEnv, user: &str, body: &str) -> bool {
    let dir = t.maildir(&format!("{user}@example.test")).join("new");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|text| text.contains(body)))
        })
        .unwrap_or(false)
}

#[test]
fn a_message_whose_due_key_was_lost_is_delivered_after_restart() {
    let mut t = test_env(Zone::new(), 25);
    t.env.config.queue.scan_interval = SCAN;
    t.env.save_config().unwrap();
    let _ld = t.start_daemon("local-delivery");

    // queue-runner is not running: the message is committed and indexed as its wake-up
    // would have indexed it.
    let index_dir = t.env.config.paths.state_dir.join("queue-runner");
    let id = t.enqueue(None, &["bob@example.test"], "torn-index body");
    {
        let index = open_index(&index_dir);
        index.schedule(&id, 0).unwrap();
        index.flush();
    }
    // The tear: the `due` key is gone, the `msgs` record stays.
    {
        let db = loop {
            match sled::open(&index_dir) {
                Ok(db) => break db,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        db.open_tree("due").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    {
        let index = open_index(&index_dir);
        assert!(
            !index.fresh,
            "the torn database must be reused, not rebuilt"
        );
        assert_eq!(index.due_time(&id), Some(0), "the record survived");
        assert_eq!(
            index.scheduled_at(&id),
            None,
            "but the dispatcher cannot find it"
        );
        assert!(index.due(u64::MAX, 10, |_| false).is_empty());
    }

    let restarted = Instant::now();
    let _qr = t.start();
    let in_time = wait_until(SCAN * 2, || delivered(&t, "bob", "torn-index body"));
    assert!(
        in_time,
        "message {id} not delivered within two scan intervals ({:?}) of the restart; \
         queued: {:?}\n{}",
        SCAN * 2,
        t.queued()
            .iter()
            .map(|e| (e.id, e.attempts))
            .collect::<Vec<_>>(),
        t.log()
    );
    println!(
        "torn index: delivered {:?} after the restart",
        restarted.elapsed()
    );
    assert!(wait_until(Duration::from_secs(10), || t
        .queued()
        .is_empty()));
}
