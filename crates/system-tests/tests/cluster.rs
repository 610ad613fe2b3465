//! The multi-host installation end to end, with the real daemons.
//!
//! `cluster_survives_losing_hosts`: three GlusterFS storage nodes (replica 3), two MX hosts
//! (mta-smtpd + queue-runner with local spools, delivering to the front end over LMTP), two
//! mailbox backends (imapd, pop3d, managesieved, local-delivery with a TCP LMTP listener; mail
//! root on the Gluster mount, state local), one front end (proxyd) and a DNS server with two MX
//! records of equal preference, each host in its own network namespace on 10.77.0.0/24 and the
//! users' clients at 10.77.0.1. Mail sent alternately to both MX hosts is read through the
//! front end by IMAP and POP3; the backend serving the user is killed while an IMAP session is
//! open, and the reconnected client is served by the other one with the same UIDVALIDITY, UIDs
//! and flags; a storage node is killed and restarted (and healed) while mail flows; an MX host
//! shut down right after acknowledging mail loses none of it (delivered before the stop, or
//! handed to the other MX host) and keeps nothing queued; mail it could not deliver yet (the
//! front end down) is handed to the other MX host on its stop and delivered from there. At every step each message is in
//! the mailbox exactly once. About 40 s here (15 s of it the storage bring-up) with the default
//! size, about 55 s with `FERRYMAIL_CLUSTER_SCALE=10`; `FERRYMAIL_CLUSTER_SCALE=<n>`
//! sends n times as much mail in every phase.
//!
//! `one_host_behind_the_front_end`: the same path on one host (loopback, free ports):
//! queue-runner → proxyd's LMTP → local-delivery over TCP, clients through proxyd. A few
//! seconds.
//!
//! Both need the workspace's binaries (`cargo build --workspace`); the first also root, FUSE,
//! GlusterFS and namespaces and prints `SKIP:` without them.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrymail_config::{ClusterPeer, ProxyBackend, Role};
use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::{built_bin, wait_for_tcp, Ports};
use ferrymail_system_tests::cluster::{listener, shared_certificate, Host, DOMAIN};
use ferrymail_system_tests::mailbox_view::{
    imap_login, pop3_ids, read_inbox, send, wait_for_ids, Inbox,
};
use ferrymail_system_tests::netns::Place;
use ferrymail_system_tests::topology::{Topology, BACKEND_DAEMONS, MX_DAEMONS};
use ferrymail_testkit::suite::quick_queue;
use proxyd::control::{self, Request};

const USER: &str = "alice@cluster.test";
const PASS: &str = "alice-pw";
const SENDER: &str = "someone@outside.test";
const WAIT: Duration = Duration::from_secs(60);

/// Messages per phase: 2 by default, times `FERRYMAIL_CLUSTER_SCALE`.
fn per_phase() -> usize {
    let scale = std::env::var("FERRYMAIL_CLUSTER_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    2 * scale.max(1)
}

fn users() -> Vec<(String, String)> {
    vec![
        (USER.to_owned(), PASS.to_owned()),
        ("bob@cluster.test".to_owned(), "bob-pw".to_owned()),
    ]
}

/// Every daemon the tests start must be built.
fn require_binaries() {
    for d in BACKEND_DAEMONS.iter().chain(&MX_DAEMONS).chain(&["proxyd"]) {
        if let Err(e) = built_bin(d) {
            panic!("{e}");
        }
    }
}

/// The user's backend by proxyd's own account, and its open sessions.
fn placement(front: &Host) -> (Option<String>, usize) {
    let c = &front.s.env.config;
    let r = control::request(
        &c.run_path(&c.proxy.control_socket),
        &Request::Where { user: USER.into() },
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("proxyd control socket: {e}"));
    let p = r
        .placement
        .unwrap_or_else(|| panic!("no placement: {}", r.message));
    (p.backend, p.sessions)
}

/// The MX hosts of the domain by a DNS query from the clients' side, in answer order; all
/// must have the same preference.
fn mx_hosts(clients: &Place, dns: SocketAddr) -> Vec<IpAddr> {
    let kdig = |args: &[&str]| {
        let out = clients
            .command("kdig")
            .arg(format!("@{}", dns.ip()))
            .args(["+short", "+time=5", "+retry=1"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("kdig (Debian: knot-dnsutils): {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mx = kdig(&["MX", DOMAIN]);
    let records: Vec<(u16, String)> = mx
        .lines()
        .filter_map(|l| {
            let (pref, host) = l.split_once(' ')?;
            Some((pref.parse().ok()?, host.trim_end_matches('.').to_owned()))
        })
        .collect();
    assert_eq!(records.len(), 2, "MX records of {DOMAIN}: {mx}");
    assert_eq!(records[0].0, records[1].0, "unequal preferences: {mx}");
    records
        .iter()
        .map(|(_, host)| {
            let a = kdig(&["A", host]);
            a.trim()
                .parse()
                .unwrap_or_else(|_| panic!("A of {host}: {a:?}"))
        })
        .collect()
}

/// What one test needs to reach the mailbox through the front end.
struct Reader {
    clients: Place,
    front: SocketAddr,
    pop3: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

impl Reader {
    fn inbox(&self) -> Result<Inbox, String> {
        self.clients.run(|| {
            let mut c = imap_login(self.front, self.tls.clone(), USER, PASS)?;
            let inbox = read_inbox(&mut c);
            let _ = c.cmd("LOGOUT");
            inbox
        })
    }

    fn imap_ids(&self) -> Result<Vec<String>, String> {
        self.inbox().map(|i| i.ids())
    }

    fn pop3_ids(&self) -> Result<Vec<String>, String> {
        self.clients
            .run(|| pop3_ids(self.pop3, self.tls.clone(), USER, PASS))
    }

    /// Waits until IMAP shows exactly `ids` (each once), then checks POP3 shows the same.
    fn expect(&self, ids: &[String], logs: impl Fn() -> String) -> Duration {
        let took = wait_for_ids(ids, WAIT, || self.imap_ids())
            .unwrap_or_else(|e| panic!("IMAP through the front end: {e}\n{}", logs()));
        let mut want = ids.to_vec();
        want.sort();
        let pop = self
            .pop3_ids()
            .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
        assert_eq!(pop, want, "POP3 through the front end\n{}", logs());
        took
    }
}

/// Sends `n` messages alternately to `mxs`, each with a fresh Message-ID added to `ids`.
fn send_batch(clients: &Place, mxs: &[SocketAddr], n: usize, tag: &str, ids: &mut Vec<String>) {
    for i in 0..n {
        let id = format!("{tag}-{i}-{}@{}", std::process::id(), "outside.test");
        let mx = mxs[(ids.len() + i) % mxs.len()];
        clients
            .run(|| send(mx, SENDER, USER, &id))
            .unwrap_or_else(|e| panic!("{e}"));
        ids.push(id);
    }
}

/// Stops MX host `i` cleanly (SIGTERM) and checks that its spool kept nothing.
fn stop_mx_empty(t: &mut Topology, i: usize) {
    t.mxs[i].stop(&["mta-smtpd", "queue-runner"]);
    let left = t.mxs[i].s.queued().len();
    assert_eq!(
        left,
        0,
        "the stopped MX host kept {left} message(s)\n{}",
        t.logs()
    );
}

/// The message files of the user's INBOX on a brick (names without flags), sorted.
fn brick_messages(brick: &Path) -> Vec<String> {
    let maildir = brick.join(DOMAIN).join("alice/Maildir");
    let mut names = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(maildir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            names.push(name.split(":2,").next().unwrap_or("").to_owned());
        }
    }
    names.sort();
    names
}

#[test]
fn cluster_survives_losing_hosts() {
    let started = Instant::now();
    let mut t = match Topology::start(&users()) {
        Ok(t) => t,
        Err(reason) => {
            ferrymail_testkit::skip!("{reason}");
        }
    };
    println!(
        "cluster: storage up in {:.1?}, every host in {:.1?}",
        t.gluster.bring_up, t.bring_up
    );
    let fip = t.ip("front");
    let tls = t.tls.clone();

    let mx_addrs: Vec<SocketAddr> = mx_hosts(&t.lan.wan, t.dns.addr)
        .into_iter()
        .map(|a| SocketAddr::new(a, 25))
        .collect();
    let mut expected = [t.ip("mx1"), t.ip("mx2")];
    expected.sort();
    let mut found: Vec<IpAddr> = mx_addrs.iter().map(SocketAddr::ip).collect();
    found.sort();
    assert_eq!(found, expected);

    let reader = Reader {
        clients: t.lan.wan.clone(),
        front: SocketAddr::new(fip, 143),
        pop3: SocketAddr::new(fip, 110),
        tls: tls.clone(),
    };
    let n = per_phase();
    let mut ids = Vec::new();

    // Mail through both MX hosts, read through the front end.
    send_batch(&t.lan.wan, &mx_addrs, 2 * n, "first", &mut ids);
    let took = reader.expect(&ids, || t.logs());
    println!(
        "cluster: {} messages via both MX hosts readable after {took:.1?}",
        ids.len()
    );

    // Flags set through the front end.
    let mut session = t
        .lan
        .wan
        .run(|| imap_login(reader.front, tls.clone(), USER, PASS))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.logs()));
    let inbox = read_inbox(&mut session).unwrap();
    let (first, second) = (inbox.messages[0].uid, inbox.messages[1].uid);
    assert!(session
        .cmd(&format!("UID STORE {first} +FLAGS (\\Flagged \\Seen)"))
        .ok());
    assert!(session
        .cmd(&format!("UID STORE {second} +FLAGS (\\Answered)"))
        .ok());
    let before = read_inbox(&mut session).unwrap();
    assert!(
        before.messages[0].flags.contains(&"\\Flagged".to_owned()),
        "{before:?}"
    );

    // The backend serving the user dies while the session is open.
    let (serving, sessions) = placement(&t.front);
    let serving = serving.unwrap_or_else(|| panic!("no backend for {USER}\n{}", t.logs()));
    assert!(sessions >= 1, "the open session is not counted");
    let dead = t.backends.iter().position(|b| b.role == serving).unwrap();
    t.backends[dead].kill(&BACKEND_DAEMONS);
    let killed = Instant::now();
    let noop = session
        .conn()
        .set_read_timeout(Some(Duration::from_secs(20)));
    assert!(noop.is_ok());
    let tag = session.next_tag();
    let _ = session.conn().send(format!("{tag} NOOP\r\n").as_bytes());
    let after_kill = session.try_read_until_tag(&tag);
    assert!(
        after_kill.as_ref().map_or(true, |r| !r.ok()),
        "the session went on after its backend died: {after_kill:?}"
    );
    drop(session);
    let mut reconnected = None;
    while killed.elapsed() < WAIT && reconnected.is_none() {
        reconnected = reader.inbox().ok();
        if reconnected.is_none() {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let after = reconnected
        .unwrap_or_else(|| panic!("no IMAP session after the backend died\n{}", t.logs()));
    println!(
        "cluster: served again {:.1?} after {serving} was killed",
        killed.elapsed()
    );
    assert_eq!(
        after, before,
        "UIDVALIDITY, UIDs or flags changed with the backend"
    );
    let (now_serving, _) = placement(&t.front);
    assert!(now_serving.is_some() && now_serving.as_deref() != Some(serving.as_str()));

    // Mail keeps arriving meanwhile.
    send_batch(&t.lan.wan, &mx_addrs, n, "backend-down", &mut ids);
    reader.expect(&ids, || t.logs());

    // A storage node dies, mail flows, it comes back and heals.
    t.gluster.stop_node(2).unwrap();
    send_batch(&t.lan.wan, &mx_addrs, n, "storage-down", &mut ids);
    reader.expect(&ids, || t.logs());
    t.gluster.start_node(2).unwrap();
    let healed = t
        .gluster
        .wait_healed(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("cluster: g3 healed {healed:.1?} after its restart");
    let on_bricks: Vec<Vec<String>> = (0..3).map(|n| brick_messages(&t.brick(n))).collect();
    assert_eq!(on_bricks[0].len(), ids.len(), "{on_bricks:?}");
    assert!(
        on_bricks.iter().all(|b| *b == on_bricks[0]),
        "{on_bricks:?}"
    );
    reader.expect(&ids, || t.logs());

    let stopped = t
        .mxs
        .iter()
        .position(|m| SocketAddr::new(m.ip(), 25) == mx_addrs[0])
        .unwrap();

    // Mail an MX host could not deliver yet (the front end is down) goes to the other MX host
    // when it is stopped, and from there to the mailbox once the front end is back.
    t.front.stop(&["proxyd"]);
    let deferrals = || {
        t.mxs[stopped]
            .s
            .log("queue-runner")
            .matches("deferred")
            .count()
    };
    let deferred_before = deferrals();
    let id_queued = format!("mx-queued-{}@outside.test", std::process::id());
    t.lan
        .wan
        .run(|| send(mx_addrs[0], SENDER, USER, &id_queued))
        .unwrap_or_else(|e| panic!("{e}"));
    ids.push(id_queued);
    let deferred = ferrymail_testkit::wait_until(WAIT, || deferrals() > deferred_before);
    assert!(
        deferred,
        "no deferred delivery while the front end is down\n{}",
        t.logs()
    );
    stop_mx_empty(&mut t, stopped);
    assert!(
        t.mxs[stopped]
            .s
            .log("queue-runner")
            .contains("queue handoff done handed=1"),
        "{}",
        t.logs()
    );
    t.front.start("proxyd");
    let took = reader.expect(&ids, || t.logs());
    println!("cluster: mail handed over by a stopped MX host delivered {took:.1?} after the front end came back");
    t.mxs[stopped].start_all(&MX_DAEMONS);

    // An MX host shut down right after acknowledging mail.
    let id_of_stop = format!("mx-stop-{}@outside.test", std::process::id());
    t.lan
        .wan
        .run(|| send(mx_addrs[0], SENDER, USER, &id_of_stop))
        .unwrap_or_else(|e| panic!("{e}"));
    ids.push(id_of_stop.clone());
    // Delivered before the stop or handed to the other MX host by it: nothing stays behind.
    stop_mx_empty(&mut t, stopped);
    reader.expect(&ids, || t.logs());
    let log = t.mxs[stopped].s.log("queue-runner");
    let handoff = log
        .lines()
        .rfind(|l| l.contains("queue handoff done"))
        .unwrap_or("no handoff logged");
    println!("cluster: the acknowledged message delivered after its MX host stopped ({handoff})");
    // The other MX host takes mail on its own meanwhile.
    send_batch(&t.lan.wan, &[mx_addrs[1]], 1, "one-mx", &mut ids);
    reader.expect(&ids, || t.logs());
    for d in MX_DAEMONS {
        assert!(
            t.mxs[1 - stopped].s.daemon_mut(d).is_running(),
            "{d} of the remaining MX host exited"
        );
    }
    let inbox = reader.inbox().unwrap();
    assert_eq!(inbox.uidvalidity, before.uidvalidity);
    println!(
        "cluster: {} messages, each once, after {:.1?}",
        ids.len(),
        started.elapsed()
    );
}

#[test]
fn one_host_behind_the_front_end() {
    require_binaries();
    let started = Instant::now();
    let local = IpAddr::from([127, 0, 0, 1]);
    let dir = tempfile::tempdir().unwrap();
    let cert = shared_certificate(dir.path(), &["localhost".into(), local.to_string()]).unwrap();
    let mut h = Host::new("mail", Place::here(), local, Ports::free(), &users(), &cert);
    let port = || ferrymail_testkit::free_port(local);
    let (imap, pop3, sieve, lmtp, backend_lmtp) = (port(), port(), port(), port(), port());
    let ports = h.s.env.ports;
    // Name lookups (the client's address, the sender's domain) answered at once, not by an
    // unreachable system resolver.
    let mut zone = Zone::new();
    zone.a(&format!("mail.{DOMAIN}"), local);
    let dns = DnsServer::start(zone).unwrap();
    h.s.edit_config(|c| {
        quick_queue(c, dns.addr, ports.smtp);
        c.delivery.lmtp_listen = vec![SocketAddr::new(local, backend_lmtp)];
        c.proxy.listeners = vec![
            listener(Role::Imap, local, imap),
            listener(Role::Pop3, local, pop3),
            listener(Role::Managesieve, local, sieve),
            listener(Role::Lmtp, local, lmtp),
        ];
        c.proxy.backends = vec![ProxyBackend {
            name: "b1".into(),
            address: local.to_string(),
            tls_name: "localhost".into(),
            imap: ports.imap,
            pop3: ports.pop3,
            managesieve: ports.managesieve,
            lmtp: backend_lmtp,
        }];
        c.proxy.health_interval = Duration::from_millis(500);
        c.queue.lmtp_server = Some(ClusterPeer {
            address: SocketAddr::new(local, lmtp),
            tls_name: "localhost".into(),
        });
    });
    h.start_all(&BACKEND_DAEMONS);
    assert!(
        wait_for_tcp(
            SocketAddr::new(local, backend_lmtp),
            Duration::from_secs(10)
        ),
        "local-delivery does not listen on delivery.lmtp_listen\n{}",
        h.logs()
    );
    h.start("proxyd");
    h.start_all(&MX_DAEMONS);
    let here = Place::here();
    let reader = Reader {
        clients: here.clone(),
        front: SocketAddr::new(local, imap),
        pop3: SocketAddr::new(local, pop3),
        tls: ferrymail_testkit::tls::trusting(&cert.0),
    };
    let mut ids = Vec::new();
    send_batch(
        &here,
        &[h.s.addr(ports.smtp)],
        2 * per_phase(),
        "one-host",
        &mut ids,
    );
    let took = reader.expect(&ids, || h.logs());
    let inbox = reader.inbox().unwrap();
    let uids: Vec<u32> = inbox.messages.iter().map(|m| m.uid).collect();
    let mut sorted = uids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(uids, sorted, "UIDs not strictly ascending: {uids:?}");
    // What passed through proxyd is what local-delivery stored.
    let stored = brick_messages(&h.s.env.config.paths.mail_root);
    assert_eq!(stored.len(), ids.len(), "{stored:?}");
    println!(
        "one host behind the front end: {} messages readable after {took:.1?}, {:.1?} in all",
        ids.len(),
        started.elapsed()
    );
}
