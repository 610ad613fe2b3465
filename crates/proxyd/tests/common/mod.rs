//! proxyd's integration tests run the real binaries in a dev environment made a one-host
//! cluster: imapd, pop3d and managesieved as the backend(s) on loopback, proxyd in front on
//! ports of its own. A second imapd on other ports (same mail root) is the second backend.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ferrymail_config::{Listener, ProxyBackend, Role};
use ferrymail_dev::{Daemon, Ports};
use ferrymail_testkit::{Conn, ImapClient, Suite};
use proxyd::control::{self, Request, Response};

pub const USER: &str = "alice@example.test";
pub const PASS: &str = "wonderland";

/// proxyd's own ports.
pub struct Front {
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub managesieve: u16,
    pub lmtp: u16,
}

/// The environment with `[cluster]` and `[proxy]` set (one backend, `b1`, on the
/// environment's ports); nothing started.
pub fn prepare() -> (Suite, Front) {
    let mut s = Suite::new(&[(USER, PASS), ("bob@example.test", "builder")]);
    s.join_cluster();
    let p = Ports::free();
    let front = Front {
        imap: p.imap,
        imaps: p.imaps,
        pop3: p.pop3,
        managesieve: p.managesieve,
        lmtp: p.smtp,
    };
    let ports = s.env.ports;
    s.edit_config(|c| {
        for l in c.env_limits() {
            l.auth_failure_delay = Duration::from_millis(20);
        }
        let at = |role, port| Listener {
            role,
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            name: None,
        };
        c.proxy.listeners = vec![
            at(Role::Imap, front.imap),
            at(Role::Imaps, front.imaps),
            at(Role::Pop3, front.pop3),
            at(Role::Managesieve, front.managesieve),
            at(Role::Lmtp, front.lmtp),
        ];
        c.proxy.backends = vec![backend("b1", ports.imap, ports.pop3, ports.managesieve)];
        c.proxy.health_interval = Duration::from_millis(200);
    });
    (s, front)
}

trait EnvLimits {
    fn env_limits(&mut self) -> [&mut ferrymail_config::ConnLimits; 4];
}

impl EnvLimits for ferrymail_config::Config {
    fn env_limits(&mut self) -> [&mut ferrymail_config::ConnLimits; 4] {
        [
            &mut self.imapd.limits,
            &mut self.pop3d.limits,
            &mut self.managesieve.limits,
            &mut self.proxy.limits,
        ]
    }
}

pub fn backend(name: &str, imap: u16, pop3: u16, managesieve: u16) -> ProxyBackend {
    ProxyBackend {
        name: name.into(),
        address: "127.0.0.1".into(),
        tls_name: "localhost".into(),
        imap,
        pop3,
        managesieve,
        lmtp: 24,
    }
}

/// A second imapd on ports of its own (its own config file and log), the same mail root.
pub fn second_imapd(s: &Suite) -> (Daemon, u16) {
    let mut env = s.env.clone();
    let p = Ports::free();
    env.state_dir = s.dir().join("b2");
    std::fs::create_dir_all(&env.state_dir).expect("b2 state dir");
    env.config_path = s.dir().join("b2.toml");
    env.config.imapd.listeners = vec![Listener {
        role: Role::Imap,
        listen: SocketAddr::from(([127, 0, 0, 1], p.imap)),
        name: None,
    }];
    env.save_config().expect("b2 config");
    let d = Daemon::start("imapd", &env, Duration::from_secs(30)).expect("second imapd");
    (d, p.imap)
}

/// A client of proxyd's IMAP port after STARTTLS.
pub fn imap_tls(s: &Suite, front: &Front) -> ImapClient {
    let conn = Conn::open(s.addr(front.imap)).with_tls(s.tls());
    let mut c = ImapClient::greeted(conn).expect("greeting");
    assert!(c.cmd("STARTTLS").ok());
    c.conn().start_tls().expect("TLS handshake");
    c
}

/// Logged in through proxyd.
pub fn imap_login(s: &Suite, front: &Front) -> ImapClient {
    let mut c = imap_tls(s, front);
    let r = c.login(USER, PASS);
    assert!(r.ok(), "{}\n{}", r.all(), s.logs());
    c
}

/// One request on proxyd's control socket.
pub fn control(s: &Suite, req: &Request) -> Response {
    let c = &s.env.config;
    control::request(
        &c.run_path(&c.proxy.control_socket),
        req,
        Duration::from_secs(5),
    )
    .expect("control request")
}

/// The backend the user's next session goes to, by proxyd's own account.
pub fn placed(s: &Suite) -> Option<String> {
    control(s, &Request::Where { user: USER.into() })
        .placement
        .and_then(|p| p.backend)
}

/// A small message.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: bob@example.test\r\nTo: {USER}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\r\nhello\r\n"
    )
    .into_bytes()
}
