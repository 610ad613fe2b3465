//! Two complete ferrymail hosts, a.test and b.test, with the real daemon binaries and a
//! loopback DNS server serving their MX and A records: a.test's user submits on the
//! submission port with STARTTLS and AUTH, queue-runner finds b.test by MX and hands the mail
//! over by SMTP with STARTTLS, b.test's user reads it over IMAP and over POP3 (Python's
//! imaplib/poplib), the reply travels back, and mail for an unknown b.test user comes back to
//! the a.test sender as a DSN.
//!
//! Mode: the loopback fallback of issue #10. a.test's daemons listen on 127.0.0.2, b.test's
//! on 127.0.0.3, both with the same MX port so one `queue.smtp_port` reaches either host.
//! Network namespaces are not attempted.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::{
    prepare, target_bin, wait_for_tcp, wait_for_unix, Daemon, DevEnv, DevOptions, Ports,
};
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

struct Host {
    _dir: tempfile::TempDir,
    env: DevEnv,
    user: String,
    pass: String,
    daemons: Vec<Daemon>,
}

impl Host {
    fn ip(&self) -> IpAddr {
        self.env.listen_addr
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for d in &self.daemons {
            out.push_str(&format!(
                "----- {} {} -----\n{}\n",
                self.env.config.general.hostname,
                d.name,
                d.log(&self.env)
            ));
        }
        out
    }

    /// Every delivered message file in the host's mail root whose text contains `needle`.
    fn delivered_containing(&self, needle: &str) -> Vec<String> {
        let mut files = Vec::new();
        walk(&self.env.config.paths.mail_root, &mut files);
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

/// A port free on both hosts' addresses, so both MX listeners can share it.
fn shared_free_port() -> u16 {
    for _ in 0..100 {
        let Ok(a) = TcpListener::bind(SocketAddr::from((A_IP, 0))) else {
            continue;
        };
        let port = a.local_addr().unwrap().port();
        if TcpListener::bind(SocketAddr::from((B_IP, port))).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3 after 100 tries");
}

fn setup_host(domain: &str, ip: [u8; 4], mx_port: u16, dns: &DnsServer) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let user = format!("user@{domain}");
    let pass = format!("pw-{domain}");
    let mut opts = DevOptions::new(dir.path().join("state"));
    opts.domain = domain.into();
    opts.users = vec![(user.clone(), pass.clone())];
    opts.listen_addr = IpAddr::from(ip);
    opts.ports = Ports {
        smtp: mx_port,
        ..Ports::free()
    };
    let mut env = prepare(&opts).unwrap();
    // queue-runner connects without binding a source address, so its connections come from
    // 127.0.0.1: trusting only the host's own address keeps the other host untrusted.
    env.config.general.trusted_networks = vec![format!("{}/32", IpAddr::from(ip)).parse().unwrap()];
    let q = &mut env.config.queue;
    q.dns_servers = vec![dns.addr];
    q.smtp_port = mx_port;
    q.retry_initial = Duration::from_secs(1);
    q.retry_max = Duration::from_secs(2);
    q.scan_interval = Duration::from_secs(1);
    q.connect_timeout = Duration::from_secs(5);
    q.command_timeout = Duration::from_secs(20);
    q.data_block_timeout = Duration::from_secs(20);
    q.data_done_timeout = Duration::from_secs(20);
    env.save_config().unwrap();
    Host {
        _dir: dir,
        env,
        user,
        pass,
        daemons: Vec::new(),
    }
}

fn start(host: &mut Host) {
    for name in DAEMONS {
        let bin = target_bin(name);
        assert!(
            bin.exists(),
            "{} is not built: run `cargo build --workspace` first",
            bin.display()
        );
        host.daemons.push(Daemon::spawn(&bin, &host.env).unwrap());
        let env = &host.env;
        let p = env.ports;
        let ready = match name {
            "local-delivery" => wait_for_unix(&env.config.lmtp_socket(), WAIT),
            "queue-runner" => wait_for_unix(&env.config.control_socket(), WAIT),
            "mta-smtpd" => {
                wait_for_tcp(env.addr(p.smtp), WAIT) && wait_for_tcp(env.addr(p.submission), WAIT)
            }
            "imapd" => wait_for_tcp(env.addr(p.imap), WAIT),
            _ => wait_for_tcp(env.addr(p.pop3), WAIT),
        };
        assert!(
            ready,
            "{name} of {} did not come up\n{}",
            env.config.general.hostname,
            host.logs()
        );
    }
}

fn submit(host: &Host, from: &str, to: &str, subject: &str, body: &str) {
    let pem = std::fs::read(&host.env.config.tls.cert).unwrap();
    let tls = TlsParameters::builder("localhost".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build_rustls()
        .unwrap();
    let t = SmtpTransport::builder_dangerous(host.ip().to_string())
        .port(host.env.ports.submission)
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
    let resp = t.send(&msg).unwrap_or_else(|e| {
        panic!(
            "submission to {} failed: {e}\n{}",
            host.env.config.general.hostname,
            host.logs()
        )
    });
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
                host.env.config.general.hostname,
                host.logs(),
                others.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

const IMAP_PY: &str = r#"
import imaplib, ssl, sys
host, port, user, pw, ca, needle = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
m = imaplib.IMAP4(host, int(port), timeout=20)
m.starttls(ssl_context=ctx)
m.login(user, pw)
typ, data = m.select('INBOX')
assert typ == 'OK', (typ, data)
typ, data = m.search(None, 'ALL')
assert typ == 'OK', (typ, data)
found = 0
for i in data[0].split():
    typ, d = m.fetch(i, '(BODY.PEEK[])')
    assert typ == 'OK', (typ, d)
    text = d[0][1].decode('utf-8', 'replace')
    if needle in text:
        found += 1
        sys.stdout.write(text + '\n=====\n')
m.logout()
sys.exit(0 if found else 3)
"#;

const POP3_PY: &str = r#"
import poplib, ssl, sys
host, port, user, pw, ca, needle = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
p = poplib.POP3(host, int(port), timeout=20)
p.stls(context=ctx)
p.user(user)
p.pass_(pw)
n, _ = p.stat()
found = 0
for i in range(1, n + 1):
    resp, lines, _ = p.retr(i)
    text = b'\r\n'.join(lines).decode('utf-8', 'replace')
    if needle in text:
        found += 1
        sys.stdout.write(text + '\n=====\n')
p.quit()
sys.exit(0 if found else 3)
"#;

/// Reads the messages containing `needle` with a Python client; fails clearly without python3.
fn read_with_python(host: &Host, script: &str, port: u16, needle: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(host.ip().to_string())
        .arg(port.to_string())
        .arg(&host.user)
        .arg(&host.pass)
        .arg(&host.env.config.tls.cert)
        .arg(needle)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for the IMAP/POP3 clients (Debian: python3): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python client on port {port} of {} failed ({}):\n{stdout}\n{}\n{}",
        host.env.config.general.hostname,
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

/// Sends an unauthenticated relay attempt from 127.0.0.1 to `host`'s MX port; returns the
/// reply to RCPT.
fn relay_attempt(host: &Host) -> String {
    let s = TcpStream::connect(host.env.addr(host.env.ports.smtp)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut reply = || {
        let mut all = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        all
    };
    assert!(reply().starts_with("220"));
    w.write_all(b"EHLO stranger.test\r\n").unwrap();
    assert!(reply().starts_with("250"));
    w.write_all(b"MAIL FROM:<someone@stranger.test>\r\n")
        .unwrap();
    assert!(reply().starts_with("250"));
    w.write_all(b"RCPT TO:<victim@elsewhere.test>\r\n").unwrap();
    let rcpt = reply();
    let _ = w.write_all(b"QUIT\r\n");
    rcpt
}

#[test]
fn mail_travels_between_two_hosts_by_mx_with_tls_and_bounces_come_back() {
    let started = Instant::now();
    let (a_ip, b_ip) = (IpAddr::from(A_IP), IpAddr::from(B_IP));
    let mut zone = Zone::new();
    zone.mx("a.test", 10, "mail.a.test")
        .a("mail.a.test", a_ip)
        .mx("b.test", 10, "mail.b.test")
        .a("mail.b.test", b_ip);
    let dns = DnsServer::start(zone).unwrap();
    let mx_port = shared_free_port();
    let mut a = setup_host("a.test", A_IP, mx_port, &dns);
    let mut b = setup_host("b.test", B_IP, mx_port, &dns);
    println!(
        "two_hosts: mode = loopback fallback (a.test on {a_ip}, b.test on {b_ip}, MX port {mx_port} on both; \
         DNS at {}); network namespaces not attempted",
        dns.addr
    );
    start(&mut a);
    start(&mut b);

    // Neither host relays for the other (nor for anyone else without AUTH).
    for h in [&a, &b] {
        let rcpt = relay_attempt(h);
        assert!(
            rcpt.starts_with('5'),
            "{} relays for an untrusted client: {rcpt}",
            h.env.config.general.hostname
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
    println!("two_hosts: b.test's copy: {hop}");

    let imap = read_with_python(&b, IMAP_PY, b.env.ports.imap, &hello);
    assert!(imap.contains(&format!("Body of {hello}.")), "{imap}");
    assert!(imap.contains(&format!("From: {}", a.user)), "{imap}");
    assert!(
        received_by(&imap, "mail.b.test").contains("(using TLSv1."),
        "{imap}"
    );
    let pop = read_with_python(&b, POP3_PY, b.env.ports.pop3, &hello);
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
    let imap = read_with_python(&a, IMAP_PY, a.env.ports.imap, &reply);
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
    let imap = read_with_python(&a, IMAP_PY, a.env.ports.imap, "nobody-here@b.test");
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
        let host = h.env.config.general.hostname.clone();
        for d in &mut h.daemons {
            assert!(d.is_running(), "{} of {host} exited", d.name);
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
    println!("two_hosts: passed in {:.1?}", started.elapsed());
}
