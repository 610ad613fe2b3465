use super::*;
use crate::macros::MacroLists;
use crate::wire::cmd;

fn neg(actions: u32, protocol: u32) -> Negotiated {
    Negotiated {
        version: 6,
        actions,
        protocol,
        macros: MacroLists::default(),
    }
}

fn none(_: &str) -> Option<String> {
    None
}

#[test]
fn left_out_events_still_get_their_macros_and_no_reply_is_awaited() {
    let mut c = Client::new(neg(0, proto::NOHELO | proto::NR_MAIL));
    let mut out = Vec::new();
    let value = |n: &str| (n == "{tls_version}").then(|| "TLSv1.3".to_string());
    assert!(!c.send(Event::Helo, &Command::Helo("x"), &value, &mut out));
    assert_eq!(&out[4..6], &[cmd::MACRO, cmd::HELO]);
    assert_eq!(&out[6..], b"{tls_version}\0TLSv1.3\0");
    out.clear();
    let args = ["<a@b>".to_string()];
    assert!(!c.send(Event::Mail, &Command::Mail(&args), &none, &mut out));
    assert_eq!(out, Command::Mail(&args).to_bytes());
    out.clear();
    assert!(c.send(Event::Rcpt, &Command::Rcpt(&args), &none, &mut out));
    // Content left out sends not even macros.
    let mut c = Client::new(neg(0, proto::NOBODY));
    let mut out = Vec::new();
    let i = |n: &str| (n == "i").then(|| "Q1".to_string());
    assert!(!c.send(Event::Body, &Command::Body(b"x"), &i, &mut out));
    assert!(out.is_empty());
    assert!(c.send(Event::Eom, &Command::BodyEob, &i, &mut out));
    assert_eq!(&out[4..6], &[cmd::MACRO, cmd::BODYEOB]);
}

#[test]
fn replies_map_to_verdicts_like_postfix() {
    let mut c = Client::new(neg(0, 0));
    assert_eq!(
        c.on_response(Event::Rcpt, Response::Progress),
        Ok(Step::More)
    );
    assert_eq!(
        c.on_response(Event::Rcpt, Response::Reject),
        Ok(Step::Done(Verdict::Refuse(default_reject())))
    );
    // A refused recipient does not end the milter's part.
    assert_eq!(c.standing(Event::Rcpt), None);
    assert_eq!(
        c.on_response(Event::Mail, Response::Tempfail),
        Ok(Step::Done(Verdict::Refuse(default_tempfail())))
    );
    assert_eq!(
        c.on_response(Event::Data, Response::Discard),
        Ok(Step::Done(Verdict::Discard))
    );
    // Discarded: the rest of the message is not shown to it.
    assert_eq!(c.standing(Event::Eom), Some(Verdict::Continue));
    assert!(c.abort());
    assert_eq!(c.standing(Event::Mail), None);
    assert_eq!(
        c.on_response(Event::Connect, Response::Discard),
        Err(ProtocolError::Unexpected('d'))
    );
}

#[test]
fn a_refused_connection_refuses_everything_after() {
    let mut c = Client::new(neg(0, 0));
    let r = Reply::new(554, "5.7.1", "no");
    assert_eq!(
        c.on_response(Event::Connect, Response::ReplyCode(r.clone())),
        Ok(Step::Done(Verdict::Refuse(r.clone())))
    );
    assert_eq!(c.standing(Event::Mail), Some(Verdict::Refuse(r)));
    assert!(!c.is_active());
    let mut out = Vec::new();
    assert!(!c.send(Event::Helo, &Command::Helo("x"), &none, &mut out));
    assert!(out.is_empty());
}

#[test]
fn accept_ends_the_connection_or_the_message() {
    let mut c = Client::new(neg(0, 0));
    c.on_response(Event::Mail, Response::Accept).unwrap();
    assert_eq!(c.standing(Event::Rcpt), Some(Verdict::Continue));
    c.message_done();
    assert_eq!(c.standing(Event::Mail), None);
    c.on_response(Event::Helo, Response::Accept).unwrap();
    assert!(!c.is_active());
    assert!(!c.abort());
}

#[test]
fn modifications_need_end_of_message_and_the_negotiated_action() {
    let mut c = Client::new(neg(action::ADDHDRS | action::QUARANTINE, 0));
    let add = || {
        Response::Edit(Edit::AddHeader {
            name: "X".into(),
            value: "1".into(),
        })
    };
    assert_eq!(
        c.on_response(Event::Rcpt, add()),
        Err(ProtocolError::Unexpected('h'))
    );
    assert_eq!(c.on_response(Event::Eom, add()), Ok(Step::More));
    assert_eq!(
        c.on_response(Event::Eom, Response::Quarantine("why".into())),
        Ok(Step::More)
    );
    assert_eq!(
        c.on_response(Event::Eom, Response::Edit(Edit::DelRcpt("<a@b>".into()))),
        Err(ProtocolError::NotAllowed('-'))
    );
    assert_eq!(
        c.on_response(Event::Eom, Response::ReplBody(b"x".to_vec())),
        Err(ProtocolError::NotAllowed('b'))
    );
    assert_eq!(
        c.take_edits(),
        [Edit::AddHeader {
            name: "X".into(),
            value: "1".into()
        }]
    );
    assert_eq!(c.take_quarantine().as_deref(), Some("why"));
}

#[test]
fn skip_stops_the_body_for_this_message() {
    let mut c = Client::new(neg(0, proto::SKIP));
    assert_eq!(c.standing(Event::Body), None);
    assert_eq!(
        c.on_response(Event::Body, Response::Skip),
        Ok(Step::Done(Verdict::Continue))
    );
    assert_eq!(c.standing(Event::Body), Some(Verdict::Continue));
    assert_eq!(c.standing(Event::Eom), None);
    c.message_done();
    assert_eq!(c.standing(Event::Body), None);
}
