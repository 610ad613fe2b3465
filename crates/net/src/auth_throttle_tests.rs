//! What the throttle promises: clean addresses are not queued behind themselves, failing ones
//! are, remembered successes wait for nothing, and a success forgives only its own login.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;

use ferrymail_users::UserDbConfig;

use super::*;

fn throttle(slots: usize, delay: Duration) -> AuthThrottle {
    AuthThrottle::new(&ConnLimits {
        max_concurrent_password_checks: slots,
        auth_failure_delay: delay,
        ..ConnLimits::default()
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A user database of `{PLAIN}` users (`joe`, `ann`, `bob` @a.test, password "right"), and the
/// directory holding it.
fn users() -> (tempfile::TempDir, UserDb) {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "joe@a.test:{PLAIN}right\nann@a.test:{PLAIN}right\nbob@a.test:{PLAIN}right\n",
    )
    .unwrap();
    let db = UserDb::open(UserDbConfig {
        passwd_file: passwd,
        local_domains: vec!["a.test".into()],
        ..UserDbConfig::default()
    })
    .unwrap();
    (dir, db)
}

/// Starts a check from `from` that holds its slot (and turn, if any) until the returned sender
/// is dropped; returns once the check is running.
async fn hold_a_check(t: &AuthThrottle, from: IpAddr) -> mpsc::Sender<()> {
    let (release, wait) = mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel();
    let t = t.clone();
    tokio::spawn(async move {
        t.check(from, false, move || {
            let _ = started.send(());
            let _ = wait.recv();
        })
        .await
    });
    running.await.unwrap();
    release
}

async fn login(t: &AuthThrottle, db: &UserDb, from: IpAddr, user: &str, pw: &str) -> LoginCheck {
    t.verify(db, from, false, user, pw.as_bytes().to_vec())
        .await
}

/// Whether `user` logs in from `from` with the right password within two seconds.
async fn accepted(t: &AuthThrottle, db: &UserDb, from: &str, user: &str) -> bool {
    let attempt = login(t, db, ip(from), user, "right");
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(LoginCheck::Accepted(_))
    )
}

/// Starts `user`'s login from `from`, checks it is still waiting a while later, and returns a
/// task telling whether it is accepted once it may go on.
async fn waiting_login(
    t: &AuthThrottle,
    db: &UserDb,
    from: &str,
    user: &str,
) -> tokio::task::JoinHandle<bool> {
    let (t, db, from, user) = (t.clone(), db.clone(), from.to_owned(), user.to_owned());
    let task = tokio::spawn(async move {
        matches!(
            login(&t, &db, ip(&from), &user, "right").await,
            LoginCheck::Accepted(_)
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "the login did not wait");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_from_a_clean_address_does_not_wait_for_its_other_checks() {
    let (_dir, db) = users();
    let t = throttle(2, Duration::from_millis(1));
    let busy = hold_a_check(&t, ip("192.0.2.10")).await;
    assert!(
        accepted(&t, &db, "192.0.2.10", "joe@a.test").await,
        "a clean address's login waited for its other check"
    );
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_with_failures_checks_one_at_a_time_but_remembered_logins_skip_the_queue() {
    let (_dir, db) = users();
    let t = throttle(4, Duration::from_millis(1));
    let office = "192.0.2.11";
    assert!(accepted(&t, &db, office, "joe@a.test").await);
    t.failed(ip(office), "eve@a.test");
    let busy = hold_a_check(&t, ip(office)).await;
    // A check not remembered waits for the address's turn, although slots are free...
    let ann = waiting_login(&t, &db, office, "ann@a.test").await;
    // ...while one remembered from before goes straight through, and another address is free.
    assert!(accepted(&t, &db, office, "joe@a.test").await);
    assert!(accepted(&t, &db, "192.0.2.12", "bob@a.test").await);
    drop(busy);
    assert!(ann.await.unwrap());
    assert!(t.turns.lock().unwrap().is_empty(), "turns left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_remembered_login_needs_no_slot_and_no_hash() {
    let (_dir, db) = users();
    let t = throttle(1, Duration::from_millis(1));
    assert!(accepted(&t, &db, "192.0.2.20", "joe@a.test").await);
    let hashes = db.hashes_computed();
    let busy = hold_a_check(&t, ip("192.0.2.21")).await;
    assert!(accepted(&t, &db, "192.0.2.22", "joe@a.test").await);
    assert_eq!(db.hashes_computed(), hashes);
    // Not remembered: it needs the only slot, held above.
    let ann = waiting_login(&t, &db, "192.0.2.22", "ann@a.test").await;
    drop(busy);
    assert!(ann.await.unwrap());
}

#[tokio::test]
async fn wrong_passwords_are_refused_with_a_growing_delay_and_never_remembered() {
    let (_dir, db) = users();
    let t = throttle(2, Duration::from_millis(5));
    // An IPv4 client seen as an IPv4-mapped IPv6 address is the same client.
    let from = "::ffff:198.51.100.1";
    assert!(accepted(&t, &db, from, "joe@a.test").await);
    for expected in [5, 10, 20] {
        match login(&t, &db, ip(from), "joe@a.test", "wrong").await {
            LoginCheck::Refused { reason, delay } => {
                assert_eq!(reason, AuthError::WrongPassword);
                assert_eq!(delay, Duration::from_millis(expected));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(t.owed(ip("198.51.100.1")), Some(Duration::from_millis(10)));
    // The right password still works (remembered), and forgives joe's failures.
    assert!(accepted(&t, &db, from, "joe@a.test").await);
    assert_eq!(t.owed(ip("198.51.100.1")), None);
}

/// Runs `n` checks from each address concurrently and returns the most that ever ran at once,
/// overall and for one address.
async fn peak(t: &AuthThrottle, addrs: &[&str], n: usize, exempt: bool) -> (usize, usize) {
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let per = Arc::new(Mutex::new(HashMap::<String, (usize, usize)>::new()));
    let mut tasks = Vec::new();
    for a in addrs {
        for _ in 0..n {
            let (t, now, most, per, a) = (
                t.clone(),
                now.clone(),
                most.clone(),
                per.clone(),
                a.to_string(),
            );
            tasks.push(tokio::spawn(async move {
                t.check(ip(&a), exempt, move || {
                    most.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                    {
                        let mut m = per.lock().unwrap();
                        let e = m.entry(a.clone()).or_default();
                        e.0 += 1;
                        e.1 = e.1.max(e.0);
                    }
                    std::thread::sleep(Duration::from_millis(15));
                    per.lock().unwrap().get_mut(&a).unwrap().0 -= 1;
                    now.fetch_sub(1, SeqCst);
                })
                .await
                .unwrap()
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let per_most = per.lock().unwrap().values().map(|v| v.1).max().unwrap();
    (most.load(SeqCst), per_most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_are_bounded_globally_and_serialised_only_for_failing_addresses() {
    let t = throttle(3, Duration::from_millis(1));
    let addrs = [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.4",
        "192.0.2.5",
    ];
    // Clean: one address may use every slot, never more.
    let (all, one) = peak(&t, &addrs[..1], 8, false).await;
    assert_eq!(one, all);
    assert!((2..=3).contains(&all), "{all}");
    for a in addrs {
        t.failed(ip(a), "eve@a.test");
    }
    let (all, one) = peak(&t, &addrs, 4, false).await;
    assert!((2..=3).contains(&all), "{all} at once");
    assert_eq!(one, 1, "one check at a time per failing address");
    // An exempt (trusted) address is not serialised even with failures.
    let (all, one) = peak(&t, &addrs[..1], 8, true).await;
    assert_eq!(one, all);
    assert!((2..=3).contains(&all), "{all}");
    assert!(t.turns.lock().unwrap().is_empty());
}

#[test]
fn delay_doubles_per_failure_up_to_a_minute() {
    let t = throttle(1, Duration::from_millis(100));
    let from = ip("198.51.100.7");
    assert_eq!(t.owed(from), None);
    assert_eq!(t.failed(from, "a"), Duration::from_millis(100));
    assert_eq!(t.owed(from), Some(Duration::ZERO));
    assert_eq!(t.failed(from, "b"), Duration::from_millis(200));
    assert_eq!(t.failed(from, "c"), Duration::from_millis(400));
    assert_eq!(t.owed(from), Some(Duration::from_millis(200)));
    for _ in 0..40 {
        t.failed(from, "d");
    }
    assert_eq!(t.failed(from, "d"), Duration::from_secs(60));
}

#[test]
fn a_success_forgives_only_its_own_logins_failures() {
    let t = throttle(1, Duration::from_millis(100));
    let from = ip("203.0.113.5");
    for _ in 0..3 {
        t.failed(from, "victim@a.test");
    }
    let owed = t.owed(from);
    assert_eq!(owed, Some(Duration::from_millis(200)));
    // The attacker's own account, logged into between guesses, wipes nothing.
    t.failed(from, "mallory@a.test");
    t.succeeded(from, "Mallory@A.test");
    assert_eq!(t.owed(from), owed);
    t.succeeded(from, "other@a.test");
    assert_eq!(t.owed(from), owed);
    // The victim's own success (a mistyped password, then the right one) clears the address.
    t.succeeded(from, "victim@a.test");
    assert_eq!(t.owed(from), None);
    // Past the logins a record tells apart, failures count but are forgiven by no one.
    for i in 0..=LOGINS_PER_ADDRESS {
        t.failed(from, &format!("u{i}"));
    }
    for i in 0..=LOGINS_PER_ADDRESS {
        t.succeeded(from, &format!("u{i}"));
    }
    assert_eq!(t.owed(from), Some(Duration::ZERO), "one failure left");
}

/// A throttle trusting the cluster login `ferrymail-cluster` with secret [`CLUSTER_SECRET`].
fn cluster_throttle(dir: &std::path::Path) -> AuthThrottle {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("cluster-secret");
    std::fs::write(&path, CLUSTER_SECRET).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = ClusterAuth::load(&ferrymail_config::Cluster {
        secret_file: Some(path),
        ..Default::default()
    })
    .unwrap();
    throttle(2, Duration::from_millis(100)).with_cluster(cluster)
}

const CLUSTER_SECRET: &str = "0123456789abcdef0123456789abcdef";

fn creds(authzid: &str, authcid: &str, password: &str) -> Credentials {
    Credentials {
        authzid: authzid.into(),
        authcid: authcid.into(),
        password: password.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn the_cluster_login_acts_for_existing_users_only_and_only_with_its_secret() {
    let (dir, db) = users();
    let t = cluster_throttle(dir.path());
    let from = ip("192.0.2.30");
    assert_eq!(t.master_login(), Some("ferrymail-cluster"));
    let check = |c| t.verify_credentials(&db, from, false, c);
    match check(creds("joe@a.test", "ferrymail-cluster", CLUSTER_SECRET)).await {
        LoginCheck::Accepted(a) => assert_eq!(a.login(), "joe@a.test"),
        other => panic!("expected joe, got {other:?}"),
    }
    for (bad, why) in [
        (
            creds("joe@a.test", "ferrymail-cluster", "wrong"),
            "wrong secret",
        ),
        (
            creds("", "ferrymail-cluster", CLUSTER_SECRET),
            "acting for no one",
        ),
        (
            creds("nobody@a.test", "ferrymail-cluster", CLUSTER_SECRET),
            "unknown user",
        ),
    ] {
        assert!(
            matches!(check(bad).await, LoginCheck::Refused { .. }),
            "{why} was accepted"
        );
    }
    // Its failures count for the address like anyone's.
    assert!(t.owed(canonical_ip(from)).is_some());
    // Everyone else still needs their own password.
    assert!(matches!(
        check(creds("", "ann@a.test", "right")).await,
        LoginCheck::Accepted(_)
    ));
    assert!(matches!(
        check(creds("", "ann@a.test", CLUSTER_SECRET)).await,
        LoginCheck::Refused { .. }
    ));
}

#[tokio::test]
async fn without_a_cluster_its_login_is_an_unknown_user() {
    let (_dir, db) = users();
    let t = throttle(2, Duration::from_millis(1));
    assert_eq!(t.master_login(), None);
    let c = creds("joe@a.test", "ferrymail-cluster", CLUSTER_SECRET);
    assert!(matches!(
        t.verify_credentials(&db, ip("192.0.2.30"), false, c).await,
        LoginCheck::Refused {
            reason: AuthError::UnknownUser,
            ..
        }
    ));
}

#[tokio::test]
async fn a_cluster_peer_is_the_cluster_login_for_no_one_with_its_secret() {
    let (dir, _db) = users();
    let t = cluster_throttle(dir.path());
    let from = ip("192.0.2.31");
    let peer = |c| t.verify_cluster_peer(from, false, c);
    assert_eq!(
        peer(creds("", "ferrymail-cluster", CLUSTER_SECRET)).await,
        Some(Ok(()))
    );
    assert!(matches!(
        peer(creds("", "ferrymail-cluster", "wrong")).await,
        Some(Err(_))
    ));
    assert!(matches!(
        peer(creds("joe@a.test", "ferrymail-cluster", CLUSTER_SECRET)).await,
        Some(Err(_))
    ));
    assert_eq!(peer(creds("", "joe@a.test", "right")).await, None);
    let outside = throttle(1, Duration::from_millis(1));
    let c = creds("", "ferrymail-cluster", CLUSTER_SECRET);
    assert_eq!(outside.verify_cluster_peer(from, false, c).await, None);
}
