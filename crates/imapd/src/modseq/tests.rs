use super::*;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn records_survive_a_reload_and_highest_never_goes_down() {
    let d = dir();
    let mut log = ModseqLog::load(d.path()).expect("load");
    assert!(!log.is_present());
    let m1 = log
        .record(d.path(), 3, &[(1, "2,S".into()), (2, "2,".into())], &[])
        .expect("record");
    assert_eq!(m1, 1);
    let m2 = log
        .record(d.path(), 3, &[(2, "2,F".into())], &[])
        .expect("record");
    assert_eq!(m2, 2);
    let m3 = log.record(d.path(), 3, &[], &[1]).expect("record");
    assert_eq!(m3, 3);
    let text = fs::read_to_string(d.path().join(FILE_NAME)).expect("read");
    assert_eq!(text, "U 3\nR 1001\n1 1 2,S\n2 1 2,\n2 2 2,F\nE 1 3\n");

    let again = ModseqLog::load(d.path()).expect("reload");
    assert_eq!(again.current(2, "2,F"), Some(2));
    assert_eq!(
        again.current(2, "2,"),
        None,
        "other flags need a new modseq"
    );
    assert!(again.is_expunged(1));
    assert_eq!(again.expunged_since(2), vec![1]);
    assert!(again.expunged_since(3).is_empty());
    // A new process starts above anything that may have been handed out.
    assert_eq!(again.highest, 1001);
}

#[test]
fn a_torn_last_line_is_ignored_and_a_lost_tail_reuses_no_number() {
    let d = dir();
    let mut log = ModseqLog::load(d.path()).expect("load");
    for i in 0..5u32 {
        log.record(d.path(), 10, &[(i + 1, "2,".into())], &[])
            .expect("record");
    }
    // A power cut keeps the flushed reservation but loses the unflushed records.
    fs::write(d.path().join(FILE_NAME), "U 1\nR 1001\n1 1 2,\n2 2 2").expect("write");
    let mut after = ModseqLog::load(d.path()).expect("load");
    assert_eq!(after.current(1, "2,"), Some(1));
    assert_eq!(
        after.current(2, "2,"),
        None,
        "a torn record counts as unwritten"
    );
    let next = after
        .record(d.path(), 10, &[(2, "2,".into())], &[])
        .expect("record");
    assert!(next > 5, "modseq {next} was possibly seen before the crash");
    let reread = ModseqLog::load(d.path()).expect("load");
    assert_eq!(
        reread.current(2, "2,"),
        Some(next),
        "the torn line stays apart"
    );
}

#[test]
fn uids_below_the_start_mark_are_at_one() {
    let d = dir();
    fs::write(d.path().join(FILE_NAME), "U 7\n").expect("write");
    let log = ModseqLog::load(d.path()).expect("load");
    assert_eq!(log.current(6, "2,S"), Some(1));
    assert_eq!(log.current(7, "2,S"), None);
}

#[test]
fn another_process_appends_and_compacts() {
    let d = dir();
    let mut a = ModseqLog::load(d.path()).expect("load");
    let mut b = ModseqLog::load(d.path()).expect("load");
    a.record(
        d.path(),
        4,
        &[(1, "2,".into()), (2, "2,".into()), (3, "2,".into())],
        &[],
    )
    .expect("record");
    b.catch_up(d.path()).expect("catch up");
    assert_eq!(b.current(3, "2,"), Some(1));
    let m = b.record(d.path(), 4, &[], &[1, 2]).expect("record");
    assert_eq!(m, 2);
    a.catch_up(d.path()).expect("catch up");
    assert_eq!(a.expunged_since(1), vec![1, 2]);

    let before = a.highest;
    a.compact(d.path()).expect("compact");
    let text = fs::read_to_string(d.path().join(FILE_NAME)).expect("read");
    assert_eq!(text, "U 4\nR 1001\nH 2\n3 1 2,\nE 1:2 2\n");
    assert!(a.highest >= before);
    // The other process sees the file replaced and reads it anew.
    b.catch_up(d.path()).expect("catch up");
    assert_eq!(b.expunged_since(0), vec![1, 2]);
    assert_eq!(b.current(3, "2,"), Some(1));
}

#[test]
fn the_log_is_compacted_when_it_grows() {
    let d = dir();
    let mut log = ModseqLog::load(d.path()).expect("load");
    for _ in 0..5000 {
        log.record(d.path(), 2, &[(1, "2,S".into())], &[])
            .expect("record");
    }
    let len = fs::metadata(d.path().join(FILE_NAME)).expect("stat").len();
    assert!(
        len < COMPACT_MIN + 100,
        "log of {len} bytes was never compacted"
    );
    let again = ModseqLog::load(d.path()).expect("load");
    assert_eq!(again.current(1, "2,S"), Some(5000));
}

#[test]
fn a_uid_recorded_as_expunged_but_present_needs_a_new_modseq() {
    let d = dir();
    let mut log = ModseqLog::load(d.path()).expect("load");
    log.record(d.path(), 1, &[(4, "2,".into())], &[])
        .expect("record");
    log.record(d.path(), 1, &[], &[4]).expect("record");
    assert_eq!(log.current(4, "2,"), None);
    let m = log
        .record(d.path(), 1, &[(4, "2,".into())], &[])
        .expect("record");
    assert_eq!(log.current(4, "2,"), Some(m));
    assert!(!log.is_expunged(4));
}

#[test]
fn a_load_above_the_records_is_written_down_for_the_other_processes() {
    let d = dir();
    let mut writer = ModseqLog::load(d.path()).expect("load");
    writer
        .record(d.path(), 2, &[(1, "2,".into())], &[])
        .expect("record");
    // A second process starts: it shows the reservation as its HIGHESTMODSEQ.
    let mut reader = ModseqLog::load(d.path()).expect("load");
    assert_eq!(reader.highest, 1 + RESERVE);
    reader.settle(d.path()).expect("settle");
    // The first process allocates above what the second one showed.
    writer.catch_up(d.path()).expect("catch up");
    let next = writer
        .record(d.path(), 2, &[(1, "2,S".into())], &[])
        .expect("record");
    assert!(next > 1 + RESERVE, "{next}");
    // Once written down, the next load has nothing to add.
    let mut settled = ModseqLog::load(d.path()).expect("load");
    settled.settle(d.path()).expect("settle");
    let len = fs::metadata(d.path().join(FILE_NAME)).expect("stat").len();
    let mut again = ModseqLog::load(d.path()).expect("load");
    again.settle(d.path()).expect("settle");
    assert_eq!(
        fs::metadata(d.path().join(FILE_NAME)).expect("stat").len(),
        len
    );
    assert_eq!(again.highest, settled.highest);
}

#[test]
fn expunged_runs_split_join_and_merge() {
    let mut e = expunged::Expunged::default();
    e.insert(1, 5, 10);
    e.insert(6, 8, 10);
    e.insert(9, 9, 12);
    assert_eq!(e.merged(), vec![(1, 9, 12)]);
    assert_eq!(e.since(10), vec![9]);
    assert_eq!(e.since(9), (1..=9).collect::<Vec<_>>());
    // UID 3 is recorded again: the run splits around it.
    e.remove(3, 3);
    assert!(!e.contains(3) && e.contains(2) && e.contains(4));
    assert_eq!(e.merged(), vec![(1, 2, 10), (4, 9, 12)]);
    // Expunged again, later: only that UID is newer.
    e.insert(3, 3, 20);
    assert_eq!(e.since(12), vec![3]);
    assert_eq!(e.merged(), vec![(1, 9, 20)]);
    e.insert(100, 100, 21);
    assert_eq!(e.since(20), vec![100]);
    assert!(!e.contains(50));
}

#[test]
fn a_maildir_we_cannot_write_to_gets_modseqs_in_memory() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir();
    let ro = d.path().join("ro");
    fs::create_dir(&ro).expect("mkdir");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).expect("chmod");
    // Root ignores modes; sysfs refuses new files even to root.
    let ro = if fs::write(ro.join("probe"), b"x").is_err() {
        ro
    } else if fs::write(Path::new("/sys").join(FILE_NAME), b"x").is_err() {
        Path::new("/sys").to_owned()
    } else {
        println!("SKIP: no directory here refuses writes");
        return;
    };
    let mut log = ModseqLog::load(&ro).expect("load");
    let m = log
        .record(&ro, 3, &[(1, "2,".into()), (2, "2,S".into())], &[])
        .expect("record");
    assert_eq!(log.current(2, "2,S"), Some(m));
    log.settle(&ro).expect("settle");
    assert!(!ro.join(FILE_NAME).exists());
}
