//! Known-answer tests: hashes produced by doveadm, openssl, libc crypt(3) and
//! libxcrypt's yescrypt (see tests/data/gen-vectors.sh) must verify with
//! their password and with nothing else; those of the refused schemes
//! (MD5-crypt, DES crypt) must be refused with a reason.

use ferrymail_users::{hash_password, PasswordError, Scheme, StoredPassword};

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

/// Whether a vector is of a scheme that is recognised but refused: MD5-crypt,
/// or DES crypt (a crypt hash without a `$id$`).
fn is_refused(v: &Vector) -> bool {
    let body = v.hash.split_once('}').map_or(v.hash.as_str(), |(_, b)| b);
    let plain = matches!(expected_scheme(&v.label), Scheme::Plain | Scheme::Cleartext);
    body.starts_with("$1$") || (!plain && !body.starts_with('$'))
}

/// The vectors of the schemes that verify.
fn supported() -> Vec<Vector> {
    vectors().into_iter().filter(|v| !is_refused(v)).collect()
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
    let vs = supported();
    assert!(vs.len() >= 26, "vector file truncated: {}", vs.len());
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
        let mut first_changed: Vec<char> = v.password.chars().collect();
        first_changed[0] = if first_changed[0] == 'a' { 'b' } else { 'a' };
        wrong.push(first_changed.into_iter().collect());
        for w in wrong {
            if w == v.password {
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
    let vs = supported();
    for s in [
        Scheme::Argon2id,
        Scheme::Argon2i,
        Scheme::BlfCrypt,
        Scheme::Sha512Crypt,
        Scheme::Sha256Crypt,
        Scheme::Crypt,
        Scheme::Plain,
        Scheme::Cleartext,
    ] {
        assert!(
            vs.iter().any(|v| expected_scheme(&v.label) == s),
            "no vector for {s}"
        );
    }
    // Bare crypt(3) hashes of each supported $id$ family.
    for prefix in ["$6$", "$5$", "$y$"] {
        assert!(vs.iter().any(|v| v.hash.starts_with(prefix)), "{prefix}");
    }
    // yescrypt as Dovecot writes it, and several libxcrypt cost settings
    // (-R 1, 3, 5, 7 and p = 2).
    assert!(vs.iter().any(|v| v.hash.starts_with("{CRYPT}$y$")));
    for params in [
        "$y$j75$",
        "$y$j7T$",
        "$y$j9T$",
        "$y$jBT$",
        "$y$j75..$",
        "$y$/1.$",
    ] {
        assert!(vs.iter().any(|v| v.hash.starts_with(params)), "{params}");
    }
}

/// libxcrypt's largest setting, `mkpasswd -m yescrypt -R 11 'largest cost'`
/// (N = 2^18, r = 32: 1 GiB). Only parsed here: verifying it in a debug
/// test build would take a long time.
const YESCRYPT_R11: &str =
    "$y$jFT$9jBNujlpfljrgb7EqRxrQ0$uuklLziMniwIRUfqltU3L0lHF2VxSxdJP.hLC3rxUD3";

#[test]
fn yescrypt_cost_is_capped_at_libxcrypts_largest_setting() {
    assert!(StoredPassword::parse(YESCRYPT_R11).is_ok());
    let with_params = |p: &str| YESCRYPT_R11.replacen("jFT", p, 1);
    // One step above in each dimension: N = 2^19; r = 64; p = 2; t = 1.
    for over in [
        with_params("jGT"),
        with_params("jFy"),
        with_params("jFT.."),
        with_params("jFT/."),
        // Multi-character encodings of huge N and r.
        with_params("jxT"),
        with_params("jFzzzzzz"),
    ] {
        match StoredPassword::parse(&over) {
            Err(e) => assert!(
                e.to_string().contains("limit") || e.to_string().contains("parameters"),
                "{over}: {e}"
            ),
            Ok(_) => panic!("{over} accepted"),
        }
    }
    assert!(StoredPassword::parse(&with_params("jGT"))
        .unwrap_err()
        .to_string()
        .contains("limit"));
    // r and p are also capped on their own (r <= 32, p <= 16), even when
    // N is small enough for the total to pass.
    assert!(StoredPassword::parse(&with_params("j5T")).is_ok(), "r = 32");
    assert!(
        StoredPassword::parse(&with_params("j5T.C")).is_ok(),
        "p = 16"
    );
    for over in ["j5U", "j5T.D"] {
        let e = StoredPassword::parse(&with_params(over)).unwrap_err();
        assert!(e.to_string().contains("limit"), "{over}: {e}");
    }
}

#[test]
fn malformed_yescrypt_is_a_clean_no() {
    let good = "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC";
    assert!(StoredPassword::parse(good).is_ok());
    let mut bad: Vec<String> = [
        "$y$",
        "$y$$$",
        "$y$j9T",
        "$y$j9T$",
        "$y$j9T$$",
        "$y$j9T$abc$def",
        "$y$$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "$y$j9T$$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        // Unknown flavor, trailing parameter characters, g and NROM fields.
        "$y$z9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "$y$j9T..x$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "$y$j9T1.$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "$y$j9T5.$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        // Salt that libxcrypt itself refuses (non-zero padding bits: crypt()
        // returns "*0" for "$y$j9T$abcdefghijklmnopqrstuv").
        "$y$j9T$abcdefghijklmnopqrstuv$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        // Output one character short, one long, not base-64, extra field.
        "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjb",
        "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbCC",
        "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxj_C",
        "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC$",
        "{CRYPT}$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC\u{0}",
        // yescrypt under a scheme that names another algorithm.
        "{SHA512-CRYPT}$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "{DES-CRYPT}$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A salt longer than 64 bytes.
    bad.push(good.replacen("qOrvCRUHTWft9NuOXDrVs/", &"qOrv".repeat(30), 1));
    for b in &bad {
        assert!(StoredPassword::parse(b).is_err(), "{b:?} accepted");
    }
    // Every truncation of a good hash is refused or, if it still parses, does
    // not verify; none panics.
    for end in 0..good.len() {
        if let Ok(p) = StoredPassword::parse(&good[..end]) {
            assert!(!p.verify(b"debian default"), "{}", &good[..end]);
        }
    }
}

#[test]
fn md5_crypt_and_des_crypt_are_refused_with_a_reason() {
    let refused: Vec<Vector> = vectors().into_iter().filter(is_refused).collect();
    // doveadm's MD5-CRYPT and DES-CRYPT, openssl's $1$, perl's two DES hashes.
    let labels: Vec<&str> = refused.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(refused.len(), 5, "{labels:?}");
    for v in &refused {
        match StoredPassword::parse(&v.hash) {
            Err(e @ PasswordError::Refused(_)) => {
                let text = e.to_string();
                assert!(text.contains("no longer accepted"), "{}: {text}", v.label);
                let named = if v.hash.contains("$1$") {
                    "MD5-crypt"
                } else {
                    "DES crypt"
                };
                assert!(text.contains(named), "{}: {text}", v.label);
            }
            other => panic!("{}: {other:?}", v.label),
        }
    }
    // Whatever the prefix says, and however malformed the rest.
    for field in [
        "{CRYPT}$1$abc$def",
        "{MD5-CRYPT}$1$",
        "{DES-CRYPT}ab",
        "{CRYPT}xx",
    ] {
        assert!(
            matches!(StoredPassword::parse(field), Err(PasswordError::Refused(_))),
            "{field}"
        );
    }
}

#[test]
fn malformed_sha_crypt_and_bcrypt_are_a_clean_no() {
    let sha512 = "$6$1ZyK.kCvdPV3pwGd$VoGyQUkID41h.TipgJ1h0SQhjqm7UHDKd0z1q.0DwsSmZo/okg/STm48kV0m4RzRHMPmQggH30vmKr5iBtfmy.";
    let sha256 = "$5$BDdJQmuX2/LEBl/8$XB0DHkU1rbEHsCdXcNnk6B.loCzAW6B9koskkUUoddD";
    let bcrypt = "$2y$05$Kb8qtyK.BZ/YqsxviJI3ZO9Y0ktMxpcsz2.WKKyQImXw5zIAubS8W";
    for good in [sha512, sha256, bcrypt] {
        assert!(StoredPassword::parse(good).is_ok(), "{good}");
    }
    let bad = [
        // Structure: missing or extra fields, empty parts.
        "$6$".to_string(),
        "$6$$".to_string(),
        "$6$salt".to_string(),
        format!("{sha512}$"),
        sha512.replacen("1ZyK", "1ZyK$x", 1),
        // Rounds out of range or not a number; more than 16 salt characters.
        sha512.replacen("$6$", "$6$rounds=999$", 1),
        sha512.replacen("$6$", "$6$rounds=1000000000$", 1),
        sha512.replacen("$6$", "$6$rounds=-5000$", 1),
        sha512.replacen("$6$", "$6$rounds=5e3$", 1),
        sha512.replacen("1ZyK.kCvdPV3pwGd", "1ZyK.kCvdPV3pwGdX", 1),
        // Output one character short, one long, outside crypt's alphabet.
        sha512[..sha512.len() - 1].to_string(),
        format!("{sha512}A"),
        sha512.replacen("VoGy", "Vo-y", 1),
        sha256.replacen("XB0D", "XB0\u{e9}", 1),
        // A SHA-256 output under the SHA-512 id and the reverse.
        sha256.replacen("$5$", "$6$", 1),
        sha512.replacen("$6$", "$5$", 1),
        // bcrypt: cost out of range or not a number, lengths, alphabet, $2x$.
        bcrypt.replacen("$05$", "$03$", 1),
        bcrypt.replacen("$05$", "$32$", 1),
        bcrypt.replacen("$05$", "$5$", 1),
        bcrypt.replacen("$05$", "$a5$", 1),
        bcrypt.replacen("$05$", "$05", 1),
        format!("{bcrypt}x"),
        bcrypt[..bcrypt.len() - 1].to_string(),
        bcrypt.replacen("Kb8q", "Kb8_", 1),
        bcrypt.replacen("$2y$", "$2x$", 1),
        bcrypt.replacen("$2y$", "$2$", 1),
        // Control characters and non-ASCII anywhere.
        format!("{sha512}\u{0}"),
        format!("\u{7f}{bcrypt}"),
        sha512.replacen('.', "\u{2024}", 1),
    ];
    for b in &bad {
        assert!(StoredPassword::parse(b).is_err(), "{b:?} accepted");
    }
    // Every truncation and every single-character change is refused or does
    // not verify; none panics.
    for good in [sha512, sha256, bcrypt] {
        for end in 0..good.len() {
            if let Ok(p) = StoredPassword::parse(&good[..end]) {
                assert!(!p.verify(b"s3cret!"), "{}", &good[..end]);
            }
        }
        for at in 0..good.len() {
            for c in ['$', '.', '/', 'z', '0', '\u{0}', '\u{ff}'] {
                let mut chars: Vec<char> = good.chars().collect();
                if chars[at] == c {
                    continue;
                }
                chars[at] = c;
                let changed: String = chars.into_iter().collect();
                if let Ok(p) = StoredPassword::parse(&changed) {
                    assert!(!p.verify(b"s3cret!"), "{changed}");
                }
            }
        }
    }
}

#[test]
fn tampered_hashes_do_not_verify() {
    for v in supported() {
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
    assert!(
        StoredPassword::parse(
            "$7$CU..../....2Q9GN4pk8Sv8IVO0Ir6IuO$AVJ0xcnLzBrVwsyJ8vsSBQtrb1JbJsKS5wZ0n9iGeQ0"
        )
        .is_err(),
        "scrypt $7$"
    );
    assert!(
        StoredPassword::parse("$gy$j9T$abc$def").is_err(),
        "gost-yescrypt"
    );
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
