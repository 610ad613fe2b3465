//! ManageSieve through proxyd to managesieved: no SASL before STARTTLS, then AUTHENTICATE
//! PLAIN (initial response and continuation) and PUTSCRIPT storing the user's script.

mod common;

use base64::Engine;
use common::{prepare, PASS, USER};
use ferrymail_testkit::Conn;

fn response(c: &mut Conn) -> String {
    let mut out = String::new();
    loop {
        let line = String::from_utf8(c.read_line().expect("reply")).expect("UTF-8");
        assert!(!line.is_empty(), "closed after: {out}");
        out.push_str(&line);
        if ["OK", "NO", "BYE"].iter().any(|k| line.starts_with(k)) {
            return out;
        }
    }
}

fn cmd(c: &mut Conn, line: &str) -> String {
    c.send(line.as_bytes()).expect("send");
    response(c)
}

#[test]
fn a_script_uploaded_through_the_front_end_is_stored_for_the_user() {
    let (mut s, front) = prepare();
    // Health checks look at the backend's IMAP port.
    s.start("imapd");
    s.start("managesieved");
    s.start("proxyd");
    let mut c = Conn::open(s.addr(front.managesieve)).with_tls(s.tls());
    let greeting = response(&mut c);
    assert!(greeting.contains("\"SASL\" \"\"\r\n"), "{greeting}");
    assert!(greeting.contains("\"STARTTLS\""), "{greeting}");
    let ir = |p: &str| base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{p}"));
    let r = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", ir(PASS)),
    );
    assert!(r.starts_with("NO (ENCRYPT-NEEDED)"), "{r}");
    assert!(cmd(&mut c, "STARTTLS\r\n").starts_with("OK"));
    c.start_tls().expect("TLS");
    let caps = response(&mut c);
    assert!(caps.contains("\"SASL\" \"PLAIN LOGIN\""), "{caps}");
    let r = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", ir("wrong")),
    );
    assert!(r.starts_with("NO"), "{r}");
    // PLAIN without an initial response: an empty challenge, the response as a literal.
    c.send(b"AUTHENTICATE \"PLAIN\"\r\n").unwrap();
    let challenge = String::from_utf8(c.read_line().unwrap()).unwrap();
    assert_eq!(challenge, "\"\"\r\n");
    let resp = ir(PASS);
    let r = cmd(&mut c, &format!("{{{}+}}\r\n{resp}\r\n", resp.len()));
    assert!(r.starts_with("OK"), "{r}\n{}", s.logs());
    let script = "require \"fileinto\";\r\nfileinto \"Junk\";\r\n";
    let r = cmd(
        &mut c,
        &format!("PUTSCRIPT \"main\" {{{}+}}\r\n{script}\r\n", script.len()),
    );
    assert!(r.starts_with("OK"), "{r}");
    assert!(cmd(&mut c, "SETACTIVE \"main\"\r\n").starts_with("OK"));
    let home = s.maildir(USER).parent().expect("sieve home").to_owned();
    let stored = std::fs::read_to_string(home.join("sieve/main.sieve")).expect("stored script");
    assert_eq!(stored, script);
    s.expect_logged("proxyd", "backend=b1 proto=managesieve");
}
