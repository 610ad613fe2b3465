//! Sieve's answering side through the real binary, scripts in Pigeonhole's layout: vacation
//! replies queued with response tracking, reject and ereject, duplicate, include, and the
//! site's before-script.

mod common;

use std::time::Duration;

use common::*;

/// Installs `text` as the user's script `name` and makes it the active one.
fn activate(t: &TestEnv, user: &str, name: &str, text: &str) {
    let home = t.user_dir(user);
    std::fs::create_dir_all(home.join("sieve")).unwrap();
    std::fs::write(home.join(format!("sieve/{name}.sieve")), text).unwrap();
    std::os::unix::fs::symlink(format!("sieve/{name}.sieve"), home.join(".dovecot.sieve")).unwrap();
}

fn mail(from: &str, to: &str, id: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\n{extra}\r\nbody\r\n"
    )
    .into_bytes()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n")
        .next()?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn vacation_replies_once_per_sender_and_period_through_the_queue() {
    let mut t = TestEnv::new();
    std::fs::create_dir_all(t.user_dir("alice")).unwrap();
    activate(
        &t,
        "alice",
        "away",
        "require \"vacation-seconds\";\nvacation :seconds 2 \"I am away until Monday.\";\n",
    );
    t.env.config.delivery.vacation_min_period = Duration::from_secs(1);
    t.start();
    let mut c = t.connect();
    let alice = "alice@example.test";
    let mut send = |sender: &str, m: Vec<u8>| {
        let (_, dr) = c.lmtp_deliver(sender, &[alice], &m);
        assert_eq!(dr[0].code, 250, "{dr:?}");
    };

    send(
        "a@remote.test",
        mail("a@remote.test", alice, "m1@remote.test", "Lunch", ""),
    );
    let q = t.requeued();
    assert_eq!(q.len(), 1, "one reply: {}", t.log());
    let (rcpts, sender, reply) = &q[0];
    assert_eq!(rcpts, &["a@remote.test"]);
    assert_eq!(sender, &None, "sent from <>");
    let reply = String::from_utf8_lossy(reply).to_string();
    assert_eq!(
        header(&reply, "Auto-Submitted"),
        Some("auto-replied (vacation)")
    );
    assert_eq!(header(&reply, "In-Reply-To"), Some("<m1@remote.test>"));
    assert_eq!(header(&reply, "Subject"), Some("Auto: Lunch"));
    assert_eq!(header(&reply, "To"), Some("<a@remote.test>"));
    assert_eq!(header(&reply, "From"), Some(alice));
    assert!(reply.contains("I am away until Monday."), "{reply}");

    // The same sender within the period: nothing more.
    send(
        "a@remote.test",
        mail("a@remote.test", alice, "m2@remote.test", "Again", ""),
    );
    send(
        "a@remote.test",
        mail("a@remote.test", alice, "m3@remote.test", "And again", ""),
    );
    assert_eq!(t.requeued().len(), 0);
    // Another sender gets their own.
    send(
        "b@remote.test",
        mail("b@remote.test", alice, "m4@remote.test", "Hi", ""),
    );
    let q = t.requeued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ["b@remote.test"]);
    // Lists, the null sender, automatic mail, mail not addressed to alice: none.
    send(
        "c@remote.test",
        mail(
            "c@remote.test",
            alice,
            "m5@remote.test",
            "List",
            "List-Id: <l.remote.test>\r\n",
        ),
    );
    send(
        "",
        mail("d@remote.test", alice, "m6@remote.test", "Bounce", ""),
    );
    send(
        "e@remote.test",
        mail(
            "e@remote.test",
            alice,
            "m7@remote.test",
            "Auto",
            "Auto-Submitted: auto-generated\r\n",
        ),
    );
    send(
        "f@remote.test",
        mail(
            "f@remote.test",
            "list@remote.test",
            "m8@remote.test",
            "Bcc",
            "",
        ),
    );
    assert_eq!(t.requeued().len(), 0, "{}", t.log());

    // After the period, a new reply.
    std::thread::sleep(Duration::from_millis(2200));
    send(
        "a@remote.test",
        mail("a@remote.test", alice, "m9@remote.test", "Later", ""),
    );
    let q = t.requeued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ["a@remote.test"]);
    // Every message was delivered all the same.
    assert_eq!(maildir_messages(&t.maildir("alice")).len(), 9);
}

#[test]
fn reject_sends_an_mdn_and_ereject_refuses_in_lmtp() {
    let mut t = TestEnv::new();
    for u in ["alice", "bob", "carol"] {
        std::fs::create_dir_all(t.user_dir(u)).unwrap();
    }
    activate(&t, "bob", "no", "require \"ereject\";\nif header :contains \"subject\" \"spam\" { ereject \"No spam here\"; }\n");
    activate(
        &t,
        "carol",
        "no",
        "require \"reject\";\nreject \"Go away\";\n",
    );
    t.start();
    let mut c = t.connect();
    let m = mail(
        "s@remote.test",
        "bob@example.test",
        "r1@remote.test",
        "spam offer",
        "",
    );
    let (_, dr) = c.lmtp_deliver(
        "s@remote.test",
        &[
            "alice@example.test",
            "bob@example.test",
            "carol@example.test",
        ],
        &m,
    );
    assert_eq!(
        dr.iter().map(|r| r.code).collect::<Vec<_>>(),
        [250, 550, 250],
        "{dr:?}"
    );
    assert!(dr[1].lines().any(|l| l.contains("No spam here")), "{dr:?}");
    assert_eq!(maildir_messages(&t.maildir("alice")).len(), 1);
    assert_eq!(maildir_messages(&t.maildir("bob")).len(), 0);
    assert_eq!(maildir_messages(&t.maildir("carol")).len(), 0);
    let q = t.requeued();
    assert_eq!(q.len(), 1, "carol's rejection");
    let (rcpts, sender, mdn) = &q[0];
    assert_eq!(
        (rcpts.as_slice(), sender),
        (&["s@remote.test".to_string()][..], &None)
    );
    let mdn = String::from_utf8_lossy(mdn);
    assert!(
        mdn.contains("Go away") && mdn.contains("disposition-notification"),
        "{mdn}"
    );
    assert!(
        mdn.contains("Original-Message-ID: <r1@remote.test>"),
        "{mdn}"
    );
    // A rejected bounce is dropped, never answered.
    let (_, dr) = c.lmtp_deliver("", &["carol@example.test"], &m);
    assert_eq!(dr[0].code, 250);
    assert_eq!(t.requeued().len(), 0);
}

#[test]
fn duplicate_include_and_the_site_before_script() {
    let mut t = TestEnv::new();
    for u in ["alice", "bob"] {
        std::fs::create_dir_all(t.user_dir(u)).unwrap();
    }
    let before = t.write(
        "site/before.sieve",
        "require \"fileinto\";\nif header :is \"x-spam\" \"yes\" { fileinto \"Junk\"; }\n",
    );
    t.write(
        "site/global/lists.sieve",
        "require \"fileinto\";\nif exists \"list-id\" { fileinto \"Lists\"; }\n",
    );
    t.env.config.delivery.sieve_before = vec![before];
    t.env.config.delivery.sieve_global_dir = t.state().join("site/global");
    activate(
        &t,
        "alice",
        "main",
        "require [\"duplicate\", \"fileinto\", \"include\"];\n\
         if duplicate { fileinto \"Dups\"; stop; }\n\
         include :global \"lists\";\ninclude \"mine\";\n",
    );
    std::fs::write(
        t.user_dir("alice").join("sieve/mine.sieve"),
        "require \"fileinto\";\nif header :contains \"subject\" \"work\" { fileinto \"Work\"; }\n",
    )
    .unwrap();
    // bob keeps a legacy script, read because he has no active-script link.
    std::fs::write(
        t.user_dir("bob").join(".sieve"),
        "require \"fileinto\"; fileinto \"Legacy\";",
    )
    .unwrap();
    t.start();
    let mut c = t.connect();
    let mut send = |to: &str, m: Vec<u8>| {
        let (_, dr) = c.lmtp_deliver("s@remote.test", &[to], &m);
        assert_eq!(dr[0].code, 250, "{dr:?}");
    };
    let alice = "alice@example.test";
    send(
        alice,
        mail("s@remote.test", alice, "d1@remote.test", "hello", ""),
    );
    send(
        alice,
        mail("s@remote.test", alice, "d1@remote.test", "hello", ""),
    );
    send(
        alice,
        mail(
            "s@remote.test",
            alice,
            "d2@remote.test",
            "news",
            "List-Id: <l.remote.test>\r\n",
        ),
    );
    send(
        alice,
        mail("s@remote.test", alice, "d3@remote.test", "work item", ""),
    );
    // The before-script's fileinto ends the sequence: alice's script does not see it.
    send(
        alice,
        mail(
            "s@remote.test",
            alice,
            "d4@remote.test",
            "work spam",
            "X-Spam: yes\r\n",
        ),
    );
    send(
        "bob@example.test",
        mail(
            "s@remote.test",
            "bob@example.test",
            "d5@remote.test",
            "hi",
            "",
        ),
    );
    let md = t.maildir("alice");
    let n = |f: &str| maildir_messages(&md.join(format!(".{f}"))).len();
    assert_eq!(maildir_messages(&md).len(), 1, "{}", t.log());
    assert_eq!(
        (n("Dups"), n("Lists"), n("Work"), n("Junk")),
        (1, 1, 1, 1),
        "{}",
        t.log()
    );
    assert_eq!(
        maildir_messages(&t.maildir("bob").join(".Legacy")).len(),
        1,
        "{}",
        t.log()
    );
}
