//! Privilege drop for real: as root, a child process (this test binary re-run) drops to
//! `nobody` and reports its ids and whether it could regain root or read a root-only file;
//! another becomes a mail account with an extra group.

use std::process::Command;

const CHILD_ENV: &str = "FERRYMAIL_PRIVDROP_CHILD";

#[test]
fn drop_to_nobody_in_a_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    if ferrymail_testkit::skip_unless_root("privilege drop; CI runs as root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("root-only");
    std::fs::write(&secret, b"x").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let stdout = run_child("drop_to_nobody_in_a_child", CHILD_ENV, secret.as_os_str());
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert!(
        stdout.contains(&format!("DROPPED uid={} gid={}", nobody.uid, nobody.gid)),
        "{stdout}"
    );
    assert!(stdout.contains("REGAIN=no"), "{stdout}");
    assert!(stdout.contains("READ_ROOT_FILE=no"), "{stdout}");
}

fn child() {
    let secret = std::env::var_os(CHILD_ENV).unwrap();
    let outcome = ferrymail_net::privdrop::drop_to("nobody", None).unwrap();
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    assert!(matches!(
        outcome,
        ferrymail_net::privdrop::Outcome::Dropped { .. }
    ));
    println!("DROPPED uid={uid} gid={gid}");
    let regain = nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).is_ok();
    println!("REGAIN={}", if regain { "yes" } else { "no" });
    let read = std::fs::read(&secret).is_ok();
    println!("READ_ROOT_FILE={}", if read { "yes" } else { "no" });
}

const ACCOUNT_CHILD_ENV: &str = "FERRYMAIL_PRIVDROP_ACCOUNT_CHILD";
/// A uid and gids with no passwd or group entries: an account helper needs none.
const ACCOUNT: u32 = 61_234;
const EXTRA_GROUP: u32 = 61_235;

#[test]
fn an_account_helper_keeps_the_extra_group_but_never_root_s() {
    if std::env::var_os(ACCOUNT_CHILD_ENV).is_some() {
        return account_child();
    }
    if !nix::unistd::Uid::effective().is_root() {
        println!("SKIP: switching to an account needs root (CI runs as root)");
        return;
    }
    let stdout = run_child(
        "an_account_helper_keeps_the_extra_group_but_never_root_s",
        ACCOUNT_CHILD_ENV,
        "1".as_ref(),
    );
    assert!(
        stdout.contains(&format!(
            "BECAME uid={ACCOUNT} gid={ACCOUNT} groups={ACCOUNT},{EXTRA_GROUP}\n"
        )),
        "{stdout}"
    );
}

fn account_child() {
    ferrymail_net::privdrop::become_account_with(ACCOUNT, ACCOUNT, &[EXTRA_GROUP, 0]).unwrap();
    let mut groups: Vec<String> = nix::unistd::getgroups()
        .unwrap()
        .iter()
        .map(|g| g.to_string())
        .collect();
    groups.sort();
    println!(
        "BECAME uid={} gid={} groups={}",
        nix::unistd::getuid(),
        nix::unistd::getgid(),
        groups.join(",")
    );
}

/// Runs the test `name` of this binary again with `env` set to `value` (which makes it the
/// child); returns the child's stdout after checking it succeeded.
fn run_child(name: &str, env: &str, value: &std::ffi::OsStr) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
