//! A loopback HTTPS server for MTA-STS policy files: one request per connection, answering
//! `GET /.well-known/mta-sts.txt` with whatever the test's function gives for the requested
//! host, 404 otherwise; any POST (a TLS-RPT report) is recorded and answered 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The POSTs a [`PolicyServer`] took: path and body.
pub type Posts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A running policy server; stops when dropped.
pub struct PolicyServer {
    pub addr: SocketAddr,
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

/// Serves on `addr` with `tls`; `policy_for(host)` is the body for the `Host:` header's host
/// (`None`: 404).
pub fn policy_server(
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    policy_for: impl Fn(&str) -> Option<String> + Send + 'static,
) -> PolicyServer {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let posts: Posts = Arc::new(Mutex::new(Vec::new()));
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
                recorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((path, body));
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
        addr,
        posts,
        stop,
        thread: Some(thread),
    }
}
