use super::*;

fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(code);
    p.extend_from_slice(data);
    p
}

fn one(code: u8, data: &[u8]) -> Result<Response, ProtocolError> {
    let mut d = Decoder::new(1 << 20);
    d.feed(&packet(code, data));
    let r = d.packet().map(|r| r.expect("complete packet"));
    assert_eq!(d.packet(), Ok(None));
    r
}

#[test]
fn simple_replies_have_no_data() {
    for (c, r) in [
        (b'a', Response::Accept),
        (b'c', Response::Continue),
        (b'd', Response::Discard),
        (b'r', Response::Reject),
        (b't', Response::Tempfail),
        (b'p', Response::Progress),
        (b's', Response::Skip),
        (b'4', Response::Shutdown),
        (b'f', Response::ConnFail),
    ] {
        assert_eq!(one(c, b""), Ok(r));
        assert_eq!(one(c, b"x"), Err(ProtocolError::Malformed(char::from(c))));
    }
    assert_eq!(one(b'Z', b""), Err(ProtocolError::Unknown(b'Z')));
}

#[test]
fn replycode_must_be_a_4xx_or_5xx_smtp_reply() {
    let Ok(Response::ReplyCode(r)) = one(b'y', b"550 5.7.1 Go away\0") else {
        panic!()
    };
    assert_eq!(r.to_bytes(), b"550 5.7.1 Go away\r\n");
    let Ok(Response::ReplyCode(r)) = one(b'y', b"451-4.7.1 one\r\n451 4.7.1 two\0") else {
        panic!()
    };
    assert_eq!(r.to_bytes(), b"451-4.7.1 one\r\n451 4.7.1 two\r\n");
    for bad in [
        &b"250 2.0.0 fine\0"[..],
        b"550 ok\r\n451 mixed\0",
        b"550-unfinished\0",
        b"5x0 bad\0",
        b"550 a\nb\0",
        b"550 no nul",
        b"\0",
    ] {
        assert!(one(b'y', bad).is_err(), "{bad:?}");
    }
}

#[test]
fn modifications_decode_their_fields() {
    let mut chg = 2u32.to_be_bytes().to_vec();
    chg.extend_from_slice(b"Subject\0\0");
    assert_eq!(
        one(b'm', &chg),
        Ok(Response::Edit(Edit::ChgHeader {
            index: 2,
            name: "Subject".into(),
            value: String::new()
        }))
    );
    let mut ins = 0u32.to_be_bytes().to_vec();
    ins.extend_from_slice(b"X-A\0v\0");
    assert_eq!(
        one(b'i', &ins),
        Ok(Response::Edit(Edit::InsHeader {
            index: 0,
            name: "X-A".into(),
            value: "v".into()
        }))
    );
    assert_eq!(
        one(b'h', b"X-Spam\0yes\0"),
        Ok(Response::Edit(Edit::AddHeader {
            name: "X-Spam".into(),
            value: "yes".into()
        }))
    );
    assert_eq!(
        one(b'+', b"<a@b>\0"),
        Ok(Response::Edit(Edit::AddRcpt("<a@b>".into())))
    );
    assert_eq!(
        one(b'-', b"<a@b>\0"),
        Ok(Response::Edit(Edit::DelRcpt("<a@b>".into())))
    );
    assert_eq!(
        one(b'2', b"<a@b>\0NOTIFY=NEVER\0"),
        Ok(Response::Edit(Edit::AddRcptPar {
            rcpt: "<a@b>".into(),
            args: Some("NOTIFY=NEVER".into())
        }))
    );
    assert_eq!(
        one(b'e', b"<s@b>\0"),
        Ok(Response::Edit(Edit::ChgFrom {
            from: "<s@b>".into(),
            args: None
        }))
    );
    assert_eq!(
        one(b'q', b"spam\0"),
        Ok(Response::Quarantine("spam".into()))
    );
    assert_eq!(
        one(b'b', b"new\r\n"),
        Ok(Response::ReplBody(b"new\r\n".to_vec()))
    );
    // Missing terminators, short words and trailing junk are refused.
    assert!(one(b'h', b"X-Spam\0yes").is_err());
    assert!(one(b'm', &[0, 0, 1]).is_err());
    assert!(one(b'+', b"<a@b>\0junk").is_err());
}

#[test]
fn decoder_waits_for_whole_packets_and_bounds_them() {
    let mut d = Decoder::new(16);
    let p = [packet(b'c', b""), packet(b'h', b"A\0b\0")].concat();
    for b in &p[..p.len() - 1] {
        d.feed(std::slice::from_ref(b));
    }
    assert_eq!(d.packet(), Ok(Some(Response::Continue)));
    assert_eq!(d.packet(), Ok(None));
    assert_eq!(d.wanted(), Ok(1));
    d.feed(&p[p.len() - 1..]);
    assert!(matches!(
        d.packet(),
        Ok(Some(Response::Edit(Edit::AddHeader { .. })))
    ));
    // An announced 4 GiB packet is refused from its length alone.
    let mut d = Decoder::new(16);
    d.feed(&[0xff, 0xff, 0xff, 0xff, b'b']);
    assert_eq!(d.packet(), Err(ProtocolError::TooLarge(0xffff_ffff)));
    let mut d = Decoder::new(16);
    d.feed(&[0, 0, 0, 0]);
    assert_eq!(d.packet(), Err(ProtocolError::Empty));
}
