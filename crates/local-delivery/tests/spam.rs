//! A milter's spam verdict through the real binary: over LMTP a message marked `X-Spam: Yes`
//! lands in Junk (made on first use), a clean one in INBOX, and a user's Sieve `fileinto`
//! still decides where a marked message goes.

mod common;

use common::*;

const PILLS: &str = "X-Spam: Yes\r\nSubject: pills\r\n\r\nbuy\r\n";

fn deliver(c: &mut ferrymail_testkit::SmtpClient, user: &str, msg: &str) {
    let rcpt = format!("{user}@{DOMAIN}");
    let (rr, dr) = c.lmtp_deliver("someone@remote.test", &[&rcpt], msg.as_bytes());
    assert_eq!(rr[0].code, 250, "{rr:?}");
    assert_eq!(dr[0].code, 250, "{dr:?}");
}

fn new_in(t: &TestEnv, user: &str, folder: &str) -> Vec<String> {
    let md = match folder {
        "INBOX" => t.maildir(user),
        f => t.maildir(user).join(format!(".{f}")),
    };
    maildir_messages(&md)
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect()
}

#[test]
fn marked_mail_goes_to_junk_clean_mail_to_inbox_and_sieve_overrides() {
    let mut t = TestEnv::new();
    std::fs::create_dir_all(t.user_dir("bob")).unwrap();
    std::fs::write(
        t.user_dir("bob").join(".sieve"),
        "require \"fileinto\";\nif header :contains \"subject\" \"work\" { fileinto \"Work\"; }\n",
    )
    .unwrap();
    t.start();
    let mut c = t.connect();
    deliver(&mut c, "alice", PILLS);
    deliver(&mut c, "alice", "Subject: lunch\r\n\r\nat noon\r\n");
    // SpamAssassin's field, any case.
    deliver(
        &mut c,
        "alice",
        "x-spam-flag: yes\r\nSubject: loans\r\n\r\ncheap\r\n",
    );
    // A verdict in the body is no verdict.
    deliver(&mut c, "alice", "Subject: quoted\r\n\r\nX-Spam: Yes\r\n");
    deliver(
        &mut c,
        "bob",
        "X-Spam: Yes\r\nSubject: work plan\r\n\r\nsee\r\n",
    );
    deliver(&mut c, "bob", PILLS);

    let junk = new_in(&t, "alice", "Junk");
    assert_eq!(junk.len(), 2, "{junk:?}");
    assert!(junk.iter().any(|m| m.contains("Subject: pills")));
    assert!(junk.iter().any(|m| m.contains("Subject: loans")));
    let inbox = new_in(&t, "alice", "INBOX");
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert!(inbox.iter().any(|m| m.contains("Subject: lunch")));
    // Delivered as new mail, as into INBOX.
    let fresh = std::fs::read_dir(t.maildir("alice").join(".Junk/new")).unwrap();
    assert_eq!(fresh.count(), 2);

    let work = new_in(&t, "bob", "Work");
    assert_eq!(work.len(), 1);
    assert!(work[0].contains("Subject: work plan"));
    // bob's script did not file the other one: its implicit keep follows the verdict.
    let junk = new_in(&t, "bob", "Junk");
    assert_eq!(junk.len(), 1);
    assert!(junk[0].contains("Subject: pills"));
    assert!(new_in(&t, "bob", "INBOX").is_empty());
}

#[test]
fn an_empty_spam_folder_turns_the_verdict_off() {
    let mut t = TestEnv::new();
    t.env.config.delivery.spam_folder = String::new();
    t.start();
    let mut c = t.connect();
    deliver(&mut c, "alice", PILLS);
    assert_eq!(new_in(&t, "alice", "INBOX").len(), 1);
    assert!(!t.maildir("alice").join(".Junk").exists());
}
