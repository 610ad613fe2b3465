use std::io;

use ferrymail_spool::*;

#[test]
fn notify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wake.sock");
    let rx = WakeReceiver::bind(&path).unwrap();
    let id = QueueId::generate();
    assert!(notify_wake(&path, &id));
    assert!(notify_maildrop(&path));
    assert_eq!(rx.recv().unwrap(), Wake::Queued(id));
    assert_eq!(rx.try_recv().unwrap(), Some(Wake::Maildrop));
    assert_eq!(rx.try_recv().unwrap(), None);
}

#[test]
fn drain_coalesces_a_burst_and_nonblocking_recv_would_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wake.sock");
    let rx = WakeReceiver::bind(&path).unwrap();
    let ids: Vec<QueueId> = (0..10).map(|_| QueueId::generate()).collect();
    for id in &ids {
        assert!(notify_wake(&path, id));
    }
    let got = rx.drain().unwrap();
    assert_eq!(
        got,
        ids.iter().map(|id| Wake::Queued(*id)).collect::<Vec<_>>()
    );
    rx.set_nonblocking(true).unwrap();
    assert_eq!(rx.recv().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let std_sock = rx.into_std();
    assert!(notify_maildrop(&path));
    let mut buf = [0u8; 64];
    let n = std_sock.recv(&mut buf).unwrap();
    assert_eq!(Wake::parse(&buf[..n]), Wake::Maildrop);
}

#[test]
fn notify_without_receiver_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody.sock");
    assert!(!notify_wake(&path, &QueueId::generate()));
    // A receiver that went away leaves a socket file nobody reads.
    drop(WakeReceiver::bind(&path).unwrap());
    assert!(!notify_maildrop(&path));
}

#[test]
fn bind_replaces_stale_socket_but_not_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wake.sock");
    drop(WakeReceiver::bind(&path).unwrap());
    let rx = WakeReceiver::bind(&path).unwrap();
    assert!(notify_maildrop(&path));
    assert_eq!(rx.recv().unwrap(), Wake::Maildrop);

    let file = dir.path().join("plain");
    std::fs::write(&file, b"keep me").unwrap();
    assert!(WakeReceiver::bind(&file).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn junk_datagrams_just_mean_scan() {
    for junk in [
        &b""[..],
        b"Q",
        b"Q../../etc/passwd",
        b"Qlowercase0000000",
        b"\xff\xfe",
        b"MM",
    ] {
        assert_eq!(Wake::parse(junk), Wake::Scan, "{junk:?}");
    }
}
