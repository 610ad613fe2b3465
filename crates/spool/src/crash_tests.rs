//! Simulated crashes at every step of a commit, then a restart: open, scan, cleanup.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::*;

fn message() -> Vec<u8> {
    // Every byte value, bare CR and LF, NULs, and long enough to pass through the writer's
    // buffer several times.
    let mut m = b"Subject: crash test\r\n\r\n".to_vec();
    for i in 0..300_000u32 {
        m.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    m
}

fn envelope() -> Envelope {
    Envelope::new(
        Some("sender@example.org".into()),
        vec![Recipient::new("rcpt@example.net")],
        ClientInfo {
            protocol: "ESMTP".into(),
            ..ClientInfo::default()
        },
        Source::Smtp { role: "mx".into() },
    )
}

fn read_message(spool: &Spool, id: &QueueId) -> Vec<u8> {
    let mut back = Vec::new();
    spool
        .open_message(id)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    back
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn crash_after_every_commit_step_then_restart() {
    let msg = message();
    for step in CommitStep::ALL {
        let root = tempfile::tempdir().unwrap();
        let mut spool = Spool::create_layout(root.path()).unwrap();
        spool.set_crash_after(Some(step));
        let mut w = spool.writer().unwrap();
        w.write_all(&msg).unwrap();
        let err = w.commit(envelope()).unwrap_err();
        assert!(
            matches!(err, SpoolError::InjectedCrash(s) if s == step),
            "{step:?}: {err}"
        );

        // The "restarted" process sees only what the killed one left on disk.
        let spool = Spool::open(root.path()).unwrap();
        let committed = matches!(
            step,
            CommitStep::EnvelopeRenamed | CommitStep::QueueDirSynced
        );
        let report = spool.scan().unwrap();
        assert!(
            report.quarantined.is_empty(),
            "{step:?}: {:?}",
            report.quarantined
        );
        assert!(report.errors.is_empty(), "{step:?}: {:?}", report.errors);
        // Every file visible in queue/ is a complete envelope.
        assert_eq!(report.ok.len(), entries(&root.path().join("queue")).len());
        assert_eq!(report.ok.len(), usize::from(committed), "{step:?}");

        let cleaned = spool.cleanup(Duration::ZERO).unwrap();
        assert!(entries(&root.path().join("tmp")).is_empty(), "{step:?}");
        let data = entries(&root.path().join("data"));
        if committed {
            let env = &report.ok[0];
            assert_eq!(data, vec![env.id.to_string()]);
            assert_eq!(cleaned.orphans_removed, 0);
            let back = read_message(&spool, &env.id);
            assert_eq!(back, msg, "{step:?}");
            assert_eq!(env.size, msg.len() as u64);
        } else {
            assert!(data.is_empty(), "{step:?}: orphan data left: {data:?}");
            let had_data = !matches!(step, CommitStep::DataSynced);
            assert_eq!(cleaned.orphans_removed, usize::from(had_data), "{step:?}");
        }

        // A second restart finds the same state: recovery is idempotent.
        let again = spool.scan().unwrap();
        assert_eq!(again.ok, report.ok);
        assert!(again.quarantined.is_empty());
    }
}

#[test]
fn successful_commit_survives_restart() {
    let root = tempfile::tempdir().unwrap();
    let spool = Spool::create_layout(root.path()).unwrap();
    let msg = message();
    let mut w = spool.writer().unwrap();
    for chunk in msg.chunks(1000) {
        w.write_all(chunk).unwrap();
    }
    let id = w.commit(envelope()).unwrap();
    drop(spool);

    let spool = Spool::open(root.path()).unwrap();
    spool.cleanup(Duration::ZERO).unwrap();
    let report = spool.scan().unwrap();
    assert_eq!(report.ok.len(), 1);
    assert_eq!(report.ok[0].id, id);
    let back = read_message(&spool, &id);
    assert_eq!(back, msg);
    assert!(entries(&root.path().join("tmp")).is_empty());
}

#[test]
fn crash_while_streaming_leaves_only_tmp_garbage() {
    let root = tempfile::tempdir().unwrap();
    let spool = Spool::create_layout(root.path()).unwrap();
    let mut w = spool.writer().unwrap();
    w.write_all(&message()[..100_000]).unwrap();
    w.crash();
    assert_eq!(entries(&root.path().join("tmp")).len(), 1);

    let spool = Spool::open(root.path()).unwrap();
    let report = spool.scan().unwrap();
    assert!(report.ok.is_empty() && report.quarantined.is_empty());
    // Fresh garbage is kept (its writer might still be alive), old garbage goes.
    assert_eq!(
        spool
            .cleanup(Duration::from_secs(3600))
            .unwrap()
            .tmp_removed,
        0
    );
    assert_eq!(spool.cleanup(Duration::ZERO).unwrap().tmp_removed, 1);
    assert!(entries(&root.path().join("tmp")).is_empty());
}

/// A batch cut in the middle: many commits share their directory flushes, and some of them
/// die at every step while the rest complete. After the restart, exactly the completed ones
/// (and those that died after their commit point) are queued, whole; nothing is quarantined.
#[test]
fn concurrent_commits_sharing_flushes_with_crashes_in_the_middle() {
    let root = tempfile::tempdir().unwrap();
    let spool = Spool::create_layout(root.path()).unwrap();
    let msg = std::sync::Arc::new(message());
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CommitStep::ALL.len() * 2));
    let mut handles = Vec::new();
    for step in CommitStep::ALL.into_iter().map(Some).chain([None; 8]) {
        let (mut spool, msg, barrier) = (spool.clone(), msg.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            spool.set_crash_after(step);
            let mut w = spool.writer().unwrap();
            w.write_all(&msg).unwrap();
            barrier.wait();
            (step, w.commit(envelope()))
        }));
    }
    let mut clean = Vec::new();
    for h in handles {
        let (step, r) = h.join().unwrap();
        match step {
            None => clean.push(r.unwrap()),
            Some(step) => assert!(matches!(r, Err(SpoolError::InjectedCrash(s)) if s == step)),
        }
    }

    let spool = Spool::open(root.path()).unwrap();
    let report = spool.scan().unwrap();
    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    let mut queued: Vec<QueueId> = report.ok.iter().map(|e| e.id).collect();
    queued.sort();
    // The 8 clean commits and the two writers that died past their commit point.
    assert_eq!(queued.len(), 8 + 2);
    assert!(clean.iter().all(|id| queued.contains(id)));
    spool.cleanup(Duration::ZERO).unwrap();
    assert!(entries(&root.path().join("tmp")).is_empty());
    for env in &report.ok {
        let back = read_message(&spool, &env.id);
        assert_eq!(back, *msg);
    }
    assert_eq!(entries(&root.path().join("data")).len(), queued.len());
}
