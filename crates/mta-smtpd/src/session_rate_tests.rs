//! The session's side of the submission rate limits: where budget is taken, refused and
//! given back.

use ferrymail_config::RateLimits;

use super::*;
use crate::rate::{MonotonicClock, RateLimiter};

fn limiter(messages: u32, recipients: u32) -> Arc<RateLimiter> {
    let cfg = RateLimits {
        user_messages_per_hour: messages,
        user_recipients_per_hour: recipients,
        ..RateLimits::default()
    };
    Arc::new(RateLimiter::new(
        &cfg,
        true,
        Box::new(MonotonicClock::new()),
    ))
}

/// A submissions session logged in as `login`, sharing `limiter`.
fn logged_in(limiter: &Arc<RateLimiter>, login: &str) -> Session {
    let mut s =
        session_with(cfg(Role::Submissions), false, false).with_rate_limiter(limiter.clone());
    say(&mut s, "EHLO c");
    let out = s.on_line(b"AUTH PLAIN AGpvZUBhLnRlc3QAc2VjcmV0\r\n");
    assert!(
        matches!(out.as_slice(), [Output::Authenticate(_)]),
        "{out:?}"
    );
    assert!(replies(&s.auth_result(Ok(login.into()))).starts_with("235 "));
    s
}

fn queue(s: &mut Session) {
    deliver(s);
    assert!(replies(&s.committed(Ok(QueueId::generate()))).starts_with("250 2.0.0"));
}

#[test]
fn recipients_then_messages_run_out_with_450_4_7_1_naming_the_limit() {
    let l = limiter(2, 3);
    let mut s = logged_in(&l, "joe@a.test");
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<x@far.test>"), "250 2.1.5");
    assert_eq!(code(&mut s, "RCPT TO:<y@far.test>"), "250 2.1.5");
    queue(&mut s);
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<x@far.test>"), "250 2.1.5");
    // A repeated recipient is one recipient; a refused one takes nothing.
    assert_eq!(code(&mut s, "RCPT TO:<X@far.test>"), "250 2.1.5");
    assert_eq!(code(&mut s, "RCPT TO:<nobody@a.test>"), "550 5.1.1");
    assert_eq!(
        say(&mut s, "RCPT TO:<z@far.test>"),
        "450 4.7.1 Error: too many recipients from user joe@a.test (limit 3 per hour)\r\n"
    );
    // The accepted recipient still gets the message.
    let env = deliver(&mut s);
    assert_eq!(env.recipients.len(), 1);
    assert!(replies(&s.committed(Ok(QueueId::generate()))).starts_with("250 "));
    assert_eq!(
        say(&mut s, "MAIL FROM:<joe@a.test>"),
        "450 4.7.1 Error: too many messages from user joe@a.test (limit 2 per hour)\r\n"
    );
    // Not a protocol error: the session goes on.
    assert_eq!(code(&mut s, "NOOP"), "250 2.0.0");
    // Another login has its own budget.
    let mut other = logged_in(&l, "ann@a.test");
    assert_eq!(code(&mut other, "MAIL FROM:<>"), "250 2.1.0");
}

#[test]
fn transactions_that_queue_nothing_cost_nothing() {
    let l = limiter(1, 1);
    let mut s = logged_in(&l, "joe@a.test");
    // RSET.
    code(&mut s, "MAIL FROM:<joe@a.test>");
    code(&mut s, "RCPT TO:<x@far.test>");
    assert_eq!(code(&mut s, "RSET"), "250 2.0.0");
    // A failed spool commit.
    code(&mut s, "MAIL FROM:<joe@a.test>");
    code(&mut s, "RCPT TO:<x@far.test>");
    deliver(&mut s);
    assert!(replies(&s.committed(Err(()))).starts_with("452 4.3.1"));
    // Content refused at the end of the data.
    code(&mut s, "MAIL FROM:<joe@a.test>");
    code(&mut s, "RCPT TO:<x@far.test>");
    say(&mut s, "DATA");
    let too_big = DataOutcome {
        too_big: true,
        ..DataOutcome::default()
    };
    assert!(replies(&s.data_received(&too_big, true)).starts_with("552 "));
    // A session that ends mid-transaction.
    let mut gone = logged_in(&l, "joe@a.test");
    code(&mut gone, "MAIL FROM:<joe@a.test>");
    code(&mut gone, "RCPT TO:<x@far.test>");
    // While it is open, its message and recipient are held.
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "450 4.7.1");
    drop(gone);
    // All of it given back: the one message of the hour still goes.
    code(&mut s, "MAIL FROM:<joe@a.test>");
    assert_eq!(code(&mut s, "RCPT TO:<x@far.test>"), "250 2.1.5");
    queue(&mut s);
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "450 4.7.1");
}

#[test]
fn unauthenticated_mail_is_not_counted() {
    let l = limiter(1, 1);
    let mut s = mx().with_rate_limiter(l.clone());
    say(&mut s, "EHLO c");
    for _ in 0..3 {
        assert_eq!(code(&mut s, "MAIL FROM:<x@b.test>"), "250 2.1.0");
        assert_eq!(code(&mut s, "RCPT TO:<joe@a.test>"), "250 2.1.5");
        queue(&mut s);
    }
    assert_eq!(l.tracked(), (0, 0));
}
