mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use ferrymail_spool::*;

#[test]
fn layout_modes_and_open_checks() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("spool");
    assert!(matches!(
        Spool::open(&path),
        Err(SpoolError::BadLayout { .. })
    ));
    Spool::create_layout(&path).unwrap();
    // Idempotent.
    Spool::create_layout(&path).unwrap();
    for d in ["tmp", "data", "queue", "hold", "corrupt"] {
        let mode = fs::metadata(path.join(d)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{d}");
    }
    let mode = fs::metadata(path.join("maildrop"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o1730);

    fs::remove_dir(path.join("hold")).unwrap();
    fs::write(path.join("hold"), b"").unwrap();
    assert!(matches!(
        Spool::open(&path),
        Err(SpoolError::BadLayout { .. })
    ));
}

#[test]
fn round_trip_envelope_and_binary_message() {
    let (_root, spool) = spool();
    let msg = binary_message(1 << 20);
    let mut w = spool.writer().unwrap();
    for chunk in msg.chunks(4093) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.bytes_written(), msg.len() as u64);
    let mut env = envelope();
    env.size = 1; // the spool must overwrite this with the real size
    let id = w.commit(env.clone()).unwrap();

    let reopened = Spool::open(spool.root()).unwrap();
    let back = reopened.read_envelope(&id).unwrap();
    env.id = id;
    env.size = msg.len() as u64;
    assert_eq!(back, env);
    assert_eq!(read_message(&reopened, &id), msg);
    assert_eq!(reopened.list(QueueDir::Active).unwrap(), vec![id]);
    assert_eq!(reopened.locate(&id).unwrap(), Some(QueueDir::Active));
    let report = reopened.scan().unwrap();
    assert_eq!(report.ok, vec![env]);
}

#[test]
fn enqueue_in_memory_and_list_sorted() {
    let (_root, spool) = spool();
    let mut ids = Vec::new();
    for i in 0..20u8 {
        ids.push(spool.enqueue(envelope(), &[i; 100]).unwrap());
    }
    let listed = spool.list(QueueDir::Active).unwrap();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(
        listed, ids,
        "ids from one process come out in creation order"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(read_message(&spool, id), vec![i as u8; 100]);
    }
    let empty = spool.enqueue(envelope(), b"").unwrap();
    assert_eq!(spool.read_envelope(&empty).unwrap().size, 0);
    assert!(read_message(&spool, &empty).is_empty());
}

#[test]
fn dropped_writer_leaves_nothing() {
    let (_root, spool) = spool();
    let mut w = spool.writer().unwrap();
    w.write_all(&binary_message(200_000)).unwrap();
    assert_eq!(entries(&spool.root().join("tmp")).len(), 1);
    drop(w);
    let w = spool.writer().unwrap();
    w.abort();
    for d in ["tmp", "data", "queue"] {
        assert!(entries(&spool.root().join(d)).is_empty(), "{d}");
    }
}

#[test]
fn update_envelope_replaces_atomically() {
    let (_root, spool) = spool();
    let id = spool.enqueue(envelope(), b"body").unwrap();
    let mut env = spool.read_envelope(&id).unwrap();
    env.recipients[0].status = RecipientStatus::Delivered {
        at: 1_700_000_000,
        relay: "mx.example.net[198.51.100.1]".into(),
        reply: "250 2.0.0 queued as X".into(),
    };
    env.recipients[1].status = RecipientStatus::Deferred {
        at: 1_700_000_000,
        reply: "451 4.3.0 later".into(),
    };
    env.attempts = 1;
    env.next_attempt = 1_700_000_600;
    env.last_error = Some("451 4.3.0 later".into());
    spool.update_envelope(&env).unwrap();
    assert_eq!(
        Spool::open(spool.root())
            .unwrap()
            .read_envelope(&id)
            .unwrap(),
        env
    );
    assert!(!env.is_complete());
    assert_eq!(env.undelivered().count(), 1);
    assert!(entries(&spool.root().join("tmp")).is_empty());

    let mut stranger = env.clone();
    stranger.id = QueueId::generate();
    assert!(matches!(
        spool.update_envelope(&stranger),
        Err(SpoolError::NotFound(_))
    ));
    assert!(
        spool.locate(&stranger.id).unwrap().is_none(),
        "update must not create envelopes"
    );
}

#[test]
fn remove_deletes_envelope_and_data() {
    let (_root, spool) = spool();
    let keep = spool.enqueue(envelope(), b"keep").unwrap();
    let id = spool.enqueue(envelope(), b"gone").unwrap();
    spool.remove(&id).unwrap();
    assert!(matches!(
        spool.read_envelope(&id),
        Err(SpoolError::NotFound(_))
    ));
    assert!(matches!(
        spool.open_message(&id),
        Err(SpoolError::NotFound(_))
    ));
    assert!(matches!(spool.remove(&id), Err(SpoolError::NotFound(_))));
    assert_eq!(spool.list(QueueDir::Active).unwrap(), vec![keep]);
    assert_eq!(entries(&spool.root().join("data")), vec![keep.to_string()]);
}

#[test]
fn hold_and_release() {
    let (_root, spool) = spool();
    let a = spool.enqueue(envelope(), b"a").unwrap();
    let b = spool.enqueue(envelope(), b"b").unwrap();
    spool.hold(&a).unwrap();
    assert_eq!(spool.list(QueueDir::Active).unwrap(), vec![b]);
    assert_eq!(spool.list(QueueDir::Hold).unwrap(), vec![a]);
    assert_eq!(spool.locate(&a).unwrap(), Some(QueueDir::Hold));
    // queue-runner's scan does not see held mail, but it is still readable...
    let ids: Vec<_> = spool.scan().unwrap().ok.into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![b]);
    assert_eq!(spool.read_envelope(&a).unwrap().id, a);
    assert_eq!(read_message(&spool, &a), b"a");
    // ...updatable in place, and its data is not an orphan.
    let mut env = spool.read_envelope(&a).unwrap();
    env.last_error = Some("held by admin".into());
    spool.update_envelope(&env).unwrap();
    assert_eq!(spool.locate(&a).unwrap(), Some(QueueDir::Hold));
    assert_eq!(spool.cleanup(Duration::ZERO).unwrap().orphans_removed, 0);

    assert!(matches!(spool.hold(&a), Err(SpoolError::NotFound(_))));
    assert!(matches!(spool.release(&b), Err(SpoolError::NotFound(_))));
    spool.release(&a).unwrap();
    assert_eq!(spool.list(QueueDir::Active).unwrap(), vec![a, b]);
    assert!(spool.list(QueueDir::Hold).unwrap().is_empty());
    assert_eq!(spool.read_envelope(&a).unwrap(), env);
}

#[test]
fn cleanup_removes_only_old_orphans() {
    let (_root, spool) = spool();
    let live = spool.enqueue(envelope(), b"live").unwrap();
    let orphan = QueueId::generate();
    fs::write(spool.root().join("data").join(orphan.as_str()), b"orphan").unwrap();
    fs::write(spool.root().join("data").join("not-an-id"), b"foreign").unwrap();
    fs::write(spool.root().join("tmp").join("x.data"), b"partial").unwrap();

    let young = spool.cleanup(Duration::from_secs(3600)).unwrap();
    assert_eq!(young, CleanupReport::default());
    let report = spool.cleanup(Duration::ZERO).unwrap();
    assert_eq!(report.tmp_removed, 1);
    assert_eq!(report.orphans_removed, 1);
    assert_eq!(
        entries(&spool.root().join("data")),
        vec![live.to_string(), "not-an-id".to_string()]
    );
    assert_eq!(read_message(&spool, &live), b"live");
}

/// Enqueue a message, then replace its envelope file with `bytes`.
fn plant(spool: &Spool, bytes: impl FnOnce(&[u8]) -> Vec<u8>) -> QueueId {
    let id = spool.enqueue(envelope(), b"precious message").unwrap();
    let path = spool.root().join("queue").join(id.as_str());
    let good = fs::read(&path).unwrap();
    fs::write(&path, bytes(&good)).unwrap();
    id
}

fn assert_quarantined(spool: &Spool, id: &QueueId, report: &ScanReport) -> CorruptReason {
    assert!(report.ok.iter().all(|e| e.id != *id));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (name, reason) = report
        .quarantined
        .iter()
        .find(|(n, _)| n == id.as_str())
        .unwrap_or_else(|| panic!("{id} not quarantined: {report:?}"));
    assert_eq!(name, id.as_str());
    assert!(spool.locate(id).unwrap().is_none());
    // The message bytes are kept beside the envelope and its reason, not deleted.
    let corrupt = spool.root().join("corrupt");
    let data = corrupt.join(format!("queue-{id}.data"));
    assert_eq!(fs::read(data).unwrap(), b"precious message");
    assert!(corrupt.join(format!("queue-{id}.env")).exists());
    let why = fs::read_to_string(corrupt.join(format!("queue-{id}.reason"))).unwrap();
    assert!(why.contains(&reason.to_string()), "{why}");
    reason.clone()
}

#[test]
fn truncated_envelope_at_every_length_is_quarantined() {
    let (_root, spool) = spool();
    let len = {
        let id = spool.enqueue(envelope(), b"x").unwrap();
        let n = fs::read(spool.root().join("queue").join(id.as_str()))
            .unwrap()
            .len();
        spool.remove(&id).unwrap();
        n
    };
    for cut in 0..len {
        let id = plant(&spool, |good| good[..cut].to_vec());
        let report = spool.scan().unwrap();
        let reason = assert_quarantined(&spool, &id, &report);
        assert!(
            matches!(reason, CorruptReason::Truncated { .. }),
            "cut {cut}: {reason}"
        );
        assert_eq!(report.quarantined.len(), 1);
    }
    assert!(spool.list(QueueDir::Active).unwrap().is_empty());
}

#[test]
fn corrupted_byte_at_every_position_is_quarantined() {
    let (_root, spool) = spool();
    let len = {
        let id = spool.enqueue(envelope(), b"x").unwrap();
        let n = fs::read(spool.root().join("queue").join(id.as_str()))
            .unwrap()
            .len();
        spool.remove(&id).unwrap();
        n
    };
    for pos in 0..len {
        let id = plant(&spool, |good| {
            let mut b = good.to_vec();
            b[pos] ^= 0x5a;
            b
        });
        let report = spool.scan().unwrap();
        assert_quarantined(&spool, &id, &report);
    }
}

#[test]
fn unknown_version_is_quarantined() {
    let (_root, spool) = spool();
    let id = plant(&spool, |good| {
        let mut b = good.to_vec();
        b[6..8].copy_from_slice(&7u16.to_be_bytes());
        b
    });
    let report = spool.scan().unwrap();
    assert_eq!(
        assert_quarantined(&spool, &id, &report),
        CorruptReason::UnknownVersion(7)
    );
}

#[test]
fn missing_or_wrong_size_data_is_quarantined() {
    let (_root, spool) = spool();
    let good = spool.enqueue(envelope(), b"fine").unwrap();
    let missing = spool.enqueue(envelope(), b"missing").unwrap();
    fs::remove_file(spool.root().join("data").join(missing.as_str())).unwrap();
    let resized = spool.enqueue(envelope(), b"precious message").unwrap();
    fs::write(
        spool.root().join("data").join(resized.as_str()),
        b"precious message!",
    )
    .unwrap();

    let report = spool.scan().unwrap();
    assert_eq!(report.ok.len(), 1);
    assert_eq!(report.ok[0].id, good);
    let find = |id: QueueId| {
        report
            .quarantined
            .iter()
            .find(|(n, _)| n == id.as_str())
            .map(|(_, r)| r.clone())
    };
    assert_eq!(find(missing), Some(CorruptReason::MissingData));
    assert_eq!(
        find(resized),
        Some(CorruptReason::SizeMismatch {
            expected: 16,
            actual: 17
        })
    );
    assert!(spool
        .root()
        .join("corrupt")
        .join(format!("queue-{resized}.data"))
        .exists());
}

#[test]
fn misnamed_and_misplaced_files_are_quarantined() {
    let (_root, spool) = spool();
    let real = spool.enqueue(envelope(), b"real").unwrap();
    let queue = spool.root().join("queue");
    // A copy of a valid envelope under another id.
    let other = QueueId::generate();
    fs::copy(queue.join(real.as_str()), queue.join(other.as_str())).unwrap();
    fs::write(queue.join("junk.txt"), b"junk").unwrap();
    fs::create_dir(queue.join(QueueId::generate().as_str())).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", queue.join(QueueId::generate().as_str())).unwrap();

    let report = spool.scan().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.ok.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![real]
    );
    let mut reasons: Vec<String> = report
        .quarantined
        .iter()
        .map(|(_, r)| format!("{r:?}"))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "BadName"));
    assert!(reasons.iter().any(|r| r.starts_with("IdMismatch")));
    assert_eq!(reasons.iter().filter(|r| *r == "NotRegularFile").count(), 2);
    assert_eq!(entries(&queue), vec![real.to_string()]);
    // The real message's data was not dragged into quarantine with its copy.
    assert_eq!(read_message(&spool, &real), b"real");
    // Quarantining the same name twice does not overwrite the first.
    fs::write(queue.join("junk.txt"), b"junk 2").unwrap();
    let again = spool.scan().unwrap();
    assert_eq!(again.quarantined.len(), 1);
    let corrupt = entries(&spool.root().join("corrupt"));
    assert!(
        corrupt.contains(&"queue-junk.txt.env".to_string()),
        "{corrupt:?}"
    );
    assert!(
        corrupt.contains(&"queue-junk.txt-1.env".to_string()),
        "{corrupt:?}"
    );
}

#[test]
fn read_envelope_reports_corruption_without_panicking() {
    let (_root, spool) = spool();
    let id = plant(&spool, |good| good[..good.len() - 1].to_vec());
    assert!(matches!(
        spool.read_envelope(&id),
        Err(SpoolError::Corrupt {
            reason: CorruptReason::Truncated { .. },
            ..
        })
    ));
}

#[test]
fn concurrent_writers_get_distinct_ids() {
    let (_root, spool) = spool();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                (0..25u8)
                    .map(|i| (spool.enqueue(envelope(), &[t, i]).unwrap(), vec![t, i]))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    assert_eq!(spool.list(QueueDir::Active).unwrap().len(), 100);
    for (id, body) in all {
        assert_eq!(read_message(&spool, &id), body);
    }
}

#[test]
fn held_commit_and_content_replacement_keep_the_queue_id() {
    let (_root, spool) = spool();
    let mut w = spool.writer().unwrap();
    let id = *w.id();
    w.write_all(b"Subject: old\r\n\r\nbody\r\n").unwrap();
    let mut old = w.read_back().unwrap();
    w.replace_content(|out| {
        out.write_all(b"Subject: new\r\n")?;
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut old, &mut rest)?;
        out.write_all(&rest[14..])
    })
    .unwrap();
    w.write_all(b"more\r\n").unwrap();
    let held = w.commit_held(envelope()).unwrap();
    assert_eq!(held, id);
    assert_eq!(spool.list(QueueDir::Hold).unwrap(), vec![id]);
    assert!(spool.list(QueueDir::Active).unwrap().is_empty());
    assert_eq!(
        read_message(&spool, &id),
        b"Subject: new\r\n\r\nbody\r\nmore\r\n"
    );
    assert_eq!(spool.read_envelope(&id).unwrap().size, 28);
    assert!(entries(&spool.root().join("tmp")).is_empty());
    // A failed replacement keeps what was there.
    let mut w = spool.writer().unwrap();
    w.write_all(b"kept").unwrap();
    assert!(w
        .replace_content(|out| {
            out.write_all(b"lost")?;
            Err(std::io::Error::other("boom"))
        })
        .is_err());
    let id = w.commit(envelope()).unwrap();
    assert_eq!(read_message(&spool, &id), b"kept");
    assert!(entries(&spool.root().join("tmp")).is_empty());
}
