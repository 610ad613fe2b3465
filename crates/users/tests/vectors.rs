//! Known-answer tests: hashes produced by doveadm, openssl and libc crypt(3)
//! (see tests/data/gen-vectors.sh) must verify with their password and with
//! nothing else.

use ferrymail_users::{hash_password, Scheme, StoredPassword};

struct Vector {
    label: String,
    password: String,
    hash: String,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("data/vectors.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let v = Vector {
                label: f.next().unwrap().to_string(),
                password: f.next().unwrap().to_string(),
                hash: f.next().unwrap().to_string(),
            };
            assert!(f.next().is_none(), "extra field in {l}");
            v
        })
        .collect()
}

/// The scheme a vector's label says it was made with.
fn expected_scheme(label: &str) -> Scheme {
    match label.strip_prefix("doveadm-") {
        Some(name) => Scheme::from_name(name).unwrap(),
        // openssl and perl write bare crypt(3) hashes: no prefix means CRYPT.
        None => Scheme::Crypt,
    }
}

#[test]
fn every_vector_verifies_with_its_password_only() {
    let vs = vectors();
    assert!(vs.len() >= 20, "vector file truncated: {}", vs.len());
    for v in &vs {
        let stored = StoredPassword::parse(&v.hash)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", v.label));
        assert_eq!(stored.scheme(), expected_scheme(&v.label), "{}", v.label);
        assert!(
            stored.verify(v.password.as_bytes()),
            "{}: right password rejected",
            v.label
        );

        let mut wrong = vec![
            format!("{}x", v.password),
            v.password.to_uppercase(),
            String::new(),
        ];
        // Traditional DES only looks at 8 characters, so change the first one.
        let mut first_changed: Vec<char> = v.password.chars().collect();
        first_changed[0] = if first_changed[0] == 'a' { 'b' } else { 'a' };
        wrong.push(first_changed.into_iter().collect());
        for w in wrong {
            if w == v.password
                || (v.label.to_lowercase().contains("des") && w.starts_with(&v.password))
            {
                continue;
            }
            assert!(
                !stored.verify(w.as_bytes()),
                "{}: wrong password {w:?} accepted",
                v.label
            );
        }
    }
}

#[test]
fn every_scheme_is_covered_by_a_vector() {
    let vs = vectors();
    for s in [
        Scheme::Argon2id,
        Scheme::Argon2i,
        Scheme::BlfCrypt,
        Scheme::Sha512Crypt,
        Scheme::Sha256Crypt,
        Scheme::Md5Crypt,
        Scheme::Crypt,
        Scheme::DesCrypt,
        Scheme::Plain,
        Scheme::Cleartext,
    ] {
        assert!(
            vs.iter().any(|v| expected_scheme(&v.label) == s),
            "no vector for {s}"
        );
    }
    // Bare crypt(3) hashes of each $id$ family plus DES.
    for prefix in ["$6$", "$5$", "$1$"] {
        assert!(vs.iter().any(|v| v.hash.starts_with(prefix)), "{prefix}");
    }
    assert!(vs
        .iter()
        .any(|v| v.hash.len() == 13 && !v.hash.starts_with('$')));
}

#[test]
fn des_crypt_uses_only_eight_characters() {
    // A property of DES crypt(3) itself, checked against the perl vector.
    let v = vectors()
        .into_iter()
        .find(|v| v.label == "perl-des-long")
        .unwrap();
    let stored = StoredPassword::parse(&v.hash).unwrap();
    assert!(stored.verify(&v.password.as_bytes()[..8]));
    assert!(!stored.verify(&v.password.as_bytes()[..7]));
}

#[test]
fn tampered_hashes_do_not_verify() {
    for v in vectors() {
        if matches!(expected_scheme(&v.label), Scheme::Plain | Scheme::Cleartext) {
            continue;
        }
        // Change a character inside the hash output (away from the end, where
        // base64 padding bits would make the string non-canonical).
        let mut chars: Vec<char> = v.hash.chars().collect();
        let at = chars.len() - 5;
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        let stored = StoredPassword::parse(&tampered)
            .unwrap_or_else(|e| panic!("{}: tampered hash no longer parses: {e}", v.label));
        assert!(
            !stored.verify(v.password.as_bytes()),
            "{}: tampered hash accepted",
            v.label
        );
    }
}

#[test]
fn unknown_schemes_and_unsupported_crypt_are_rejected() {
    assert!(StoredPassword::parse("{SSHA}abcdef").is_err());
    assert!(StoredPassword::parse("{NOPE}x").is_err());
    assert!(StoredPassword::parse("$y$j9T$abc$def").is_err(), "yescrypt");
    assert!(
        StoredPassword::parse("{SHA512-CRYPT}$5$abc$def").is_err(),
        "scheme/id mismatch"
    );
    assert!(StoredPassword::parse(
        "{ARGON2ID}$argon2i$v=19$m=32,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    )
    .is_err());
    assert!(StoredPassword::parse("{ARGON2ID").is_err());
    // An absurd memory cost is refused at load time, not at the first login.
    assert!(StoredPassword::parse(
        "{ARGON2ID}$argon2id$v=19$m=4000000000,t=2,p=1$c2FsdHNhbHQ$7Jm4ZsP1lRKYh0pQvYdqE1oa2wI5zt6lfp1zIhXWxIc"
    )
    .is_err());
}

#[test]
fn hash_password_produces_verifiable_argon2id() {
    let h = hash_password("n3w pässword").unwrap();
    assert!(
        h.starts_with("{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$"),
        "{h}"
    );
    let stored = StoredPassword::parse(&h).unwrap();
    assert_eq!(stored.scheme(), Scheme::Argon2id);
    assert!(stored.verify("n3w pässword".as_bytes()));
    assert!(!stored.verify(b"n3w password"));
    // Fresh salt every time.
    assert_ne!(h, hash_password("n3w pässword").unwrap());
}
