//! The fuzz target's body, shared with the unit test that replays the seed corpus
//! (`fuzz/corpus/session/`), so both exercise exactly the same code.

use crate::session::{Action, LoginResult, MessageInfo, Session, SessionConfig};

/// Two messages, the maildrop the fuzz target and the session's unit tests log in to.
pub(crate) fn sample() -> Vec<MessageInfo> {
    vec![
        MessageInfo {
            uidl: "100.M1P1Q1.h,S=10,W=12".into(),
            size: 12,
        },
        MessageInfo {
            uidl: "101.M1P1Q2.h,S=20,W=22".into(),
            size: 22,
        },
    ]
}

/// Any sequence of lines, with any
/// outcome of the actions, never panics and every reply is CRLF-terminated POP3.
pub fn drive(data: &[u8]) {
    let mut s = Session::new(
        SessionConfig {
            stls_available: data.first().is_some_and(|b| b & 1 == 1),
            plaintext_login_ok: data.first().is_some_and(|b| b & 2 == 2),
            max_auth_failures: 3,
            master_login: None,
        },
        data.first().is_some_and(|b| b & 4 == 4),
    );
    let _ = crate::parser::parse(data);
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate().take(500) {
        let mut step = if i % 37 == 36 {
            s.line_too_long()
        } else {
            s.line(line)
        };
        for _ in 0..4 {
            if !step.reply.is_empty() {
                assert!(step.reply.ends_with(b"\r\n"));
                assert!(
                    step.reply.starts_with(b"+") || step.reply.starts_with(b"-ERR"),
                    "{:?}",
                    String::from_utf8_lossy(&step.reply)
                );
            }
            step = match step.action {
                Action::Login(_) => s.login_finished(match line.len() % 4 {
                    0 => LoginResult::Ok(sample()),
                    1 => LoginResult::BadCredentials,
                    2 => LoginResult::InUse,
                    _ => LoginResult::Unavailable,
                }),
                Action::StartTls => {
                    s.tls_started();
                    break;
                }
                Action::Update { delete } => {
                    assert!(delete.iter().all(|&d| d < sample().len()));
                    s.update_finished(delete.len(), 0)
                }
                Action::Send { index, .. } => {
                    assert!(index < sample().len());
                    break;
                }
                Action::Close | Action::None => break,
            };
        }
        if s.is_closed() {
            break;
        }
    }
    let top = (data.len() % 2 == 1).then_some((data.len() % 7) as u64);
    let out = crate::transfer::encode_all(data, top);
    assert!(out.ends_with(b".\r\n"));
}
