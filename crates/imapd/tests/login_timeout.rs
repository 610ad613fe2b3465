//! A client that trickles bytes without ever logging in is disconnected after
//! `imapd.login_timeout`; once logged in, only the (30-minute) autologout applies.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{login, PASS, USER};

#[test]
fn slow_unauthenticated_client_is_cut_at_the_login_timeout() {
    let s = common::start_with(true, |c| c.imapd.login_timeout = Duration::from_secs(2));

    let mut raw = std::net::TcpStream::connect(s.env.addr(s.env.ports.imap)).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let mut closed = false;
    // One byte every 200 ms of a never-finished command, for at most 10 s.
    for b in b"a1 LOGIN someone-who-never-finishes-typing"
        .iter()
        .cycle()
        .take(50)
    {
        if raw.write_all(std::slice::from_ref(b)).is_err() {
            closed = true;
            break;
        }
        match raw.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        closed,
        "still connected after {:?}: {text}",
        started.elapsed()
    );
    assert!(text.contains("* BYE Login timeout"), "{text}");

    // A logged-in session outlives the login timeout.
    let mut c = login(&s, USER, PASS);
    std::thread::sleep(Duration::from_secs(3));
    assert!(c.cmd("NOOP").ok());
}
