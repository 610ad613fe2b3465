//! Two complete ferrymail hosts, a.test and b.test, with the real daemon binaries and a
//! DNS server serving their MX and A records: a.test's user submits on the submission port
//! with STARTTLS and AUTH, queue-runner finds b.test by MX and hands the mail over by SMTP with
//! STARTTLS, b.test's user reads it over IMAP and over POP3 (Python's imaplib/poplib), the
//! reply travels back, and mail for an unknown b.test user comes back to the a.test sender as
//! a DSN. Neither host relays for the other.
//!
//! The scenario is written once ([`run_scenario`]) over a [`Topology`] that says how to reach
//! each host, and runs in two modes:
//! - network namespaces: a.test and b.test each in their own namespace on 10.231.0.1 and
//!   10.231.0.2 with the standard ports (25, 587, 465, 143, 993, 110, 995), wired by veth
//!   pairs to a bridge in a third "wan" namespace that holds the DNS server on port 53 and the
//!   users' mail clients. Skipped with a `SKIP:` line where namespaces cannot be created
//!   (set `FERRYMAIL_REQUIRE_NETNS=1` to make that a failure);
//! - loopback fallback: a.test on 127.0.0.2, b.test on 127.0.0.3, per-host free ports with one
//!   shared MX port (so one `queue.smtp_port` reaches either host) and a DNS server on an
//!   ephemeral port of 127.0.0.1.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::{target_bin, Ports};
use ferrymail_system_tests::netns::{Lan, LanHost, Place};
use ferrymail_testkit::suite::quick_queue;
use ferrymail_testkit::{Conn, SmtpClient, Suite};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

const A_IP: [u8; 4] = [127, 0, 0, 2];
const B_IP: [u8; 4] = [127, 0, 0, 3];
const WAIT: Duration = Duration::from_secs(60);
const DAEMONS: [&str; 5] = [
    "local-delivery",
    "queue-runner",
    "mta-smtpd",
    "imapd",
    "pop3d",
];

/// How the scenario reaches one host.
struct HostPlan {
    domain: &'static str,
    /// The address every listener of the host binds.
    ip: IpAddr,
    ports: Ports,
    /// Where the host's daemons run.
    daemons_in: Place,
    /// Where its users' mail clients (lettre, imaplib, poplib) run.
    clients_in: Place,
    /// Where an outsider's relay attempt comes from, and a name for it in messages.
    stranger_in: Place,
    stranger: &'static str,
    /// The source address of the host's outgoing SMTP connections, as the other host sees it.
    outbound_ip: IpAddr,
}

/// Both hosts and the DNS server that knows them.
struct Topology {
    mode: &'static str,
    detail: String,
    a: HostPlan,
    b: HostPlan,
    dns: SocketAddr,
}

/// The MX and A records of both hosts.
fn zone(a_ip: IpAddr, b_ip: IpAddr) -> Zone {
    let mut zone = Zone::new();
    zone.mx("a.test", 10, "mail.a.test")
        .a("mail.a.test", a_ip)
        .mx("b.test", 10, "mail.b.test")
        .a("mail.b.test", b_ip);
    zone
}

struct Host {
    s: Suite,
    user: String,
    pass: String,
    daemons_in: Place,
    clients_in: Place,
    stranger_in: Place,
    stranger: &'static str,
}

impl Host {
    fn ip(&self) -> IpAddr {
        self.s.env.listen_addr
    }

    fn name(&self) -> &str {
        &self.s.env.config.general.hostname
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for d in DAEMONS {
            out.push_str(&format!(
                "----- {} {d} -----\n{}\n",
                self.name(),
                self.s.log(d)
            ));
        }
        out
    }

    /// Every delivered message file in the host's mail root whose text contains `needle`.
    fn delivered_containing(&self, needle: &str) -> Vec<String> {
        let mut files = Vec::new();
        walk(&self.s.env.config.paths.mail_root, &mut files);
        files
            .iter()
            .filter(|p| {
                p.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n == "new" || n == "cur")
            })
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .filter(|t| t.contains(needle))
            .collect()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Free ports for both loopback hosts, taken on each host's own address: one MX port free on
/// both (so one `queue.smtp_port` reaches either host) and six more per host. Every socket is
/// held until all are chosen, so no two of them can be the same.
fn loopback_ports() -> (Ports, Ports) {
    let bind = |ip: [u8; 4], port: u16| TcpListener::bind(SocketAddr::from((ip, port))).ok();
    let port_of = |l: &TcpListener| l.local_addr().unwrap().port();
    let mut held = Vec::new();
    let mx = (0..100)
        .find_map(|_| {
            let a = bind(A_IP, 0)?;
            let b = bind(B_IP, port_of(&a))?;
            let port = port_of(&a);
            held.extend([a, b]);
            Some(port)
        })
        .expect("no port free on both 127.0.0.2 and 127.0.0.3 after 100 tries");
    let mut host = |ip: [u8; 4]| {
        let mut p = [0u16; 7];
        for slot in &mut p {
            let l = bind(ip, 0).expect("no free port on a loopback address");
            *slot = port_of(&l);
            held.push(l);
        }
        Ports {
            smtp: mx,
            submission: p[0],
            submissions: p[1],
            imap: p[2],
            imaps: p[3],
            pop3: p[4],
            pop3s: p[5],
            managesieve: p[6],
        }
    };
    (host(A_IP), host(B_IP))
}

fn setup_host(plan: &HostPlan, dns: SocketAddr) -> Host {
    let domain = plan.domain;
    let user = format!("user@{domain}");
    let pass = format!("pw-{domain}");
    let mut s = Suite::with(|o| {
        o.domain = domain.into();
        o.users = vec![(user.clone(), pass.clone())];
        o.listen_addr = plan.ip;
        o.ports = plan.ports;
    });
    s.edit_config(|c| {
        // Trusting only the host's own address keeps the other host (and the users'
        // clients, which must AUTH) untrusted.
        c.general.trusted_networks = vec![format!("{}/32", plan.ip).parse().unwrap()];
        quick_queue(c, dns, plan.ports.smtp);
        let q = &mut c.queue;
        q.connect_timeout = Duration::from_secs(5);
        q.command_timeout = Duration::from_secs(20);
        q.data_block_timeout = Duration::from_secs(20);
        q.data_done_timeout = Duration::from_secs(20);
    });
    Host {
        s,
        user,
        pass,
        daemons_in: plan.daemons_in.clone(),
        clients_in: plan.clients_in.clone(),
        stranger_in: plan.stranger_in.clone(),
        stranger: plan.stranger,
    }
}

fn start(host: &mut Host) {
    for name in DAEMONS {
        let clients_in = host.clients_in.clone();
        let prefix = host.daemons_in.prefix();
        let pid = host
            .s
            .start_prefixed(&prefix, name, |env| {
                clients_in.run(|| env.wait_ready(name, WAIT))
            })
            .pid();
        // The pid we signal must be the daemon itself in the host's namespace, not a wrapper
        // (`ip netns exec` execs the daemon).
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        let bin = std::fs::canonicalize(target_bin(name)).unwrap();
        assert!(
            exe.to_string_lossy().starts_with(&*bin.to_string_lossy()),
            "pid {pid} of {name} is {}, not the daemon",
            exe.display()
        );
        assert!(
            host.daemons_in.contains_pid(pid).unwrap(),
            "{name} (pid {pid}) is not in {:?}",
            host.daemons_in
        );
    }
}

fn submit(host: &Host, from: &str, to: &str, subject: &str, body: &str) {
    let pem = std::fs::read(&host.s.env.config.tls.cert).unwrap();
    let tls = TlsParameters::builder("localhost".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build_rustls()
        .unwrap();
    let t = SmtpTransport::builder_dangerous(host.ip().to_string())
        .port(host.s.env.ports.submission)
        .hello_name(ClientId::Domain("mua.test".into()))
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(host.user.clone(), host.pass.clone()))
        .authentication(vec![Mechanism::Plain])
        .timeout(Some(Duration::from_secs(20)))
        .build();
    let msg = Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .unwrap();
    let resp = host
        .clients_in
        .run(|| t.send(&msg))
        .unwrap_or_else(|e| panic!("submission to {} failed: {e}\n{}", host.name(), host.logs()));
    assert!(resp.is_positive(), "{resp:?}");
}

/// Waits (bounded) until a message containing `needle` is in `host`'s mailboxes.
fn wait_delivered(host: &Host, needle: &str, others: &Host) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = host.delivered_containing(needle).into_iter().next() {
            return m;
        }
        if Instant::now() >= deadline {
            panic!(
                "no message containing {needle:?} reached {} within {WAIT:?}\n{}\n{}",
                host.name(),
                host.logs(),
                others.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Python's imaplib (`imap`) or poplib (`pop3`), each after STARTTLS/STLS: prints every
/// message containing the needle, followed by a `=====` line; exits 3 if there is none.
const READ_PY: &str = r#"
import imaplib, poplib, ssl, sys
proto, host, port, user, pw, ca, needle = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
texts = []
if proto == 'imap':
    m = imaplib.IMAP4(host, int(port), timeout=20)
    m.starttls(ssl_context=ctx)
    m.login(user, pw)
    typ, data = m.select('INBOX')
    assert typ == 'OK', (typ, data)
    typ, data = m.search(None, 'ALL')
    assert typ == 'OK', (typ, data)
    for i in data[0].split():
        typ, d = m.fetch(i, '(BODY.PEEK[])')
        assert typ == 'OK', (typ, d)
        texts.append(d[0][1].decode('utf-8', 'replace'))
    m.logout()
else:
    p = poplib.POP3(host, int(port), timeout=20)
    p.stls(context=ctx)
    p.user(user)
    p.pass_(pw)
    n, _ = p.stat()
    for i in range(1, n + 1):
        resp, lines, _ = p.retr(i)
        texts.append(b'\r\n'.join(lines).decode('utf-8', 'replace'))
    p.quit()
found = [t for t in texts if needle in t]
for t in found:
    sys.stdout.write(t + '\n=====\n')
sys.exit(0 if found else 3)
"#;

/// Reads the messages containing `needle` with a Python client; fails clearly without python3.
fn read_with_python(host: &Host, proto: &str, port: u16, needle: &str) -> String {
    let out = host
        .clients_in
        .command("python3")
        .arg("-c")
        .arg(READ_PY)
        .arg(proto)
        .arg(host.ip().to_string())
        .arg(port.to_string())
        .arg(&host.user)
        .arg(&host.pass)
        .arg(&host.s.env.config.tls.cert)
        .arg(needle)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for the IMAP/POP3 clients (Debian: python3): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python client on port {port} of {} failed ({}):\n{stdout}\n{}\n{}",
        host.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        host.logs()
    );
    stdout
}

/// The message's header fields, unfolded.
fn header_fields(msg: &str) -> Vec<String> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    let head = head.split("\n\n").next().unwrap_or("");
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            fields.push(line.to_owned());
        }
    }
    fields
}

/// The `Received:` field that `by_host`'s MX wrote when it took the message over SMTP.
fn received_by(msg: &str, by_host: &str) -> String {
    header_fields(msg)
        .into_iter()
        .find(|f| {
            f.starts_with("Received:")
                && f.contains(&format!("by {by_host} (ferrymail) with ESMTP"))
        })
        .unwrap_or_else(|| panic!("no Received: by {by_host} over SMTP in:\n{msg}"))
}

/// Sends an unauthenticated relay attempt from the host's stranger to its MX port; returns the
/// reply to RCPT.
fn relay_attempt(host: &Host) -> String {
    let addr = host.s.addr(host.s.env.ports.smtp);
    let stream = host.stranger_in.run(|| TcpStream::connect(addr)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut c = SmtpClient::from_conn(Conn::from_tcp(stream));
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO stranger.test").starts_with("250"));
    assert!(c
        .cmd("MAIL FROM:<someone@stranger.test>")
        .starts_with("250"));
    let rcpt = c.cmd("RCPT TO:<victim@elsewhere.test>");
    let _ = c.try_send(b"QUIT\r\n");
    rcpt.to_string()
}

#[test]
fn mail_travels_between_two_hosts_in_network_namespaces() {
    let lan = match Lan::create(2) {
        Ok(lan) => lan,
        Err(reason) if std::env::var_os("FERRYMAIL_REQUIRE_NETNS").is_none() => {
            println!(
                "SKIP: network namespaces unavailable: {reason} \
                 (the loopback fallback test covers the same scenario)"
            );
            return;
        }
        Err(reason) => panic!("network namespaces unavailable: {reason}"),
    };
    let wan_ip = IpAddr::V4(Lan::WAN_IP);
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    let sock = lan
        .wan
        .run(|| UdpSocket::bind(SocketAddr::new(wan_ip, 53)))
        .unwrap();
    let dns = DnsServer::start_on(zone(ha.ip, hb.ip), sock).unwrap();
    let plan = |domain, me: &LanHost, other: &LanHost| HostPlan {
        domain,
        ip: me.ip,
        ports: Ports::standard(),
        daemons_in: me.place.clone(),
        clients_in: lan.wan.clone(),
        stranger_in: other.place.clone(),
        stranger: "the other host",
        outbound_ip: me.ip,
    };
    let topo = Topology {
        mode: "network namespaces",
        detail: format!(
            "namespaces {:?}; a.test on {}, b.test on {}, standard ports; DNS and mail clients \
             in the wan namespace at {wan_ip}:53",
            lan.names(),
            ha.ip,
            hb.ip
        ),
        a: plan("a.test", ha, hb),
        b: plan("b.test", hb, ha),
        dns: dns.addr,
    };
    run_scenario(&topo);
}

#[test]
fn mail_travels_between_two_hosts_on_loopback() {
    let (a_ip, b_ip) = (IpAddr::from(A_IP), IpAddr::from(B_IP));
    let dns = DnsServer::start(zone(a_ip, b_ip)).unwrap();
    let (a_ports, b_ports) = loopback_ports();
    let mx_port = a_ports.smtp;
    // queue-runner connects without binding a source address, so its connections (and the
    // stranger's) come from 127.0.0.1.
    let local = IpAddr::from([127, 0, 0, 1]);
    let plan = |domain, ip, ports| HostPlan {
        domain,
        ip,
        ports,
        daemons_in: Place::here(),
        clients_in: Place::here(),
        stranger_in: Place::here(),
        stranger: "127.0.0.1",
        outbound_ip: local,
    };
    let topo = Topology {
        mode: "loopback fallback",
        detail: format!(
            "a.test on {a_ip}, b.test on {b_ip}, MX port {mx_port} on both; DNS at {}",
            dns.addr
        ),
        a: plan("a.test", a_ip, a_ports),
        b: plan("b.test", b_ip, b_ports),
        dns: dns.addr,
    };
    run_scenario(&topo);
}

/// The whole scenario, the same in every mode.
fn run_scenario(topo: &Topology) {
    let started = Instant::now();
    println!("two-host mode: {} ({})", topo.mode, topo.detail);
    assert_eq!(
        topo.a.ports.smtp, topo.b.ports.smtp,
        "one queue.smtp_port must reach both MX listeners"
    );
    let mut a = setup_host(&topo.a, topo.dns);
    let mut b = setup_host(&topo.b, topo.dns);
    start(&mut a);
    start(&mut b);

    // Neither host relays for the other (nor for anyone else without AUTH).
    for h in [&a, &b] {
        let rcpt = relay_attempt(h);
        assert!(
            rcpt.starts_with('5'),
            "{} relays for {}: {rcpt}",
            h.name(),
            h.stranger
        );
    }

    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();

    // a.test -> b.test by MX, over SMTP with STARTTLS.
    let hello = format!("hello-{nonce}");
    submit(
        &a,
        &a.user,
        &b.user,
        &format!("Greetings {hello}"),
        &format!("Body of {hello}.\r\n"),
    );
    let on_disk = wait_delivered(&b, &hello, &a);
    let hop = received_by(&on_disk, "mail.b.test");
    assert!(hop.contains("with ESMTPS "), "not over TLS: {hop}");
    assert!(hop.contains("(using TLSv1."), "not over TLS: {hop}");
    assert!(hop.contains("from mail.a.test "), "{hop}");
    assert!(
        hop.contains(&format!("[{}])", topo.a.outbound_ip)),
        "not from a.test's address {}: {hop}",
        topo.a.outbound_ip
    );
    println!("two_hosts: b.test's copy: {hop}");

    let imap = read_with_python(&b, "imap", b.s.env.ports.imap, &hello);
    assert!(imap.contains(&format!("Body of {hello}.")), "{imap}");
    assert!(imap.contains(&format!("From: {}", a.user)), "{imap}");
    assert!(
        received_by(&imap, "mail.b.test").contains("(using TLSv1."),
        "{imap}"
    );
    let pop = read_with_python(&b, "pop3", b.s.env.ports.pop3, &hello);
    assert!(pop.contains(&format!("Body of {hello}.")), "{pop}");
    assert!(
        pop.contains(&format!("Subject: Greetings {hello}")),
        "{pop}"
    );

    // The reply travels back: b.test -> a.test.
    let reply = format!("reply-{nonce}");
    submit(
        &b,
        &b.user,
        &a.user,
        &format!("Re: Greetings {hello} {reply}"),
        &format!("Answer {reply}.\r\n"),
    );
    let back = wait_delivered(&a, &reply, &b);
    let hop = received_by(&back, "mail.a.test");
    assert!(
        hop.contains("with ESMTPS ") && hop.contains("(using TLSv1."),
        "{hop}"
    );
    assert!(hop.contains(&format!("[{}])", topo.b.outbound_ip)), "{hop}");
    let imap = read_with_python(&a, "imap", a.s.env.ports.imap, &reply);
    assert!(imap.contains(&format!("Answer {reply}.")), "{imap}");
    assert!(imap.contains(&format!("From: {}", b.user)), "{imap}");

    // Mail for an unknown b.test user comes back to the a.test sender as a DSN.
    let lost = format!("lost-{nonce}");
    submit(
        &a,
        &a.user,
        "nobody-here@b.test",
        &format!("Undeliverable {lost}"),
        &format!("Lost {lost}.\r\n"),
    );
    let dsn = wait_delivered(&a, "nobody-here@b.test", &b);
    let lower = dsn.to_ascii_lowercase();
    assert!(lower.contains("multipart/report"), "{dsn}");
    assert!(lower.contains("report-type=delivery-status"), "{dsn}");
    assert!(lower.contains("final-recipient: rfc822;"), "{dsn}");
    assert!(lower.contains("action: failed"), "{dsn}");
    assert!(lower.contains("status: 5."), "{dsn}");
    assert!(
        dsn.contains(&format!("Undeliverable {lost}")) || dsn.contains(&lost),
        "the DSN names the message: {dsn}"
    );
    let imap = read_with_python(&a, "imap", a.s.env.ports.imap, "nobody-here@b.test");
    assert!(
        imap.to_ascii_lowercase().contains("action: failed"),
        "{imap}"
    );
    // b.test refused the recipient in the SMTP dialogue and a.test's queue-runner bounced it.
    assert!(lower.contains("remote-mta: dns; mail.b.test"), "{dsn}");
    assert!(lower.contains("status: 5.1.1"), "{dsn}");
    // Nothing was delivered to b.test for the unknown user.
    assert!(b.delivered_containing(&lost).is_empty(), "{}", b.logs());

    for h in [&mut a, &mut b] {
        let host = h.name().to_owned();
        for d in DAEMONS {
            assert!(h.s.daemon_mut(d).is_running(), "{d} of {host} exited");
        }
    }
    for h in [&a, &b] {
        for line in h.logs().lines() {
            if line.contains("WARN") || line.contains("ERROR") {
                println!("two_hosts: log: {line}");
            }
        }
    }
    if std::env::var_os("TWO_HOSTS_DUMP").is_some() {
        println!("{dsn}\n{}\n{}", a.logs(), b.logs());
    }
    println!(
        "two_hosts: {} passed in {:.1?}",
        topo.mode,
        started.elapsed()
    );
}
