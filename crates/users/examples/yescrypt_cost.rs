//! Measures one yescrypt check at Debian's default cost and at the largest
//! accepted cost ([`ferrymail_users::password::MAX_YESCRYPT_COST`], libxcrypt's
//! `-R 11`), to document what a hostile-but-accepted hash can cost.
//! Run: `cargo run --release -p ferrymail-users --example yescrypt_cost`

use std::time::Instant;

use ferrymail_users::StoredPassword;

/// Both made by libxcrypt: `mkpasswd -m yescrypt 'debian default'` and
/// `mkpasswd -m yescrypt -R 11 'largest cost'`.
const CASES: [(&str, &str, u32); 2] = [
    (
        "$y$j9T$qOrvCRUHTWft9NuOXDrVs/$XCo2EDHZnha4P1Wxa.xsNHyPmV5ulQgdOHZKhgBxjbC",
        "debian default",
        10,
    ),
    (
        "$y$jFT$9jBNujlpfljrgb7EqRxrQ0$uuklLziMniwIRUfqltU3L0lHF2VxSxdJP.hLC3rxUD3",
        "largest cost",
        3,
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (hash, password, rounds) in CASES {
        let stored = StoredPassword::parse(hash)?;
        let t = Instant::now();
        for _ in 0..rounds {
            if !stored.verify(password.as_bytes()) {
                return Err(format!("{hash}: password rejected").into());
            }
        }
        let params = hash.split('$').nth(2).unwrap_or_default();
        println!(
            "{params}: verify (mean of {rounds}): {:?}",
            t.elapsed() / rounds
        );
    }
    Ok(())
}
