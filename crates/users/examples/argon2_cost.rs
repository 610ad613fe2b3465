//! Measures what one password check costs with the parameters
//! `hash_password` uses, to keep them in the 50-100 ms band on the target
//! machine. Run: `cargo run --release -p ferrymail-users --example argon2_cost`

use std::time::Instant;

use ferrymail_users::StoredPassword;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let hash = ferrymail_users::hash_password("measure me")?;
    println!("hash_password: {:?}", t.elapsed());
    let stored = StoredPassword::parse(&hash)?;
    let rounds = 10;
    let t = Instant::now();
    for _ in 0..rounds {
        assert!(stored.verify(b"measure me"));
    }
    println!("verify (mean of {rounds}): {:?}", t.elapsed() / rounds);
    Ok(())
}
