//! Password schemes in Dovecot's `{SCHEME}hash` notation: parsing, verifying
//! and hashing new passwords.
//!
//! Every stored hash is validated when its file is loaded, so a malformed or
//! unsupported hash becomes a [`crate::LoadIssue`] on its line instead of a
//! login that silently never works. Verification is constant-time in the
//! comparison; its cost is the scheme's own cost.
//!
//! Accepted: Argon2id/Argon2i (`argon2`), yescrypt `$y$` (`yescrypt`),
//! SHA-512/SHA-256-crypt `$6$`/`$5$` (`sha-crypt`), bcrypt `$2a$`/`$2b$`/`$2y$`
//! (`bcrypt`) and plain text. MD5-crypt `$1$` and traditional DES crypt are
//! refused: both are broken, and no maintained implementation exists to check
//! them with. A user with such a hash keeps receiving mail but cannot log in
//! until given a new password; the load warning says so.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use blake2::{Blake2b512, Digest};
use sha_crypt::ShaCrypt;
use subtle::ConstantTimeEq;
use yescrypt::{PasswordHashRef, Yescrypt};

use crate::error::PasswordError;

/// Argon2id memory cost of [`hash_password`], in KiB (64 MiB).
///
/// With `t=2, p=1` one verification takes about 86 ms in release mode on the
/// 2-core reference machine (measured with `examples/argon2_cost.rs`), inside
/// the 50-100 ms budget for a login; doveadm's default `t=3` measured 121 ms.
/// The argon2 crate computes lanes serially, so `p=1` loses nothing and a
/// second concurrent login uses the other core. Imported hashes keep their
/// own parameters; only the unknown-user path is tied to these (see
/// [`dummy_verify`]).
pub const HASH_M_COST_KIB: u32 = 65536;
/// Argon2id passes of [`hash_password`].
pub const HASH_T_COST: u32 = 2;
/// Argon2id lanes of [`hash_password`].
pub const HASH_P_COST: u32 = 1;

/// Longest password accepted for verification or hashing. SHA-crypt work
/// grows with password length, so unbounded input would be a CPU lever.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Largest Argon2 memory cost accepted from a file (1 GiB): a typo such as an
/// extra digit must not make every login allocate tens of gigabytes.
const MAX_ARGON2_M_KIB: u32 = 1024 * 1024;
const MAX_ARGON2_T: u32 = 64;
const MAX_ARGON2_P: u32 = 64;

/// Largest yescrypt work accepted from a file, as `N * r * p * (t + 1)`.
///
/// 2^23 is libxcrypt's most expensive setting (`mkpasswd -m yescrypt -R 11`:
/// N = 2^18, r = 32, 1 GiB of memory), the same memory ceiling as Argon2
/// above. Debian's default (`-R 5`, `$y$j9T$`) is 2^17. Anything beyond the
/// cap would only come from a typo or a hostile line, and one check of it
/// could take minutes and gigabytes. Counting `p` and `t` as multipliers
/// over-estimates some modes, which errs on the safe side. Measured with
/// `examples/yescrypt_cost.rs` in release mode on the 2-core reference
/// machine: 22 ms for `j9T`, 2.9 s for a hash at the cap (libxcrypt's own
/// `mkpasswd -R 11` takes 1.1 s).
pub const MAX_YESCRYPT_COST: u64 = 1 << 23;
/// Largest yescrypt block size `r` accepted: libxcrypt never makes more than
/// 32. Bounding `r` and `p` on their own as well keeps the per-block buffers
/// (128·r·p bytes and 256·r bytes) small even when N is tiny.
pub const MAX_YESCRYPT_R: u32 = 32;
/// Largest yescrypt parallelism `p` accepted (libxcrypt makes 1; the
/// reference implementation's tests use up to 11).
pub const MAX_YESCRYPT_P: u32 = 16;
/// Longest yescrypt salt accepted, in decoded bytes (libxcrypt makes 16).
const MAX_YESCRYPT_SALT: usize = 64;
/// yescrypt output length in bytes as libxcrypt writes it (43 characters).
const YESCRYPT_HASH_LEN: usize = 32;

/// Password scheme names as Dovecot writes them inside `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Argon2id,
    Argon2i,
    /// bcrypt, `$2a$`/`$2b$`/`$2y$`.
    BlfCrypt,
    /// `$6$`
    Sha512Crypt,
    /// `$5$`
    Sha256Crypt,
    /// `$1$`: recognised, but its hashes are refused (see the module doc).
    Md5Crypt,
    /// crypt(3): dispatches on the hash's `$id$` (`$2a$`/`$2b$`/`$2y$`, `$5$`,
    /// `$6$`, yescrypt `$y$`; `$1$` and DES, which has none, are refused).
    /// Also what a hash without a `{SCHEME}` prefix means, as in shadow(5).
    Crypt,
    /// Traditional 13-character DES crypt: recognised, but its hashes are
    /// refused (see the module doc).
    DesCrypt,
    Plain,
    /// `CLEARTEXT` or `CLEAR`.
    Cleartext,
}

impl Scheme {
    /// Canonical Dovecot name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Argon2id => "ARGON2ID",
            Scheme::Argon2i => "ARGON2I",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::Md5Crypt => "MD5-CRYPT",
            Scheme::Crypt => "CRYPT",
            Scheme::DesCrypt => "DES-CRYPT",
            Scheme::Plain => "PLAIN",
            Scheme::Cleartext => "CLEARTEXT",
        }
    }

    /// Parses a scheme name case-insensitively, as Dovecot does.
    pub fn from_name(name: &str) -> Option<Scheme> {
        let upper = name.to_ascii_uppercase();
        Some(match upper.as_str() {
            "ARGON2ID" => Scheme::Argon2id,
            "ARGON2I" => Scheme::Argon2i,
            "BLF-CRYPT" => Scheme::BlfCrypt,
            "SHA512-CRYPT" => Scheme::Sha512Crypt,
            "SHA256-CRYPT" => Scheme::Sha256Crypt,
            "MD5-CRYPT" => Scheme::Md5Crypt,
            "CRYPT" => Scheme::Crypt,
            "DES-CRYPT" => Scheme::DesCrypt,
            "PLAIN" => Scheme::Plain,
            "CLEARTEXT" | "CLEAR" => Scheme::Cleartext,
            _ => return None,
        })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a validated hash is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Argon2,
    /// crypt(3) `$5$`/`$6$`, recomputed with the RustCrypto sha-crypt crate.
    ShaCrypt,
    /// crypt(3) `$2a$`/`$2b$`/`$2y$`, recomputed with the bcrypt crate.
    Bcrypt,
    /// crypt(3) `$y$`, recomputed with the RustCrypto yescrypt crate.
    Yescrypt,
    Plain,
}

/// A validated password field, exactly as it appears in the file.
///
/// `Debug` deliberately omits the hash so it can never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPassword {
    scheme: Scheme,
    method: Method,
    text: String,
    body_start: usize,
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPassword")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl StoredPassword {
    /// Parses and validates a password field: `{SCHEME}hash`, or a bare hash
    /// taken as `CRYPT`. Fails for unknown schemes, unsupported crypt(3)
    /// variants (`$7$`, `$gy$`, ...), MD5-crypt and DES crypt, structurally
    /// malformed hashes and yescrypt costs above [`MAX_YESCRYPT_COST`].
    pub fn parse(field: &str) -> Result<StoredPassword, PasswordError> {
        let (scheme, body_start) = if let Some(rest) = field.strip_prefix('{') {
            let close = rest.find('}').ok_or(PasswordError::Malformed {
                scheme: "password",
                reason: "'{' without matching '}'",
            })?;
            let name = rest.get(..close).unwrap_or_default();
            let scheme = Scheme::from_name(name).ok_or_else(|| {
                // The braces normally hold only a scheme name; cap and clean it
                // anyway in case someone pasted something sensitive there.
                let shown: String = name
                    .chars()
                    .take(24)
                    .map(|c| if c.is_ascii_graphic() { c } else { '?' })
                    .collect();
                PasswordError::UnknownScheme(shown)
            })?;
            (scheme, close + 2)
        } else {
            (Scheme::Crypt, 0)
        };
        let body = field.get(body_start..).unwrap_or_default();
        let method = validate(scheme, body)?;
        Ok(StoredPassword {
            scheme,
            method,
            text: field.to_string(),
            body_start,
        })
    }

    /// The scheme named by the prefix (or `CRYPT` when there was none).
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The field as written to a passwd-file. Contains the hash: never log it.
    pub fn as_field(&self) -> &str {
        &self.text
    }

    fn body(&self) -> &str {
        self.text.get(self.body_start..).unwrap_or_default()
    }

    /// Checks `password` against this hash. The final comparison is
    /// constant-time; the hashing cost is whatever the stored parameters say.
    pub fn verify(&self, password: &[u8]) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let body = self.body();
        match self.method {
            Method::Argon2 => verify_argon2(body, password),
            // Both crates compare the outputs in constant time (ctutils, subtle).
            Method::ShaCrypt => sha_crypt::PasswordVerifier::<str>::verify_password(
                &ShaCrypt::default(),
                password,
                body,
            )
            .is_ok(),
            Method::Bcrypt => bcrypt::verify(password, body).unwrap_or(false),
            Method::Yescrypt => yescrypt::PasswordVerifier::<str>::verify_password(
                &Yescrypt::default(),
                password,
                body,
            )
            .is_ok(),
            Method::Plain => {
                // Digest both sides so the comparison takes the same time
                // whatever the lengths, without leaking the stored length.
                let a = Blake2b512::digest(password);
                let b = Blake2b512::digest(body.as_bytes());
                a.as_slice().ct_eq(b.as_slice()).into()
            }
        }
    }

    /// Whether one [`verify`](StoredPassword::verify) costs well under a
    /// millisecond: plain text, and yescrypt at the smallest costs. The fuzz
    /// harness verifies only these, so it can run thousands of inputs a second
    /// and still drive the yescrypt crate with unusual parameters.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn is_cheap_to_verify(&self) -> bool {
        match self.method {
            Method::Plain => true,
            Method::Yescrypt => self
                .body()
                .split('$')
                .nth(2)
                .and_then(crate::yescrypt_params::decode)
                .is_some_and(|c| c.work() <= 1 << 10),
            Method::Argon2 | Method::ShaCrypt | Method::Bcrypt => false,
        }
    }
}

fn verify_argon2(body: &str, password: &[u8]) -> bool {
    match PasswordHash::new(body) {
        Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
        Err(_) => false,
    }
}

/// Characters of the crypt(3) base-64 alphabet.
fn is_crypt64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'/'
}

fn malformed(scheme: Scheme, reason: &'static str) -> PasswordError {
    PasswordError::Malformed {
        scheme: scheme.name(),
        reason,
    }
}

fn validate(scheme: Scheme, body: &str) -> Result<Method, PasswordError> {
    match scheme {
        Scheme::Plain | Scheme::Cleartext => {
            if body.chars().any(|c| c == '\n' || c == '\r') {
                return Err(malformed(scheme, "contains a line break"));
            }
            Ok(Method::Plain)
        }
        Scheme::Argon2id => validate_argon2(scheme, body, Algorithm::Argon2id),
        Scheme::Argon2i => validate_argon2(scheme, body, Algorithm::Argon2i),
        _ => {
            // crypt(3) hashes are printable ASCII; anything else is damage, and
            // is refused before any crate parses it.
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(malformed(scheme, "empty or contains invalid characters"));
            }
            let b = body.as_bytes();
            let id = crypt_id(body);
            let ok_for_scheme = match scheme {
                Scheme::BlfCrypt => matches!(id, Some("2a" | "2b" | "2y")),
                Scheme::Sha512Crypt => id == Some("6"),
                Scheme::Sha256Crypt => id == Some("5"),
                Scheme::Md5Crypt => id == Some("1"),
                Scheme::DesCrypt => id.is_none(),
                _ => true,
            };
            if !ok_for_scheme {
                return Err(malformed(scheme, "hash type does not match the scheme"));
            }
            match id {
                None => Err(PasswordError::Refused("DES crypt")),
                Some("1") => Err(PasswordError::Refused("MD5-crypt ($1$)")),
                Some("2a" | "2b" | "2y") => check_bcrypt(scheme, b).map(|()| Method::Bcrypt),
                Some("5") => check_sha(scheme, body, 43).map(|()| Method::ShaCrypt),
                Some("6") => check_sha(scheme, body, 86).map(|()| Method::ShaCrypt),
                Some("y") => check_yescrypt(scheme, body).map(|()| Method::Yescrypt),
                Some(other) => {
                    let shown: String = other.chars().take(8).collect();
                    Err(PasswordError::UnsupportedCrypt(format!("${shown}$")))
                }
            }
        }
    }
}

/// The `$id$` of a modular crypt hash, `None` for traditional DES.
fn crypt_id(body: &str) -> Option<&str> {
    let rest = body.strip_prefix('$')?;
    Some(rest.split('$').next().unwrap_or_default())
}

fn check_bcrypt(scheme: Scheme, b: &[u8]) -> Result<(), PasswordError> {
    // $2y$NN$ + 22 salt + 31 hash characters
    let cost = b
        .get(4..6)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u32>().ok());
    let tail_ok = b.len() == 60
        && b.get(6) == Some(&b'$')
        && b.get(7..).is_some_and(|t| t.iter().all(|&c| is_crypt64(c)));
    match cost {
        Some(c) if (4..=31).contains(&c) && tail_ok => Ok(()),
        _ => Err(malformed(
            scheme,
            "expected $2y$NN$ followed by 53 characters, cost 04-31",
        )),
    }
}

fn check_sha(scheme: Scheme, body: &str, hash_len: usize) -> Result<(), PasswordError> {
    let fields: Vec<&str> = body.split('$').skip(2).collect();
    let (rounds, salt, hash) = match fields.as_slice() {
        [salt, hash] => (None, *salt, *hash),
        [r, salt, hash] if r.starts_with("rounds=") => (Some(*r), *salt, *hash),
        _ => return Err(malformed(scheme, "expected $id$[rounds=N$]salt$hash")),
    };
    if let Some(r) = rounds {
        let n = r.get(7..).and_then(|n| n.parse::<u32>().ok());
        if !matches!(n, Some(1000..=999_999_999)) {
            return Err(malformed(scheme, "rounds must be 1000-999999999"));
        }
    }
    if salt.len() > 16 || hash.len() != hash_len || !hash.bytes().all(is_crypt64) {
        return Err(malformed(scheme, "bad salt or hash length"));
    }
    Ok(())
}

/// Checks a `$y$params$salt$hash` string the way libxcrypt would read it,
/// and refuses costs above [`MAX_YESCRYPT_COST`], [`MAX_YESCRYPT_R`] and
/// [`MAX_YESCRYPT_P`]. The crate is only handed strings that passed, so
/// hostile parameters never reach its arithmetic or its allocator.
fn check_yescrypt(scheme: Scheme, body: &str) -> Result<(), PasswordError> {
    let hash = PasswordHashRef::new(body)
        .map_err(|_| malformed(scheme, "expected $y$params$salt$hash"))?;
    let mut fields = hash.fields();
    let (Some(params), Some(salt), Some(output), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(scheme, "expected $y$params$salt$hash"));
    };
    let cost = crate::yescrypt_params::decode(params.as_str())
        .ok_or(malformed(scheme, "bad yescrypt parameters"))?;
    if cost.work() > MAX_YESCRYPT_COST || cost.r > MAX_YESCRYPT_R || cost.p > MAX_YESCRYPT_P {
        return Err(malformed(scheme, "yescrypt cost above this server's limit"));
    }
    // The crate's own reading must agree (it also checks the flavor).
    params
        .as_str()
        .parse::<yescrypt::Params>()
        .map_err(|_| malformed(scheme, "bad yescrypt parameters"))?;
    let salt_ok = salt.as_str().len() <= MAX_YESCRYPT_SALT * 4 / 3 + 1
        && salt
            .decode_base64(mcf::Base64::Crypt)
            .is_ok_and(|s| !s.is_empty());
    if !salt_ok {
        return Err(malformed(scheme, "bad yescrypt salt"));
    }
    let output_ok = output
        .decode_base64(mcf::Base64::Crypt)
        .is_ok_and(|h| h.len() == YESCRYPT_HASH_LEN);
    if !output_ok {
        return Err(malformed(scheme, "yescrypt hash must be 43 characters"));
    }
    Ok(())
}

fn validate_argon2(
    scheme: Scheme,
    body: &str,
    algorithm: Algorithm,
) -> Result<Method, PasswordError> {
    let hash = PasswordHash::new(body).map_err(|_| malformed(scheme, "not a PHC string"))?;
    if hash.algorithm != algorithm.ident() {
        return Err(malformed(scheme, "algorithm does not match the scheme"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed(scheme, "salt or hash missing"));
    }
    let params = Params::try_from(&hash).map_err(|_| malformed(scheme, "bad parameters"))?;
    if params.m_cost() > MAX_ARGON2_M_KIB
        || params.t_cost() > MAX_ARGON2_T
        || params.p_cost() > MAX_ARGON2_P
    {
        return Err(malformed(scheme, "parameters above this server's limits"));
    }
    if let Some(v) = hash.version {
        Version::try_from(v).map_err(|_| malformed(scheme, "unknown version"))?;
    }
    Ok(Method::Argon2)
}

fn hashing_params() -> Result<Params, PasswordError> {
    Params::new(HASH_M_COST_KIB, HASH_T_COST, HASH_P_COST, None)
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Hashes a new password for storage: `{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$...`
/// with a fresh random salt. CPU-bound for tens of milliseconds: call it from
/// a blocking context.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::Hashing(format!(
            "password longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, hashing_params()?);
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(format!("{{ARGON2ID}}{hash}"))
}

/// A well-formed Argon2id hash whose output bytes were chosen arbitrarily, so
/// no known password matches it. Its parameters are exactly the
/// [`hash_password`] ones (a unit test holds this in place).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=65536,t=2,p=1$ZnVycnltYWlsLWR1bW15LXNhbHQ$7Jm4ZsP1lRKYh0pQvYdqE1oa2wI5zt6lfp1zIhXWxIc";

/// Spends the same effort as verifying a hash made by [`hash_password`], and
/// throws the answer away. Used when the user is unknown or cannot log in, so
/// the response time does not tell an attacker which logins exist. (Users
/// whose hashes have other costs, e.g. imported from Dovecot with `t=3` or
/// SHA512-CRYPT, remain distinguishable by timing until they change their
/// password through mailctl.)
pub fn dummy_verify(password: &[u8]) {
    let len = password.len().min(MAX_PASSWORD_LEN);
    let input = password.get(..len).unwrap_or_default();
    std::hint::black_box(verify_argon2(DUMMY_HASH, input));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_uses_the_hashing_parameters() {
        let hash = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(hash.algorithm, Algorithm::Argon2id.ident());
        let params = Params::try_from(&hash).unwrap();
        assert_eq!(params.m_cost(), HASH_M_COST_KIB);
        assert_eq!(params.t_cost(), HASH_T_COST);
        assert_eq!(params.p_cost(), HASH_P_COST);
        assert!(StoredPassword::parse(&format!("{{ARGON2ID}}{DUMMY_HASH}")).is_ok());
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let p = StoredPassword::parse("{PLAIN}topsecret").unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("Plain"));
    }

    #[test]
    fn hostile_bytes_are_rejected_before_a_crate_sees_them() {
        for bad in [
            "$2y$05$\u{80}bcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012",
            "$2y$05$\tbcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
            "a\u{1}cdefghijklm",
            "",
            "$6$",
            "$6$rounds=$salt$x",
            "$1$",
            "$2y$99$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0",
        ] {
            assert!(StoredPassword::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn scheme_names_round_trip() {
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
            assert_eq!(Scheme::from_name(s.name()), Some(s));
            assert_eq!(Scheme::from_name(&s.name().to_lowercase()), Some(s));
        }
        assert_eq!(Scheme::from_name("CLEAR"), Some(Scheme::Cleartext));
        assert_eq!(Scheme::from_name("SSHA"), None);
    }
}
