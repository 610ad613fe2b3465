//! Milters against the real binary: a scripted fake milter (raw protocol bytes, libmilter's
//! layout) answers each command as the test says, and the tests check the SMTP replies and
//! what reached the spool.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tmp_files, PASS, USER};
use ferrymail_config::{Milter, MilterDefault, Role};
use ferrymail_spool::QueueDir;
use ferrymail_testkit::{wait_until, SmtpClient, Suite};

/// A packet as the fake milter received it: command byte and data.
type Packet = (u8, Vec<u8>);

/// The answer to one received packet: the reply packets, or `None` to hang.
type Script = dyn Fn(u8, &[u8]) -> Option<Vec<Vec<u8>>> + Send + Sync;

fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(code);
    p.extend_from_slice(data);
    p
}

/// The data of CHGHEADER and INSHEADER: an index, then the name and value.
fn indexed(index: u32, name_value: &[u8]) -> Vec<u8> {
    [&index.to_be_bytes()[..], name_value].concat()
}

fn cont() -> Option<Vec<Vec<u8>>> {
    Some(vec![packet(b'c', b"")])
}

/// A fake milter listening on loopback: negotiates `actions` and `protocol`, records every
/// packet, and answers each with `script` (commands that take no reply get none).
struct FakeMilter {
    addr: String,
    seen: Arc<Mutex<Vec<Packet>>>,
}

impl FakeMilter {
    fn start(
        actions: u32,
        protocol: u32,
        script: impl Fn(u8, &[u8]) -> Option<Vec<Vec<u8>>> + Send + Sync + 'static,
    ) -> FakeMilter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("inet:{}", listener.local_addr().unwrap());
        let seen = accept_loop(
            move || listener.accept().map(|(s, _)| s),
            actions,
            protocol,
            script,
        );
        FakeMilter { addr, seen }
    }

    /// The same on a Unix socket at `path`.
    fn start_unix(
        path: &std::path::Path,
        actions: u32,
        protocol: u32,
        script: impl Fn(u8, &[u8]) -> Option<Vec<Vec<u8>>> + Send + Sync + 'static,
    ) -> FakeMilter {
        let listener = UnixListener::bind(path).unwrap();
        let addr = format!("unix:{}", path.display());
        let seen = accept_loop(
            move || listener.accept().map(|(s, _)| s),
            actions,
            protocol,
            script,
        );
        FakeMilter { addr, seen }
    }

    /// Negotiates every action, continues at every step and answers the end of message with
    /// `replies`.
    fn ending_with(replies: Vec<Vec<u8>>) -> FakeMilter {
        FakeMilter::start(ALL_ACTIONS, 0, move |code, _| match code {
            b'E' => Some(replies.clone()),
            _ => cont(),
        })
    }

    fn seen(&self) -> Vec<Packet> {
        self.seen.lock().unwrap().clone()
    }

    /// The data of every received packet with this command byte.
    fn of(&self, code: u8) -> Vec<Vec<u8>> {
        self.seen()
            .into_iter()
            .filter(|(c, _)| *c == code)
            .map(|(_, d)| d)
            .collect()
    }
}

/// Serves every connection `accept` yields on its own thread; returns the packet record.
fn accept_loop<S: Read + Write + Send + 'static>(
    accept: impl Fn() -> std::io::Result<S> + Send + 'static,
    actions: u32,
    protocol: u32,
    script: impl Fn(u8, &[u8]) -> Option<Vec<Vec<u8>>> + Send + Sync + 'static,
) -> Arc<Mutex<Vec<Packet>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let recorded = seen.clone();
    std::thread::spawn(move || {
        while let Ok(s) = accept() {
            let (seen, script) = (recorded.clone(), script.clone());
            std::thread::spawn(move || serve(s, actions, protocol, &seen, &*script));
        }
    });
    seen
}

fn serve(
    mut s: impl Read + Write,
    actions: u32,
    protocol: u32,
    seen: &Mutex<Vec<Packet>>,
    script: &Script,
) {
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        if s.read_exact(&mut body).is_err() || body.is_empty() {
            return;
        }
        let (code, data) = (body[0], body[1..].to_vec());
        seen.lock().unwrap().push((code, data.clone()));
        let replies = match code {
            b'O' => {
                let mut d = 6u32.to_be_bytes().to_vec();
                d.extend_from_slice(&actions.to_be_bytes());
                d.extend_from_slice(&protocol.to_be_bytes());
                vec![packet(b'O', &d)]
            }
            b'D' | b'A' | b'Q' | b'K' => continue,
            _ => match script(code, &data) {
                Some(r) => r,
                None => {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
            },
        };
        for r in replies {
            if s.write_all(&r).is_err() {
                return;
            }
        }
    }
}

fn milter(name: &str, address: &str) -> Milter {
    Milter {
        name: name.into(),
        address: address.into(),
        roles: vec![Role::Mx, Role::Submission, Role::Submissions],
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        content_timeout: Duration::from_secs(5),
        default_action: MilterDefault::Tempfail,
        max_reply_size: 1 << 20,
    }
}

const ALL_ACTIONS: u32 = 0x1ff;
const MSG: &[u8] = b"Subject: hello\r\nX-Old: one\r\n\r\nbody line\r\n";

/// mta-smtpd with the milter `m`, and a client that said EHLO on the MX port.
fn start_with(m: &FakeMilter) -> (Suite, SmtpClient) {
    let s = common::start(|c| c.smtpd.milters.push(milter("fake", &m.addr)));
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    (s, c)
}

/// One message from a@far.test to USER; the status of the reply to its data.
fn send(c: &mut SmtpClient) -> String {
    c.send_message("a@far.test", &[USER], MSG).status()
}

fn held(s: &Suite) -> Vec<ferrymail_spool::QueueId> {
    s.spool().list(QueueDir::Hold).unwrap()
}

#[test]
fn rcpt_refused_with_the_milters_reply_and_the_transaction_goes_on() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |code, data| match code {
        b'R' if data.starts_with(b"<other@") => Some(vec![packet(
            b'y',
            b"550-5.7.1 Not this one\r\n550 5.7.1 Really not\0",
        )]),
        b'R' if data.starts_with(b"<postmaster") => Some(vec![packet(b't', b"")]),
        _ => cont(),
    });
    let (s, mut c) = start_with(&m);
    assert_eq!(
        c.cmd("MAIL FROM:<a@far.test> SIZE=100").status(),
        "250 2.1.0"
    );
    let r = c.cmd("RCPT TO:<other@example.test>");
    assert_eq!(
        r.lines().collect::<Vec<_>>(),
        ["550-5.7.1 Not this one", "550 5.7.1 Really not"]
    );
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.test>").status(),
        "451 4.7.1"
    );
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).status(), "250 2.1.5");
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(MSG);
    c.send(b".\r\n");
    assert_eq!(c.reply().status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 1);
    let rcpts: Vec<_> = q[0]
        .0
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(rcpts, [USER]);
    // What the milter was told: ESMTP parameters as separate strings, and macros.
    assert_eq!(m.of(b'M'), [b"<a@far.test>\0SIZE=100\0".to_vec()]);
    let macros: Vec<u8> = m.of(b'D').concat();
    assert!(
        macros.windows(22).any(|w| w == b"{mail_addr}\0a@far.test"),
        "{}",
        String::from_utf8_lossy(&macros)
    );
    // No authentication, no auth macros.
    assert!(!String::from_utf8_lossy(&macros).contains("{auth_"));
    let connect = &m.of(b'C')[0];
    // Postfix's name for an unresolved client, family, port, address.
    assert_eq!(connect.len(), 21, "{connect:?}");
    assert!(connect.starts_with(b"unknown\x004"), "{connect:?}");
    assert!(connect.ends_with(b"127.0.0.1\x00"), "{connect:?}");
    // The content: our Received header hidden, the space after the colon eaten.
    let headers = m.of(b'L');
    assert_eq!(
        headers,
        [b"Subject\0hello\0".to_vec(), b"X-Old\0one\0".to_vec()]
    );
    assert_eq!(m.of(b'B'), [b"body line\r\n".to_vec()]);
    assert_eq!(m.of(b'E').len(), 1);
}

#[test]
fn tempfail_at_end_of_message_queues_nothing() {
    let m = FakeMilter::ending_with(vec![packet(b't', b"")]);
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "451 4.7.1");
    assert!(s.queued().is_empty());
    assert!(tmp_files(&s).is_empty(), "{:?}", tmp_files(&s));
    // The session goes on; RSET aborts the milter's transaction.
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "250 2.1.0");
    assert_eq!(c.cmd("RSET").status(), "250 2.0.0");
    assert_eq!(c.cmd("QUIT").status(), "221 2.0.0");
    // (The start-up's readiness probe is a connection too: its QUIT proves nothing here.)
    assert!(wait_until(Duration::from_secs(5), || !m
        .of(b'A')
        .is_empty()));
}

#[test]
fn discard_answers_250_queues_nothing_and_is_counted() {
    let m = FakeMilter::ending_with(vec![packet(b'd', b"")]);
    let mut metrics = None;
    let s = common::start(|c| {
        metrics = Some(ferrymail_testkit::metrics::enable(c, "mta-smtpd"));
        c.smtpd.milters.push(milter("fake", &m.addr));
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    assert_eq!(send(&mut c), "250 2.0.0");
    assert!(s.queued().is_empty());
    assert!(held(&s).is_empty());
    assert!(tmp_files(&s).is_empty());
    assert_eq!(common::data_files(&s), 0);
    let scrape = ferrymail_testkit::metrics::Scrape::fetch(metrics.unwrap());
    let count = |result| {
        scrape.value(
            "ferrymail_smtpd_messages_total",
            &[("role", "mx"), ("result", result)],
        )
    };
    assert_eq!((count("discarded"), count("accepted")), (1.0, 0.0));
}

#[test]
fn quarantine_puts_the_message_on_hold() {
    let m = FakeMilter::ending_with(vec![packet(b'q', b"looks like spam\0"), packet(b'a', b"")]);
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "250 2.0.0");
    assert!(s.queued().is_empty());
    let h = held(&s);
    assert_eq!(h.len(), 1);
    let env = s.spool().read_envelope(&h[0]).unwrap();
    assert_eq!(env.recipients[0].address, USER);
    assert!(s.log("mta-smtpd").contains("looks like spam"));
}

#[test]
fn header_and_body_changes_reach_the_spool_under_the_same_queue_id() {
    let m = FakeMilter::ending_with(vec![
        packet(b'h', b"X-Spam\0yes\n\tfolded\0"),
        packet(b'm', &indexed(1, b"X-Old\0two\0")),
        packet(b'm', &indexed(1, b"Subject\0\0")),
        packet(b'i', &indexed(0, b"X-First\0top\0")),
        packet(b'b', b"new "),
        packet(b'b', b"body\r\n"),
        packet(b'c', b""),
    ]);
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "250 2.0.0");
    let q = s.queued();
    let (env, bytes) = &q[0];
    let text = String::from_utf8_lossy(bytes);
    assert!(text.starts_with("X-First: top\r\nReceived: "), "{text}");
    assert!(text.contains(&format!("id {}", env.id)), "{text}");
    assert!(
        text.ends_with("\r\nX-Old: two\r\nX-Spam: yes\r\n\tfolded\r\n\r\nnew body\r\n"),
        "{text}"
    );
    assert!(!text.contains("Subject"), "{text}");
    assert_eq!(env.size, bytes.len() as u64);
    assert!(tmp_files(&s).is_empty());
}

#[test]
fn recipients_and_sender_changes_reach_the_envelope() {
    let m = FakeMilter::ending_with(vec![
        packet(b'+', b"<other@example.test>\0"),
        packet(b'-', format!("<{USER}>\0").as_bytes()),
        packet(b'e', b"<bounces@far.test>\0"),
        packet(b'a', b""),
    ]);
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "250 2.0.0");
    let q = s.queued();
    let rcpts: Vec<_> = q[0]
        .0
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(rcpts, ["other@example.test"]);
    assert_eq!(q[0].0.sender.as_deref(), Some("bounces@far.test"));
}

#[test]
fn a_modification_not_negotiated_is_a_protocol_error() {
    // Only ADDHDRS: deleting a recipient breaks the protocol, so the default action applies.
    let m = FakeMilter::start(0x1, 0, |code, _| match code {
        b'E' => Some(vec![
            packet(b'-', format!("<{USER}>\0").as_bytes()),
            packet(b'c', b""),
        ]),
        _ => cont(),
    });
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "451 4.7.1");
    assert!(s.queued().is_empty());
    // Gone for the rest of the connection with its default action.
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "451 4.7.1");
}

fn unreachable_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("inet:{}", l.local_addr().unwrap())
}

/// mta-smtpd with one milter nobody answers at, failing into `action`; the client is not
/// greeted yet.
fn start_unreachable(action: MilterDefault) -> (Suite, SmtpClient) {
    let down = unreachable_address();
    let s = common::start(|c| {
        let mut m = milter("down", &down);
        m.default_action = action;
        c.smtpd.milters.push(m);
    });
    let c = s.smtp(s.env.ports.smtp);
    (s, c)
}

#[test]
fn an_unreachable_milter_answers_with_its_default_action() {
    {
        let (s, mut c) = start_unreachable(MilterDefault::Tempfail);
        assert!(c.reply().starts_with("220 "));
        assert_eq!(c.cmd("EHLO client.test").status(), "451 4.7.1");
        assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "451 4.7.1");
        assert!(s.log("mta-smtpd").contains("milter failed"));
    }
    {
        let (s, mut c) = start_unreachable(MilterDefault::Accept);
        c.hello();
        assert_eq!(send(&mut c), "250 2.0.0");
        assert_eq!(s.queued().len(), 1);
    }
    {
        let (s, mut c) = start_unreachable(MilterDefault::Quarantine);
        c.hello();
        assert_eq!(send(&mut c), "250 2.0.0");
        assert!(s.queued().is_empty());
        assert_eq!(held(&s).len(), 1);
    }
    let (_s, mut c) = start_unreachable(MilterDefault::Shutdown);
    assert!(c.reply().starts_with("220 "));
    assert_eq!(c.cmd("EHLO client.test").status(), "421 4.7.0");
    assert!(c.closed());
}

#[test]
fn a_milter_that_hangs_times_out_into_its_default_action() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |code, _| match code {
        b'M' => None,
        _ => cont(),
    });
    let s = common::start(|c| {
        let mut f = milter("slow", &m.addr);
        f.command_timeout = Duration::from_secs(1);
        f.default_action = MilterDefault::Reject;
        c.smtpd.milters.push(f);
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let started = std::time::Instant::now();
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "550 5.7.1");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(s.log("mta-smtpd").contains("timed out"));
}

#[test]
fn chained_milters_each_see_the_changes_of_those_before() {
    let a = FakeMilter::ending_with(vec![
        packet(b'i', &indexed(0, b"X-Top\0a\0")),
        packet(b'h', b"X-A\0first\0"),
        packet(b'c', b""),
    ]);
    // The second wants no header replies and no connect event, and keeps its own spacing.
    let nr_hdr_noconnect_leadspc = 0x80 | 0x1 | 0x10_0000;
    let b = FakeMilter::start(
        ALL_ACTIONS,
        nr_hdr_noconnect_leadspc,
        |code, _| match code {
            // No reply is due to a header: mta-smtpd waiting for one would time out.
            b'L' => Some(vec![]),
            b'E' => Some(vec![packet(b'h', b"X-B\0 second\0"), packet(b'c', b"")]),
            _ => cont(),
        },
    );
    let s = common::start(|c| {
        c.smtpd.milters.push(milter("a", &a.addr));
        c.smtpd.milters.push(milter("b", &b.addr));
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    assert_eq!(send(&mut c), "250 2.0.0");
    let q = s.queued();
    let text = String::from_utf8_lossy(&q[0].1);
    assert!(text.starts_with("X-Top: a\r\nReceived: "), "{text}");
    assert!(
        text.contains("X-Old: one\r\nX-A: first\r\nX-B: second\r\n\r\nbody line"),
        "{text}"
    );
    assert!(b.of(b'C').is_empty());
    // b saw a's changes, still not our Received header, values with their leading space.
    let seen: Vec<u8> = b.of(b'L').concat();
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "X-Top\0 a\0Subject\0 hello\0X-Old\0 one\0X-A\0 first\0"
    );
}

#[test]
fn bdat_sends_one_data_and_a_milter_shutdown_closes_the_connection() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |code, data| match code {
        b'M' if data.starts_with(b"<bye@") => Some(vec![packet(b'4', b"")]),
        _ => cont(),
    });
    let (s, mut c) = start_with(&m);
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "250 2.1.0");
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).status(), "250 2.1.5");
    c.send(format!("BDAT {} LAST\r\n", MSG.len()).as_bytes());
    c.send(MSG);
    assert_eq!(c.reply().status(), "250 2.0.0");
    assert_eq!(m.of(b'T').len(), 1);
    assert_eq!(m.of(b'B'), [b"body line\r\n".to_vec()]);
    assert_eq!(s.queued().len(), 1);
    assert_eq!(c.cmd("MAIL FROM:<bye@far.test>").code, 421);
    assert!(c.closed());
}

#[test]
fn a_milter_on_a_unix_socket_refuses_a_sender() {
    let dir = tempfile::tempdir().unwrap();
    let m = FakeMilter::start_unix(
        &dir.path().join("milter.sock"),
        ALL_ACTIONS,
        0,
        |code, _| match code {
            b'M' => Some(vec![packet(b'r', b"")]),
            _ => cont(),
        },
    );
    let (s, mut c) = start_with(&m);
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "550 5.7.1");
    // The refused MAIL left no transaction behind.
    assert_eq!(c.cmd(&format!("RCPT TO:<{USER}>")).status(), "503 5.5.1");
    assert!(s.queued().is_empty());
    assert!(wait_until(Duration::from_secs(5), || !m
        .of(b'A')
        .is_empty()));
}

#[test]
fn a_hard_stop_does_not_wait_for_a_hanging_milter() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |code, _| match code {
        b'R' => None,
        _ => cont(),
    });
    let mut s = common::start(|c| {
        c.smtpd.shutdown_grace = Duration::from_secs(1);
        let mut f = milter("slow", &m.addr);
        f.command_timeout = Duration::from_secs(60);
        c.smtpd.milters.push(f);
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "250 2.1.0");
    c.send(format!("RCPT TO:<{USER}>\r\n").as_bytes());
    assert!(wait_until(Duration::from_secs(5), || !m
        .of(b'R')
        .is_empty()));
    let started = std::time::Instant::now();
    s.daemon("mta-smtpd")
        .signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(c.reply().status(), "421 4.3.2");
    assert!(c.closed());
    assert!(started.elapsed() < Duration::from_secs(10));
    let status = s
        .daemon_mut("mta-smtpd")
        .wait_timeout(Duration::from_secs(20))
        .expect("exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn after_auth_the_milters_learn_who_submits() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |_, _| cont());
    let s = common::start(|c| c.smtpd.milters.push(milter("fake", &m.addr)));
    let mut c = s.smtp(s.env.ports.submission);
    c.hello();
    c.starttls();
    c.cmd("EHLO client.test");
    assert_eq!(c.auth_plain(USER, PASS).status(), "235 2.7.0");
    assert_eq!(
        c.send_message(USER, &["friend@far.test"], MSG).status(),
        "250 2.0.0"
    );
    let macros = String::from_utf8_lossy(&m.of(b'D').concat()).into_owned();
    assert!(macros.contains("{auth_type}\0PLAIN\0"), "{macros}");
    assert!(
        macros.contains(&format!("{{auth_authen}}\0{USER}\0")),
        "{macros}"
    );
    assert!(macros.contains("{tls_version}\0TLSv1."), "{macros}");
}

#[test]
fn a_large_body_goes_in_chunks_of_at_most_65535_octets() {
    let m = FakeMilter::start(ALL_ACTIONS, 0, |_, _| cont());
    let (s, mut c) = start_with(&m);
    let line = format!("{}\r\n", "x".repeat(98));
    let mut msg = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..2000 {
        msg.extend_from_slice(line.as_bytes());
    }
    assert_eq!(
        c.send_message("a@far.test", &[USER], &msg).status(),
        "250 2.0.0"
    );
    let sizes: Vec<usize> = m.of(b'B').iter().map(Vec::len).collect();
    assert_eq!(sizes, [65535, 65535, 65535, 200_000 - 3 * 65535]);
    assert_eq!(m.of(b'B').concat(), msg[16..]);
    assert_eq!(s.queued().len(), 1);
}

#[test]
fn shutdown_at_end_of_message_refuses_it_and_closes() {
    let m = FakeMilter::ending_with(vec![packet(b'4', b"")]);
    let (s, mut c) = start_with(&m);
    assert_eq!(send(&mut c), "421 4.7.0");
    assert!(c.closed());
    assert!(s.queued().is_empty());
    assert!(tmp_files(&s).is_empty());
}

#[test]
fn the_milters_are_told_the_clients_confirmed_name() {
    // The resolver names loopback itself (RFC 6761), as the reference Postfix's resolver
    // does; forward confirmation against a zone is tested with ferrymail_net::rdns.
    use ferrymail_dev::dns::{DnsServer, Zone};
    let dns = DnsServer::start(Zone::new()).unwrap();
    let m = FakeMilter::start(ALL_ACTIONS, 0, |_, _| cont());
    let s = common::start(|c| {
        c.smtpd.milters.push(milter("fake", &m.addr));
        c.queue.dns_servers = vec![dns.addr];
        c.smtpd.client_name_timeout = Duration::from_secs(5);
    });
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    assert_eq!(send(&mut c), "250 2.0.0");
    let connect = &m.of(b'C')[0];
    assert!(connect.starts_with(b"localhost\x004"), "{connect:?}");
    let macros = String::from_utf8_lossy(&m.of(b'D').concat()).into_owned();
    // Postfix's default connect macros name the client only in `_`.
    assert!(macros.contains("_\0localhost [127.0.0.1]\0"), "{macros}");
}
