//! managesieved's integration tests run the real binary in a dev environment: its users, and
//! a raw client reading whole responses (literals included).
#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine;
use ferrymail_testkit::{Conn, Suite};

pub const USER: &str = "joe@example.test";
pub const PASS: &str = "correct horse";

pub fn start(edit: impl FnOnce(&mut ferrymail_config::Config)) -> Suite {
    let mut s = Suite::new(&[(USER, PASS)]);
    s.edit_config(|c| {
        c.managesieve.limits.auth_failure_delay = std::time::Duration::from_millis(20);
        edit(c);
    });
    s.start("managesieved");
    s
}

/// The user's Sieve home: the directory holding its Maildir (no home in the passwd-file).
pub fn sieve_home(s: &Suite) -> PathBuf {
    s.maildir(USER).parent().expect("maildir parent").to_owned()
}

/// A connection and the lines of a whole response (up to and including OK, NO or BYE),
/// with literals read whole.
pub struct Client {
    pub conn: Conn,
}

impl Client {
    pub fn connect(s: &Suite) -> (Client, String) {
        let conn = Conn::open(s.addr(s.env.ports.managesieve)).with_tls(s.tls());
        let mut c = Client { conn };
        let greeting = c.response();
        (c, greeting)
    }

    pub fn response(&mut self) -> String {
        let mut out = String::new();
        loop {
            let line = self.conn.read_line().expect("reply line");
            let text = String::from_utf8(line).expect("UTF-8 reply");
            out.push_str(&text);
            if let Some(n) = literal(&text) {
                let body = self.conn.read_exact_bytes(n).expect("literal");
                out.push_str(&String::from_utf8(body).expect("UTF-8 literal"));
                continue;
            }
            if ["OK", "NO", "BYE"]
                .iter()
                .any(|k| text.starts_with(k) && !text.starts_with("\""))
            {
                return out;
            }
        }
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.conn.send(line.as_bytes()).expect("send");
        self.response()
    }

    pub fn starttls(&mut self) -> String {
        assert!(self.cmd("STARTTLS\r\n").starts_with("OK"));
        self.conn.start_tls().expect("TLS handshake");
        self.response()
    }

    pub fn login(&mut self) {
        self.starttls();
        let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASS}"));
        let r = self.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"\r\n"));
        assert!(r.starts_with("OK"), "{r}");
    }

    pub fn put(&mut self, name: &str, script: &str) -> String {
        self.cmd(&format!(
            "PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}\r\n",
            script.len()
        ))
    }
}

/// `{N}` at the end of a line.
fn literal(line: &str) -> Option<usize> {
    let inner = line.trim_end().strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}
