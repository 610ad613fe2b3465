//! managesieved through the real binary over raw TCP: the greeting's capabilities, STARTTLS
//! then AUTHENTICATE PLAIN, scripts checked and stored in the Pigeonhole layout, the active
//! link, the quota refusals, and Unix accounts refused.

use std::path::PathBuf;

use base64::Engine;

mod common;

use common::{sieve_home, start, Client, PASS, USER};

#[test]
fn greeting_announces_the_capabilities_and_tls_brings_sasl() {
    let s = start(|_| {});
    let (mut c, greeting) = Client::connect(&s);
    let sieve = ferrymail_sieve::CAPABILITIES.join(" ");
    let lines: Vec<&str> = greeting.lines().collect();
    assert_eq!(lines[0], "\"IMPLEMENTATION\" \"ferrymail\"", "{greeting}");
    assert!(lines.contains(&"\"SASL\" \"\""), "{greeting}");
    assert!(
        lines.contains(&format!("\"SIEVE\" \"{sieve}\"").as_str()),
        "{greeting}"
    );
    assert!(lines.contains(&"\"STARTTLS\""), "{greeting}");
    assert!(lines.contains(&"\"VERSION\" \"1.0\""), "{greeting}");
    assert_eq!(lines.last(), Some(&"OK"));

    let r = c.cmd("AUTHENTICATE \"PLAIN\" \"AGpvZUBleGFtcGxlLnRlc3QAeA==\"\r\n");
    assert!(r.starts_with("NO (ENCRYPT-NEEDED)"), "{r}");
    let after = c.starttls();
    assert!(after.contains("\"SASL\" \"PLAIN LOGIN\"\r\n"), "{after}");
    assert!(!after.contains("\"STARTTLS\""), "{after}");
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0wrong"));
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{bad}\"\r\n"));
    assert!(r.starts_with("NO"), "{r}");
    let ok = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASS}"));
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ok}\"\r\n"));
    assert_eq!(r, "OK \"Logged in\"\r\n");
    assert_eq!(c.cmd("LOGOUT\r\n"), "OK \"Logout completed\"\r\n");
}

#[test]
fn scripts_are_checked_stored_activated_and_the_active_one_kept() {
    let s = start(|_| {});
    let (mut c, _) = Client::connect(&s);
    c.login();
    let broken =
        "require \"fileinto\";\r\nif header :is \"subject\" \"x\" {\r\n  fileinto;\r\n}\r\n";
    let r = c.put("broken", broken);
    assert!(r.starts_with("NO \"line 3:"), "{r}");
    let r = c.cmd(&format!(
        "CHECKSCRIPT {{{}+}}\r\n{broken}\r\n",
        broken.len()
    ));
    assert!(r.starts_with("NO \"line 3:"), "{r}");
    let home = sieve_home(&s);
    assert!(!home.join("sieve/broken.sieve").exists());

    let good = "require \"fileinto\";\r\nfileinto \"Lists\";\r\n";
    assert_eq!(c.put("lists", good), "OK\r\n");
    assert_eq!(
        std::fs::read_to_string(home.join("sieve/lists.sieve")).unwrap(),
        good
    );
    assert_eq!(c.cmd("SETACTIVE \"lists\"\r\n"), "OK\r\n");
    let link = home.join(".dovecot.sieve");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("sieve/lists.sieve")
    );
    assert_eq!(c.cmd("LISTSCRIPTS\r\n"), "\"lists\" ACTIVE\r\nOK\r\n");
    assert_eq!(
        c.cmd("GETSCRIPT \"lists\"\r\n"),
        format!("{{{}}}\r\n{good}\r\nOK\r\n", good.len())
    );
    let r = c.cmd("DELETESCRIPT \"lists\"\r\n");
    assert!(r.starts_with("NO (ACTIVE)"), "{r}");
    assert!(home.join("sieve/lists.sieve").exists());
    assert_eq!(c.cmd("RENAMESCRIPT \"lists\" \"main\"\r\n"), "OK\r\n");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("sieve/main.sieve")
    );
    let r = c.cmd("GETSCRIPT \"lists\"\r\n");
    assert!(r.starts_with("NO (NONEXISTENT)"), "{r}");
    assert_eq!(c.cmd("SETACTIVE \"\"\r\n"), "OK\r\n");
    assert!(std::fs::symlink_metadata(&link).is_err());
    assert_eq!(c.cmd("DELETESCRIPT \"main\"\r\n"), "OK\r\n");
    assert_eq!(c.cmd("LISTSCRIPTS\r\n"), "OK\r\n");
    let r = c.put("../escape", "keep;");
    assert!(r.starts_with("NO"), "{r}");
    assert!(!home.parent().unwrap().join("escape.sieve").exists());
}

#[test]
fn quotas_refuse_with_their_codes() {
    let s = start(|c| {
        c.managesieve.max_scripts = 2;
        c.managesieve.max_script_size = 100;
        c.managesieve.max_total_size = 150;
    });
    let (mut c, _) = Client::connect(&s);
    c.login();
    assert_eq!(c.put("a", &format!("keep;{}", " ".repeat(75))), "OK\r\n");
    let r = c.put("b", &format!("keep;{}", " ".repeat(80)));
    assert!(r.starts_with("NO (QUOTA)"), "{r}");
    assert_eq!(c.put("b", "keep;"), "OK\r\n");
    let r = c.put("c", "keep;");
    assert!(r.starts_with("NO (QUOTA/MAXSCRIPTS)"), "{r}");
    let r = c.cmd("HAVESPACE \"c\" 101\r\n");
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert_eq!(c.cmd("HAVESPACE \"b\" 50\r\n"), "OK\r\n");
    // A literal over the size limit is read and refused; the session goes on.
    let r = c.put("big", &"#".repeat(5000));
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    assert_eq!(c.cmd("NOOP\r\n"), "OK \"Done\"\r\n");
    assert_eq!(c.cmd("LISTSCRIPTS\r\n"), "\"a\"\r\n\"b\"\r\nOK\r\n");
}

#[test]
fn unix_accounts_are_refused_with_a_reason_and_their_home_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home-dan");
    std::fs::create_dir(&home).expect("home");
    let s = start(|c| {
        let dan = ferrymail_dev::unix_account::UnixAccount::new("dan", 51237, &home);
        ferrymail_dev::unix_account::use_accounts(c, dir.path(), &[dan]).expect("accounts");
    });
    let (mut c, _) = Client::connect(&s);
    c.starttls();
    let password = ferrymail_dev::unix_account::PASSWORD;
    let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0dan\0{password}"));
    let r = c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"\r\n"));
    assert!(
        r.starts_with("NO \"Sieve scripts of system accounts"),
        "{r}"
    );
    let r = c.cmd("LISTSCRIPTS\r\n");
    assert!(r.starts_with("NO \"Authenticate first\""), "{r}");
    assert_eq!(std::fs::read_dir(&home).expect("home").count(), 0);
}

#[test]
fn the_login_timeout_applies_before_each_login_only() {
    let s = start(|c| c.managesieve.login_timeout = std::time::Duration::from_millis(800));
    let (mut c, _) = Client::connect(&s);
    c.login();
    // Logged in, only the (long) idle timeout applies.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(c.cmd("UNAUTHENTICATE\r\n"), "OK\r\n");
    // The login time starts again instead of having run out long ago.
    assert_eq!(c.cmd("NOOP\r\n"), "OK \"Done\"\r\n");
    let started = std::time::Instant::now();
    assert_eq!(c.response(), "BYE \"Disconnected for inactivity\"\r\n");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
