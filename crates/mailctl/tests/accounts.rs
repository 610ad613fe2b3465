//! `mailctl user|domain|alias|quota` against a real environment: the changes are visible to the
//! user database exactly as the daemons see it, and failures use the documented exit codes.

use std::process::{Command, Output};

use ferrymail_dev::DevEnv;
use ferrymail_testkit::process::{run_with_input, success};
use ferrymail_testkit::Suite;
use ferrymail_users::{UserDb, UserDbConfig};

const MAILCTL: &str = env!("CARGO_BIN_EXE_mailctl");

/// An environment for the domain a.test; nothing started.
fn env() -> Suite {
    Suite::with(|o| o.domain = "a.test".into())
}

fn mailctl(env: &DevEnv, args: &[&str], stdin: &str) -> Output {
    run_with_input(
        Command::new(MAILCTL)
            .arg("-c")
            .arg(&env.config_path)
            .args(args),
        stdin.as_bytes(),
    )
}

fn db(env: &DevEnv) -> UserDb {
    UserDb::open(UserDbConfig::from_config(&env.config)).unwrap()
}

#[test]
fn user_lifecycle() {
    let suite = env();
    let env = &suite.env;
    success(&mailctl(
        env,
        &[
            "user",
            "add",
            "Joe@A.test",
            "--password-stdin",
            "--quota-storage",
            "10M",
        ],
        "first pw\n",
    ));
    assert!(db(env).verify("joe@a.test", "first pw").is_ok());
    let passwd = std::fs::read_to_string(&env.config.userdb.passwd_file).unwrap();
    assert!(!passwd.contains("first pw"));

    let dup = mailctl(
        env,
        &["user", "add", "joe@a.test", "--password-stdin"],
        "x\n",
    );
    assert_eq!(dup.status.code(), Some(65));
    let foreign = mailctl(
        env,
        &["user", "add", "joe@elsewhere.test", "--password-stdin"],
        "x\n",
    );
    assert_eq!(foreign.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("domain add"));
    let empty = mailctl(
        env,
        &["user", "add", "ann@a.test", "--password-stdin"],
        "\n",
    );
    assert_eq!(empty.status.code(), Some(64));

    success(&mailctl(
        env,
        &["user", "passwd", "joe@a.test", "--password-stdin"],
        "second pw\n",
    ));
    let d = db(env);
    assert!(d.verify("joe@a.test", "second pw").is_ok());
    assert!(d.verify("joe@a.test", "first pw").is_err());

    let list: serde_json::Value =
        serde_json::from_str(&success(&mailctl(env, &["user", "list", "--json"], ""))).unwrap();
    let joe = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "joe@a.test")
        .unwrap();
    assert_eq!(joe["quota_storage_bytes"], 10 << 20);
    assert_eq!(joe["scheme"], "ARGON2ID");

    let show: serde_json::Value = serde_json::from_str(&success(&mailctl(
        env,
        &["user", "show", "joe@a.test", "--json"],
        "",
    )))
    .unwrap();
    assert!(show["mailbox"]
        .as_str()
        .unwrap()
        .ends_with("mail/a.test/joe/Maildir"));

    success(&mailctl(
        env,
        &["quota", "set", "joe@a.test", "--messages", "5"],
        "",
    ));
    let show: serde_json::Value = serde_json::from_str(&success(&mailctl(
        env,
        &["user", "show", "joe@a.test", "--json"],
        "",
    )))
    .unwrap();
    assert_eq!(show["quota_messages"], 5);
    assert_eq!(show["quota_storage_bytes"], 10 << 20, "unchanged part kept");

    success(&mailctl(env, &["user", "del", "joe@a.test"], ""));
    assert!(db(env).verify("joe@a.test", "second pw").is_err());
    assert_eq!(
        mailctl(env, &["user", "del", "joe@a.test"], "")
            .status
            .code(),
        Some(67)
    );
    assert_eq!(
        mailctl(env, &["user", "show", "nobody@a.test"], "")
            .status
            .code(),
        Some(67)
    );
}

#[test]
fn domains_and_aliases() {
    let suite = env();
    let env = &suite.env;
    success(&mailctl(env, &["domain", "add", "B.test"], ""));
    assert!(db(env).is_local_domain("b.test"));
    assert_eq!(
        mailctl(env, &["domain", "add", "b.test"], "").status.code(),
        Some(65)
    );
    let list: serde_json::Value =
        serde_json::from_str(&success(&mailctl(env, &["domain", "list", "--json"], ""))).unwrap();
    assert!(list.as_array().unwrap().iter().any(|d| d == "b.test"));
    assert!(list.as_array().unwrap().iter().any(|d| d == "a.test"));

    success(&mailctl(
        env,
        &["user", "add", "ann@b.test", "--password-stdin"],
        "pw\n",
    ));
    assert_eq!(
        mailctl(env, &["domain", "del", "b.test"], "").status.code(),
        Some(65)
    );

    success(&mailctl(
        env,
        &[
            "alias",
            "add",
            "sales@b.test",
            "ann@b.test",
            "boss@remote.test",
        ],
        "",
    ));
    let dests = db(env).resolve("sales@b.test").unwrap();
    assert_eq!(dests.len(), 2, "{dests:?}");
    success(&mailctl(
        env,
        &["alias", "del", "sales@b.test", "boss@remote.test"],
        "",
    ));
    assert_eq!(db(env).resolve("sales@b.test").unwrap().len(), 1);
    let text = success(&mailctl(env, &["alias", "list"], ""));
    assert!(text.contains("sales@b.test: ann@b.test"), "{text}");
    success(&mailctl(env, &["alias", "del", "sales@b.test"], ""));
    assert!(db(env).resolve("sales@b.test").is_err());
    assert_eq!(
        mailctl(env, &["alias", "del", "sales@b.test"], "")
            .status
            .code(),
        Some(67)
    );

    success(&mailctl(env, &["user", "del", "ann@b.test"], ""));
    success(&mailctl(env, &["domain", "del", "b.test"], ""));
    assert!(!db(env).is_local_domain("b.test"));
}

#[test]
fn bad_config_is_exit_78() {
    let out = Command::new(MAILCTL)
        .args(["-c", "/nonexistent.toml", "user", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}
