use ferrymail_sieve::store::{Limits, ScriptStore};

use crate::fuzzing::{drive, MemoryStore};

/// base64 of "\0joe\0pw" and of "\0joe\0bad".
const GOOD: &str = "AGpvZQBwdw==";
const BAD: &str = "AGpvZQBiYWQ=";

fn run(input: &str) -> String {
    let store = MemoryStore::default();
    let out = drive(input.as_bytes(), 7, &store);
    String::from_utf8(out).expect("replies are UTF-8 here")
}

fn login() -> String {
    format!("STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"{GOOD}\"\r\n")
}

/// The replies after the greeting, the STARTTLS OK, the second capability listing and the
/// login's OK.
fn after_login(commands: &str) -> String {
    let out = run(&format!("{}{commands}", login()));
    let marker = "OK \"Logged in\"\r\n";
    let at = out.find(marker).expect("logged in");
    out[at + marker.len()..].to_owned()
}

#[test]
fn greeting_lists_capabilities_and_hides_sasl_before_tls() {
    let out = run("");
    assert!(
        out.starts_with("\"IMPLEMENTATION\" \"ferrymail\"\r\n"),
        "{out}"
    );
    assert!(out.contains("\"SASL\" \"\"\r\n"), "{out}");
    assert!(out.contains("\"SIEVE\" \"fileinto envelope"), "{out}");
    assert!(out.contains("\"STARTTLS\"\r\n"));
    assert!(out.ends_with("\"VERSION\" \"1.0\"\r\nOK\r\n"), "{out}");
}

#[test]
fn authenticate_needs_tls_and_then_the_capabilities_are_reissued() {
    let out = run(&format!(
        "AUTHENTICATE \"PLAIN\" \"{GOOD}\"\r\nLISTSCRIPTS\r\n"
    ));
    assert!(out.contains("NO (ENCRYPT-NEEDED)"), "{out}");
    assert!(out.ends_with("NO \"Authenticate first\"\r\n"), "{out}");

    let out = run(&login());
    let tls_ok = out
        .find("OK \"Begin TLS negotiation now\"\r\n")
        .expect("STARTTLS");
    let after = &out[tls_ok..];
    assert!(after.contains("\"SASL\" \"PLAIN LOGIN\"\r\n"), "{out}");
    assert!(!after.contains("\"STARTTLS\""), "{out}");
    assert!(after.ends_with("OK \"Logged in\"\r\n"), "{out}");
}

#[test]
fn sasl_continuations_plain_and_login() {
    let out = run(&format!(
        "STARTTLS\r\nAUTHENTICATE \"PLAIN\"\r\n{{{}+}}\r\n{GOOD}\r\nCAPABILITY\r\n",
        GOOD.len()
    ));
    assert!(out.contains("\"\"\r\nOK \"Logged in\"\r\n"), "{out}");
    assert!(out.contains("\"OWNER\" \"joe\"\r\n"), "{out}");
    // LOGIN: user and password prompts, then a cancel of a second exchange.
    let out = run("STARTTLS\r\nAUTHENTICATE \"LOGIN\"\r\n\"am9l\"\r\n\"cHc=\"\r\n");
    assert!(
        out.contains("\"VXNlcm5hbWU6\"\r\n\"UGFzc3dvcmQ6\"\r\nOK \"Logged in\""),
        "{out}"
    );
    let out = run("STARTTLS\r\nAUTHENTICATE \"PLAIN\"\r\n\"*\"\r\nNOOP\r\n");
    assert!(
        out.contains("NO \"Authentication cancelled\"\r\nOK \"Done\""),
        "{out}"
    );
}

#[test]
fn failed_logins_are_counted_and_end_the_connection() {
    let bad = format!("AUTHENTICATE \"PLAIN\" \"{BAD}\"\r\n");
    let out = run(&format!("STARTTLS\r\n{bad}{bad}{bad}NOOP\r\n"));
    assert_eq!(
        out.matches("NO \"Authentication failed\"").count(),
        2,
        "{out}"
    );
    assert!(out.ends_with("BYE \"Too many failed logins\"\r\n"), "{out}");
    let out = run("STARTTLS\r\nAUTHENTICATE \"CRAM-MD5\"\r\n");
    assert!(
        out.ends_with("NO \"Unsupported SASL mechanism\"\r\n"),
        "{out}"
    );
}

#[test]
fn script_commands_over_the_store() {
    let out = after_login(
        "PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n\
         PUTSCRIPT \"b\" \"discard;\"\r\n\
         SETACTIVE \"a\"\r\n\
         LISTSCRIPTS\r\n\
         GETSCRIPT \"a\"\r\n\
         DELETESCRIPT \"a\"\r\n\
         RENAMESCRIPT \"b\" \"a\"\r\n\
         RENAMESCRIPT \"a\" \"c\"\r\n\
         GETSCRIPT \"zz\"\r\n\
         HAVESPACE \"x\" 100000\r\n\
         HAVESPACE \"x\" 10\r\n\
         SETACTIVE \"\"\r\n\
         DELETESCRIPT \"b\"\r\n\
         LISTSCRIPTS\r\n",
    );
    let expect = "OK\r\n\
                  OK\r\n\
                  OK\r\n\
                  \"a\" ACTIVE\r\n\"b\"\r\nOK\r\n\
                  {5}\r\nkeep;\r\nOK\r\n\
                  NO (ACTIVE) \"The script is active\"\r\n\
                  NO (ALREADYEXISTS) \"A script of that name already exists\"\r\n\
                  OK\r\n\
                  NO (NONEXISTENT) \"No such script\"\r\n\
                  NO (QUOTA/MAXSIZE) \"Script too large\"\r\n\
                  OK\r\n\
                  OK\r\n\
                  OK\r\n\
                  \"c\"\r\nOK\r\n";
    assert_eq!(out, expect);
}

#[test]
fn scripts_that_do_not_parse_are_refused_with_the_line() {
    let script = "require \"fileinto\";\r\nif true {\r\n  frobnicate;\r\n}\r\n";
    let out = after_login(&format!(
        "CHECKSCRIPT {{{n}+}}\r\n{script}\r\nPUTSCRIPT \"x\" {{{n}+}}\r\n{script}\r\n\
         CHECKSCRIPT \"keep;\"\r\nLISTSCRIPTS\r\n",
        n = script.len()
    ));
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert!(lines[0].starts_with("NO \"line 3:"), "{out}");
    assert!(lines[1].starts_with("NO \"line 3:"), "{out}");
    assert_eq!(&lines[2..], ["OK", "OK", ""], "{out}");
}

#[test]
fn state_rules() {
    let out = run("LISTSCRIPTS\r\nUNAUTHENTICATE\r\nFROB\r\nNOOP \"t\"\r\n");
    assert!(
        out.ends_with(
            "NO \"Authenticate first\"\r\nNO \"Authenticate first\"\r\n\
         NO \"Unknown command\"\r\nOK (TAG \"t\") \"Done\"\r\n"
        ),
        "{out}"
    );
    let out = after_login(&format!(
        "STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"{GOOD}\"\r\nUNAUTHENTICATE\r\nLISTSCRIPTS\r\n\
         LOGOUT\r\nNOOP\r\n"
    ));
    assert_eq!(
        out,
        "NO \"Already authenticated\"\r\nNO \"Already authenticated\"\r\nOK\r\n\
         NO \"Authenticate first\"\r\nOK \"Logout completed\"\r\n"
    );
    let out = run("STARTTLS\r\nSTARTTLS\r\n");
    assert!(out.ends_with("NO \"TLS already active\"\r\n"), "{out}");
}

#[test]
fn an_oversized_literal_is_a_quota_refusal_and_the_session_goes_on() {
    let big = "x".repeat(5000);
    let out = after_login(&format!("PUTSCRIPT \"a\" {{5000+}}\r\n{big}\r\nNOOP\r\n"));
    assert_eq!(
        out,
        "NO (QUOTA/MAXSIZE) \"Literal too large\"\r\nOK \"Done\"\r\n"
    );
}

#[test]
fn requests_run_against_the_file_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ScriptStore::new(dir.path(), Limits::default());
    let input = format!(
        "{}PUTSCRIPT \"main\" \"keep;\"\r\nSETACTIVE \"main\"\r\nDELETESCRIPT \"main\"\r\n",
        login()
    );
    let out = String::from_utf8(drive(input.as_bytes(), 1000, &store)).expect("UTF-8");
    assert!(
        out.ends_with("OK\r\nOK\r\nNO (ACTIVE) \"The script is active\"\r\n"),
        "{out}"
    );
    let link = std::fs::read_link(dir.path().join(".dovecot.sieve")).expect("link");
    assert_eq!(link, std::path::Path::new("sieve/main.sieve"));
}
