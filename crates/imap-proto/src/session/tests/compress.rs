//! COMPRESS (RFC 4978): offered and allowed only once logged in, and only once.

use super::*;

fn capabilities(c: &mut Client) -> Vec<String> {
    let r = c.run("c CAPABILITY");
    data(&r)
        .into_iter()
        .find_map(|d| match d {
            Data::Capability(caps) => Some(caps),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn compress_is_refused_before_login() {
    let store = MemoryStore::new();
    let mut c = Client::new(&store, policy(true, false));
    assert!(!capabilities(&mut c)
        .iter()
        .any(|x| x.starts_with("COMPRESS")));
    let r = c.run("z1 COMPRESS DEFLATE");
    assert_eq!(last(&r).kind, Kind::Bad);
    assert_eq!(c.action, Action::Continue);
}

#[test]
fn compress_deflate_once_then_compressionactive() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    assert!(capabilities(&mut c).contains(&"COMPRESS=DEFLATE".to_owned()));

    let r = c.run("z1 COMPRESS X-UNKNOWN");
    assert_eq!(last(&r).kind, Kind::Bad);
    assert_eq!(c.action, Action::Continue);

    let r = c.run("z2 COMPRESS DEFLATE");
    assert_eq!(
        r.len(),
        1,
        "nothing but the tagged OK before compression: {r:?}"
    );
    assert_eq!(last(&r).kind, Kind::Ok);
    assert_eq!(c.action, Action::Compress);

    let r = c.run("z3 COMPRESS DEFLATE");
    assert_eq!(last(&r).kind, Kind::No);
    assert_eq!(code(&r), Some(Code::CompressionActive));
    assert_eq!(c.action, Action::Continue);
    assert!(!capabilities(&mut c)
        .iter()
        .any(|x| x.starts_with("COMPRESS")));
}

#[test]
fn compress_in_selected_state_reports_updates_before_its_ok() {
    let store = MemoryStore::new();
    let mut c = Client::selected(&store, "INBOX");
    let mut other = Client::selected(&store, "INBOX");
    let r = other.run(&format!(
        "a APPEND INBOX {{{}+}}\r\n{}",
        message(1).len(),
        String::from_utf8_lossy(&message(1))
    ));
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let r = c.run("z COMPRESS DEFLATE");
    assert_eq!(c.action, Action::Compress);
    assert!(data(&r).contains(&Data::Exists(1)), "{r:?}");
    assert_eq!(last(&r).kind, Kind::Ok);
}
