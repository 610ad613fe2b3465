//! MTA-STS test fixtures: certificates for loopback hosts, an HTTPS policy server, and the
//! two MX hosts (trusted and untrusted certificate) the MTA-STS and TLS-RPT tests deliver to.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{always, smtp_server_tls, FakeServer, TestEnv};

/// Writes a certificate and key for `names` under `dir` and returns the server config and
/// the certificate's path.
pub fn cert(
    dir: &Path,
    stem: &str,
    names: &[&str],
) -> (Arc<rustls::ServerConfig>, std::path::PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let (c, k) = ferrymail_net::tls::self_signed(&names).unwrap();
    let cp = dir.join(format!("{stem}.crt"));
    let kp = dir.join(format!("{stem}.key"));
    std::fs::write(&cp, c).unwrap();
    std::fs::write(&kp, k).unwrap();
    (
        ferrymail_net::tls::load_server_config(&cp, &kp).unwrap(),
        cp,
    )
}

/// The POSTs a [`PolicyServer`] took: path and body.
pub type Posts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A one-request-per-connection HTTPS server answering `GET /.well-known/mta-sts.txt` with
/// `policy_for` the requested host, and taking any POST (recorded in `posts` as path and
/// body, answered 200); stops when dropped.
pub struct PolicyServer {
    pub posts: Posts,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn policy_server(
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    policy_for: fn(&str) -> Option<&'static str>,
) -> PolicyServer {
    let listener = TcpListener::bind(addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let posts = Arc::new(Mutex::new(Vec::new()));
    let (s, recorded) = (stop.clone(), posts.clone());
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = tcp.set_nonblocking(false);
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(conn) = rustls::ServerConnection::new(tls.clone()) else {
                continue;
            };
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head_len = req
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(req.len(), |i| i + 4);
            let mut body = req.split_off(head_len);
            let req = String::from_utf8_lossy(&req).into_owned();
            if let Some(path) = req.strip_prefix("POST ") {
                let path = path.split(' ').next().unwrap_or("").to_owned();
                let len: usize = req
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while body.len() < len {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                recorded.lock().unwrap().push((path, body));
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                stream.conn.send_close_notify();
                let _ = stream.flush();
                continue;
            }
            let host = req
                .lines()
                .find_map(|l| l.strip_prefix("Host: "))
                .unwrap_or("")
                .trim()
                .to_owned();
            let resp = match (
                req.starts_with("GET /.well-known/mta-sts.txt "),
                policy_for(&host),
            ) {
                (true, Some(p)) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{p}",
                    p.len()
                ),
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
            };
            let _ = stream.write_all(resp.as_bytes());
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    PolicyServer {
        posts,
        stop,
        thread: Some(thread),
    }
}

/// The MX whose certificate the configuration trusts.
pub const GOOD_MX: [u8; 4] = [127, 0, 0, 3];
/// The policy host of every test domain.
pub const POLICY: [u8; 4] = [127, 0, 0, 4];
/// An MX (`mx.badcert.test`) whose certificate no configured authority signed.
pub const BAD_CERT_MX: [u8; 4] = [127, 0, 0, 5];

/// The servers of an MTA-STS test.
pub struct StsWorld {
    /// The trusted certificate, for further servers.
    pub trusted: Arc<rustls::ServerConfig>,
    pub good: FakeServer,
    pub bad: FakeServer,
    pub policy: PolicyServer,
}

/// Starts the MX at [`GOOD_MX`] and the policy host at [`POLICY`] (serving `policy_for`)
/// with one certificate for `names`, which `t`'s configuration trusts, and the MX at
/// [`BAD_CERT_MX`] with a certificate valid for its name but signed by no configured
/// authority; MX hosts listen on `smtp_port`, the policy host on `https`. `t`'s
/// configuration is changed to match but not saved: the caller edits it further.
pub fn sts_world(
    t: &mut TestEnv,
    smtp_port: u16,
    https: u16,
    names: &[&str],
    policy_for: fn(&str) -> Option<&'static str>,
) -> StsWorld {
    let dir = t.env.state_dir.join("test-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let (trusted, ca) = cert(&dir, "trusted", names);
    let (untrusted, _) = cert(&dir, "untrusted", &["mx.badcert.test"]);
    let q = &mut t.env.config.queue;
    q.tls_trust_anchors = vec![ca];
    q.mta_sts.https_port = https;
    q.mta_sts.fetch_timeout = Duration::from_secs(3);
    let at = |ip: [u8; 4], port| SocketAddr::new(IpAddr::from(ip), port);
    let ext: &[&str] = &["PIPELINING"];
    StsWorld {
        trusted: trusted.clone(),
        good: smtp_server_tls(
            at(GOOD_MX, smtp_port),
            ext,
            Some(trusted.clone()),
            Arc::new(always),
        ),
        bad: smtp_server_tls(
            at(BAD_CERT_MX, smtp_port),
            ext,
            Some(untrusted),
            Arc::new(always),
        ),
        policy: policy_server(at(POLICY, https), trusted, policy_for),
    }
}
