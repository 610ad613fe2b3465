//! COMPRESS=DEFLATE (RFC 4978) against the real binary, driven like the clients that use it:
//! raw DEFLATE both ways, the client ending its writes with partial flushes (Thunderbird,
//! K-9) or sync flushes (iOS), in small pieces, with a command pipelined behind COMPRESS.
//! The relayed session of a Unix account is covered in `unix_accounts.rs`.

mod common;

use std::io::{Read, Write};

use common::deflated::Deflated;
use common::{login, message, PASS, USER};
use flate2::FlushCompress;

#[test]
fn compress_deflate_with_partial_and_sync_flushes() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("CAPABILITY");
    assert!(r.all().contains("COMPRESS=DEFLATE"), "{}", r.all());

    let sock = c.conn().tcp_socket().unwrap().try_clone().unwrap();
    let mut z = Deflated::new(sock);
    // COMPRESS with the first compressed command right behind it in the same write.
    let mut first = b"z1 COMPRESS DEFLATE\r\n".to_vec();
    first.extend(z.deflate(b"z2 SELECT INBOX\r\n", FlushCompress::Partial));
    z.sock.write_all(&first).unwrap();
    let mut plain = Vec::new();
    loop {
        let mut b = [0u8; 1];
        z.sock.read_exact(&mut b).unwrap();
        plain.push(b[0]);
        if plain.ends_with(b"\r\n") {
            break;
        }
    }
    let ok = String::from_utf8_lossy(&plain).into_owned();
    assert!(ok.starts_with("z1 OK"), "{ok}");
    let r = z.until_tag("z2");
    assert!(r.contains("z2 OK [READ-WRITE]"), "{r}");

    // A large APPEND literal, then the same bytes fetched back; each client flush style.
    let body: String = (0..4000)
        .map(|i| format!("line {i} of the body\r\n"))
        .collect();
    let msg = message("compressed", &body);
    let mut append = format!("z3 APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
    append.extend_from_slice(&msg);
    append.extend_from_slice(b"\r\n");
    z.send(&append, FlushCompress::Partial, 333);
    let r = z.until_tag("z3");
    assert!(
        r.contains("* 1 EXISTS") && r.contains("z3 OK [APPENDUID"),
        "{r}"
    );

    z.send(b"z4 NOOP\r\n", FlushCompress::Sync, 3);
    let r = z.until_tag("z4");
    assert!(r.contains("z4 OK"), "{r}");

    z.send(b"z5 FETCH 1 BODY.PEEK[]\r\n", FlushCompress::Sync, 5);
    let r = z.until_tag("z5");
    let literal = format!("BODY[] {{{}}}\r\n", msg.len());
    let at = r.find(&literal).unwrap_or_else(|| panic!("{r}")) + literal.len();
    assert_eq!(&r.as_bytes()[at..at + msg.len()], &msg[..]);

    z.send(b"z6 COMPRESS DEFLATE\r\n", FlushCompress::Partial, 64);
    let r = z.until_tag("z6");
    assert!(r.contains("z6 NO [COMPRESSIONACTIVE]"), "{r}");

    z.send(b"z7 LOGOUT\r\n", FlushCompress::Sync, 64);
    let r = z.until_tag("z7");
    assert!(r.contains("* BYE") && r.contains("z7 OK"), "{r}");
}
