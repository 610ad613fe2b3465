//! Our DKIM signatures checked by an independent verifier: Python's dkimpy (Debian
//! `python3-dkim`, listed in `.ci/packages`), fed the DNS record `mailctl dkim record` would print.

use std::path::Path;
use std::process::Command;

use ferrymail_mailauth::{generate, Algorithm, Signer};

const SCRIPT: &str = r#"
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
name, value = open(sys.argv[2], 'rb').read().split(b'\n', 1)
def dnsfunc(qname, timeout=5):
    q = qname if isinstance(qname, bytes) else qname.encode()
    return value.strip() if q.rstrip(b'.').lower() == name.lower() else None
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print('pass' if ok else 'fail')
"#;

fn python() -> &'static str {
    // Debian's interpreter has the python3-dkim module; a pyenv/venv `python3` may not.
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn dkimpy_verdict(dir: &Path, msg: &[u8], name: &str, value: &str) -> String {
    let m = dir.join("msg.eml");
    let r = dir.join("record");
    std::fs::write(&m, msg).unwrap();
    std::fs::write(&r, format!("{name}\n{value}")).unwrap();
    let out = Command::new(python())
        .args(["-c", SCRIPT])
        .arg(&m)
        .arg(&r)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (install python3-dkim)", python()));
    assert!(
        out.status.success(),
        "dkimpy failed (is Debian's python3-dkim installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn dkimpy_verifies_our_rsa_and_ed25519_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ferrymail_config::Dkim::default();
    let msg = b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: interop\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <x@a.test>\r\n\r\nHello,\r\n\r\n  world  \r\n\r\n\r\n";
    for alg in [Algorithm::Rsa, Algorithm::Ed25519] {
        let pair = generate(alg).unwrap().pair;
        let rec = pair.record("a.test", "interop");
        let signer = Signer::with_key("a.test", "interop", pair, &cfg.headers, &cfg.oversign);
        let sig = signer.sign(msg, "a.test").unwrap();
        let signed = [sig.as_bytes(), msg].concat();
        assert_eq!(
            dkimpy_verdict(dir.path(), &signed, &rec.name, &rec.value),
            "pass",
            "{alg}: {sig}"
        );
        let tampered = String::from_utf8(signed)
            .unwrap()
            .replace("interop\r\n", "interop!\r\n");
        assert_eq!(
            dkimpy_verdict(dir.path(), tampered.as_bytes(), &rec.name, &rec.value),
            "fail",
            "{alg}"
        );
    }
}
