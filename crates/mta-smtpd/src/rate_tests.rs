use std::sync::atomic::{AtomicU64, Ordering};

use ferrymail_config::UserRate;

use super::*;

/// A clock the test moves by hand; clones share the time.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_secs(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

fn limits(user: (u32, u32), address: (u32, u32)) -> RateLimits {
    RateLimits {
        user_messages_per_hour: user.0,
        user_recipients_per_hour: user.1,
        address_messages_per_hour: address.0,
        address_recipients_per_hour: address.1,
        ..RateLimits::default()
    }
}

fn limiter(cfg: &RateLimits) -> (Arc<RateLimiter>, ManualClock) {
    let clock = ManualClock::default();
    (
        Arc::new(RateLimiter::new(cfg, true, Box::new(clock.clone()))),
        clock,
    )
}

const ADDR: &str = "192.0.2.7";

fn who(login: &str) -> Submitter<'_> {
    Submitter {
        login,
        addr: ADDR.parse().unwrap(),
        trusted: false,
    }
}

fn who_at<'a>(login: &'a str, addr: &str) -> Submitter<'a> {
    Submitter {
        addr: addr.parse().unwrap(),
        ..who(login)
    }
}

/// A queued message with `rcpts` recipients.
fn send(l: &Arc<RateLimiter>, w: Submitter<'_>, rcpts: u32) -> Result<(), Exceeded> {
    let mut r = l.begin_message(w)?;
    for _ in 0..rcpts {
        r.add_recipient()?;
    }
    r.commit();
    Ok(())
}

#[test]
fn messages_over_the_hour_are_refused_until_the_oldest_minute_leaves_it() {
    let (l, clock) = limiter(&limits((3, 0), (0, 0)));
    send(&l, who("joe@a.test"), 1).unwrap();
    clock.advance(Duration::from_secs(20 * 60));
    send(&l, who("joe@a.test"), 1).unwrap();
    send(&l, who("JOE@a.test"), 1).unwrap();
    let e = l.begin_message(who("joe@a.test")).unwrap_err();
    assert_eq!(
        e,
        Exceeded {
            scope: Scope::User,
            budget: Budget::Messages,
            limit: 3,
            who: "joe@a.test".into()
        }
    );
    // Another login is not affected.
    send(&l, who("ann@a.test"), 1).unwrap();
    // 59 minutes after the first message it still counts; at 60 it has left the window.
    clock.advance(Duration::from_secs(39 * 60));
    assert!(l.begin_message(who("joe@a.test")).is_err());
    clock.advance(Duration::from_secs(60));
    send(&l, who("joe@a.test"), 1).unwrap();
    assert!(l.begin_message(who("joe@a.test")).is_err());
}

#[test]
fn recipients_are_refused_one_by_one_and_the_accepted_ones_still_go() {
    let (l, _) = limiter(&limits((0, 5), (0, 0)));
    send(&l, who("joe@a.test"), 3).unwrap();
    let mut r = l.begin_message(who("joe@a.test")).unwrap();
    r.add_recipient().unwrap();
    r.add_recipient().unwrap();
    let e = r.add_recipient().unwrap_err();
    assert_eq!(
        (e.scope, e.budget, e.limit),
        (Scope::User, Budget::Recipients, 5)
    );
    r.commit();
    // All five are used now; a new message can begin but takes no recipient.
    let mut r = l.begin_message(who("joe@a.test")).unwrap();
    assert!(r.add_recipient().is_err());
}

#[test]
fn an_abandoned_transaction_gives_its_budget_back() {
    let (l, _) = limiter(&limits((1, 2), (0, 0)));
    {
        let mut r = l.begin_message(who("joe@a.test")).unwrap();
        r.add_recipient().unwrap();
        r.add_recipient().unwrap();
        // While it is open, a parallel session of the same login gets nothing.
        assert_eq!(
            l.begin_message(who("joe@a.test")).unwrap_err().budget,
            Budget::Messages
        );
    }
    send(&l, who("joe@a.test"), 2).unwrap();
    assert!(l.begin_message(who("joe@a.test")).is_err());
}

#[test]
fn the_address_budget_is_shared_by_every_login_from_it() {
    let (l, _) = limiter(&limits((10, 0), (2, 0)));
    send(&l, who("joe@a.test"), 1).unwrap();
    send(&l, who("ann@a.test"), 1).unwrap();
    let e = l.begin_message(who("bob@a.test")).unwrap_err();
    assert_eq!((e.scope, e.who.as_str()), (Scope::Address, ADDR));
    send(&l, who_at("bob@a.test", "198.51.100.1"), 1).unwrap();
    // A trusted client (exempt_trusted) has no address limit; its user limit still holds.
    let trusted = Submitter {
        trusted: true,
        ..who("bob@a.test")
    };
    send(&l, trusted, 1).unwrap();
}

#[test]
fn a_refusal_by_the_address_holds_nothing_of_the_user() {
    let (l, _) = limiter(&limits((1, 0), (1, 0)));
    send(&l, who("joe@a.test"), 0).unwrap();
    assert_eq!(
        l.begin_message(who("ann@a.test")).unwrap_err().scope,
        Scope::Address
    );
    send(&l, who_at("ann@a.test", "198.51.100.1"), 0).unwrap();
}

#[test]
fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
    let (l, _) = limiter(&limits((0, 0), (1, 0)));
    let at = |a: &str| who_at("joe@a.test", a);
    send(&l, at("2001:db8:1:2::10"), 0).unwrap();
    let e = l.begin_message(at("2001:db8:1:2:ffff::1")).unwrap_err();
    assert_eq!(e.who, "2001:db8:1:2::/64");
    send(&l, at("2001:db8:1:3::10"), 0).unwrap();
    send(&l, at("192.0.2.9"), 0).unwrap();
    assert!(l.begin_message(at("::ffff:192.0.2.9")).is_err());
}

#[test]
fn overrides_replace_the_user_limits_and_zero_means_none() {
    let mut cfg = limits((1, 1), (0, 0));
    cfg.user_overrides.insert(
        "Bulk@A.test".into(),
        UserRate {
            messages_per_hour: Some(3),
            recipients_per_hour: Some(0),
        },
    );
    let (l, _) = limiter(&cfg);
    for _ in 0..3 {
        send(&l, who("bulk@a.test"), 50).unwrap();
    }
    assert!(l.begin_message(who("bulk@a.test")).is_err());
    send(&l, who("joe@a.test"), 1).unwrap();
    assert!(l.begin_message(who("joe@a.test")).is_err());
    // Nothing limited: nothing tracked.
    let (l, _) = limiter(&limits((0, 0), (0, 0)));
    for _ in 0..100 {
        send(&l, who("joe@a.test"), 100).unwrap();
    }
    assert_eq!(l.tracked(), (0, 0));
}

#[test]
fn tracked_keys_are_bounded_idle_ones_going_first() {
    let mut cfg = limits((1, 0), (0, 0));
    cfg.max_tracked_keys = 3;
    let (l, clock) = limiter(&cfg);
    send(&l, who("a@a.test"), 0).unwrap();
    clock.advance(Duration::from_secs(61 * 60));
    send(&l, who("b@a.test"), 0).unwrap();
    send(&l, who("c@a.test"), 0).unwrap();
    // Full: `a` is idle (its message has left the hour) and goes, `b` and `c` stay counted.
    clock.advance(Duration::from_secs(60));
    send(&l, who("d@a.test"), 0).unwrap();
    assert_eq!(l.tracked(), (3, 0));
    clock.advance(Duration::from_secs(60));
    assert!(l.begin_message(who("c@a.test")).is_err());
    clock.advance(Duration::from_secs(60));
    assert!(l.begin_message(who("b@a.test")).is_err());
    // None idle: the least recently active (`d`) goes, so it starts afresh.
    send(&l, who("e@a.test"), 0).unwrap();
    assert_eq!(l.tracked(), (3, 0));
    send(&l, who("d@a.test"), 0).unwrap();
    assert!(l.begin_message(who("b@a.test")).is_err());
}
