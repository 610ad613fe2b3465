//! Privilege drop for real: as root, a child process (this test binary re-run) drops to
//! `nobody` and reports its ids and whether it could regain root or read a root-only file.

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
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "drop_to_nobody_in_a_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
