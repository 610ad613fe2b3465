//! The test clients against scripted loopback servers: what they return for well-formed and
//! hostile answers, when they see a close, and whom they trust over TLS.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrymail_testkit::pop3::unstuff;
use ferrymail_testkit::{Conn, ImapClient, Pop3Client, SmtpClient, Suite};

/// A one-connection server running `script` on a thread.
fn serve(script: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        script(s);
    });
    (addr, handle)
}

/// Reads one command line from the client.
fn expect(r: &mut impl BufRead, want: &str) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, want);
}

#[test]
fn smtp_replies_are_read_whole_and_a_close_is_seen() {
    let (addr, server) = serve(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(b"220 ready\r\n").unwrap();
        expect(&mut r, "EHLO client.test\r\n");
        w.write_all(b"250-first\r\n250-SIZE 100\r\n250 last\r\n")
            .unwrap();
        expect(&mut r, "QUIT\r\n");
        w.write_all(b"221 2.0.0 Bye\r\n").unwrap();
    });
    let mut c = SmtpClient::connect(addr);
    let ehlo = c.hello();
    assert_eq!(ehlo.code, 250);
    assert_eq!(
        ehlo.lines().collect::<Vec<_>>(),
        ["250-first", "250-SIZE 100", "250 last"]
    );
    assert_eq!(ehlo.status(), "250 last");
    let bye = c.cmd("QUIT");
    assert_eq!(bye.status(), "221 2.0.0");
    assert_eq!(bye.message(), "2.0.0 Bye");
    server.join().unwrap();
    assert!(c.closed());
    let err = c.try_reply().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn plaintext_sent_before_the_tls_handshake_is_refused() {
    let s = Suite::new(&[]);
    let (addr, server) = serve(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        expect(&mut r, "STARTTLS\r\n");
        // An attacker's injected reply rides along with the go-ahead.
        w.write_all(b"220 2.0.0 go ahead\r\n250 injected\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
    });
    let mut c = SmtpClient::connect(addr).with_tls(s.tls());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd("STARTTLS").code, 220);
    let err = c.conn().start_tls().unwrap_err();
    assert!(err.to_string().contains("250 injected"), "{err}");
    server.join().unwrap();
}

/// An implicit-TLS POP3 server with `s`'s certificate that greets and serves one RETR.
fn tls_pop3(s: &Suite) -> (SocketAddr, JoinHandle<()>) {
    let cfg = &s.env.config.tls;
    let server_config = ferrymail_net::tls::load_server_config(&cfg.cert, &cfg.key).unwrap();
    serve(move |tcp| {
        let conn = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        if tls.write_all(b"+OK ready\r\n").is_err() {
            return; // the client refused our certificate
        }
        let mut r = BufReader::new(tls);
        expect(&mut r, "RETR 1\r\n");
        let w = r.get_mut();
        w.write_all(b"+OK 9 octets\r\n..dot\r\nplain\r\n.\r\n")
            .unwrap();
        w.flush().unwrap();
    })
}

#[test]
fn tls_trusts_the_environments_certificate_and_no_other() {
    let s = Suite::new(&[]);
    let (addr, server) = tls_pop3(&s);
    let mut c = Pop3Client::connect_tls(addr, s.tls());
    assert_eq!(c.greeting, "+OK ready\r\n");
    let (status, body) = c.multi("RETR 1");
    assert_eq!(status, "+OK 9 octets\r\n");
    assert_eq!(body, b"..dot\r\nplain\r\n.\r\n");
    assert_eq!(unstuff(&body), b".dot\r\nplain\r\n");
    server.join().unwrap();

    // Another environment's certificate is a stranger.
    let (addr, server) = tls_pop3(&Suite::new(&[]));
    let mut conn = Conn::tcp(addr).unwrap().with_tls(s.tls());
    assert!(conn.start_tls().is_err());
    server.join().unwrap();
}

#[test]
fn imap_responses_inline_literals_and_end_at_their_tag() {
    let (addr, server) = serve(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(b"* OK hello\r\n").unwrap();
        expect(&mut r, "a1 FETCH 1 BODY[]\r\n");
        w.write_all(
            b"* 1 FETCH (BODY[] {7}\r\nab\r\ncd)\r\n* 2 EXISTS\r\nb1 OK not ours\r\na1 OK done\r\n",
        )
        .unwrap();
    });
    let mut c = ImapClient::connect(addr);
    assert_eq!(c.greeting, "* OK hello");
    let r = c.cmd("FETCH 1 BODY[]");
    assert!(r.ok(), "{}", r.all());
    assert_eq!(
        r.untagged,
        [
            "* 1 FETCH (BODY[] {7}\r\nab\r\ncd)",
            "* 2 EXISTS",
            "b1 OK not ours"
        ]
    );
    assert_eq!(r.tagged, "a1 OK done");
    server.join().unwrap();
    let err = c.try_line().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn pop3_lines_keep_their_crlf_and_end_empty() {
    let (addr, server) = serve(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(b"+OK POP3 ready\r\n").unwrap();
        expect(&mut r, "USER joe\r\n");
        w.write_all(b"+OK\r\n").unwrap();
        expect(&mut r, "PASS pw\r\n");
        w.write_all(b"-ERR [AUTH] no\r\n").unwrap();
    });
    let mut c = Pop3Client::connect(addr);
    assert_eq!(c.greeting, "+OK POP3 ready\r\n");
    assert_eq!(c.login("joe", "pw"), "-ERR [AUTH] no\r\n");
    server.join().unwrap();
    assert_eq!(c.line(), "");
    assert!(c.is_eof());
}

#[test]
fn a_silent_server_is_a_timeout_not_a_close() {
    let (addr, server) = serve(|s| {
        std::thread::sleep(Duration::from_millis(800));
        drop(s);
    });
    let mut c = SmtpClient::connect(addr);
    c.conn()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = c.try_reply().unwrap_err();
    assert_ne!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    server.join().unwrap();
    c.conn()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(c.closed());
}
