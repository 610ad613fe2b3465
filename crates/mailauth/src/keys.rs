//! DKIM keys: loading the PEM files named by the config, generating new ones for
//! `mailctl dkim keygen`, and the DNS TXT record (RFC 6376 §3.6.1, RFC 8463) that publishes the
//! public half — plus the comparison `mailctl check` uses to tell whether the published record
//! matches the key.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A key file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a PEM private key (PKCS#8 RSA/Ed25519 or PKCS#1 RSA): {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// The two DKIM signing algorithms we publish keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// rsa-sha256 with a 2048-bit key: what every verifier understands.
    Rsa,
    /// ed25519-sha256 (RFC 8463): small and fast, but not every verifier knows it yet.
    Ed25519,
}

impl Algorithm {
    /// The `k=` tag value of the DNS record.
    pub fn k_tag(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Ok(Algorithm::Rsa),
            "ed25519" | "ed25519-sha256" => Ok(Algorithm::Ed25519),
            other => Err(format!("unknown algorithm `{other}` (rsa or ed25519)")),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.k_tag())
    }
}

/// A loaded private key with the public key that belongs in DNS.
pub struct SigningKeyPair {
    pub algorithm: Algorithm,
    pub(crate) key: DkimKey,
    /// RSA: SubjectPublicKeyInfo DER; Ed25519: the raw 32-byte key — what `p=` carries.
    pub public_key: Vec<u8>,
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKeyPair {
    /// Reads a PEM key file.
    pub fn load(path: &Path) -> Result<SigningKeyPair, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&pem).map_err(|reason| KeyError::Format {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses a PEM private key: PKCS#8 (RSA or Ed25519, as `mailctl dkim keygen` and
    /// `openssl genpkey` write them) or PKCS#1 RSA (`openssl genrsa`, opendkim-genkey).
    pub fn from_pem(pem: &[u8]) -> Result<SigningKeyPair, String> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| e.to_string())?;
        let rsa = match &der {
            PrivateKeyDer::Pkcs1(_) | PrivateKeyDer::Pkcs8(_) => {
                RsaKey::<Sha256>::from_key_der(der.clone_key())
            }
            _ => return Err("SEC1 (EC) keys are not DKIM keys".into()),
        };
        match rsa {
            Ok(key) => {
                let public_key = rsa_spki(&key.public_key());
                Ok(SigningKeyPair {
                    algorithm: Algorithm::Rsa,
                    key: DkimKey::Rsa(key),
                    public_key,
                })
            }
            Err(rsa_err) => {
                let PrivateKeyDer::Pkcs8(p8) = &der else {
                    return Err(format!("RSA: {rsa_err}"));
                };
                // ring's checked parser wants PKCS#8 v2 (with the public key); openssl writes
                // v1, which the unchecked parser accepts and derives the public key for.
                let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(p8.secret_pkcs8_der())
                    .map_err(|e| format!("neither RSA ({rsa_err}) nor Ed25519 ({e})"))?;
                let public_key = key.public_key();
                Ok(SigningKeyPair {
                    algorithm: Algorithm::Ed25519,
                    key: DkimKey::Ed25519(key),
                    public_key,
                })
            }
        }
    }

    /// The TXT record publishing this key.
    pub fn record(&self, domain: &str, selector: &str) -> DkimRecord {
        DkimRecord {
            name: format!(
                "{}._domainkey.{}",
                selector.trim_end_matches('.'),
                domain.trim_end_matches('.').to_ascii_lowercase()
            ),
            value: format!(
                "v=DKIM1; k={}; p={}",
                self.algorithm.k_tag(),
                B64.encode(&self.public_key)
            ),
        }
    }

    /// Whether a published TXT record carries this key: same algorithm and same public key
    /// (RSA keys compare equal whether published as SubjectPublicKeyInfo or bare PKCS#1).
    pub fn check_record(&self, txt: &str) -> Result<(), RecordMismatch> {
        let tags = parse_tags(txt);
        let get = |name: &str| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some(v) = get("v") {
            if v != "DKIM1" {
                return Err(RecordMismatch::Syntax(format!("v={v} is not DKIM1")));
            }
        }
        let k = get("k").unwrap_or("rsa");
        if !k.eq_ignore_ascii_case(self.algorithm.k_tag()) {
            return Err(RecordMismatch::Algorithm {
                published: k.to_owned(),
                key: self.algorithm,
            });
        }
        let p: String = get("p")
            .ok_or_else(|| RecordMismatch::Syntax("no p= tag".into()))?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if p.is_empty() {
            return Err(RecordMismatch::Revoked);
        }
        let published = B64
            .decode(p.as_bytes())
            .map_err(|e| RecordMismatch::Syntax(format!("p= is not base64: {e}")))?;
        let same = match self.algorithm {
            Algorithm::Rsa => strip_spki(&published) == strip_spki(&self.public_key),
            Algorithm::Ed25519 => published == self.public_key,
        };
        if same {
            Ok(())
        } else {
            Err(RecordMismatch::OtherKey)
        }
    }
}

/// Why a published record does not publish our key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordMismatch {
    #[error("the record is malformed: {0}")]
    Syntax(String),
    #[error("the record is for k={published} but the key is {key}")]
    Algorithm { published: String, key: Algorithm },
    #[error("the record has an empty p= (the key is revoked)")]
    Revoked,
    #[error("the record publishes a different public key")]
    OtherKey,
}

/// A DNS TXT record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    /// `<selector>._domainkey.<domain>` (no trailing dot).
    pub name: String,
    /// `v=DKIM1; k=...; p=...`
    pub value: String,
}

impl DkimRecord {
    /// The record as a zone-file line. TXT strings hold at most 255 octets, so a 2048-bit RSA
    /// key is split into several strings that resolvers join back together.
    pub fn zone_line(&self) -> String {
        let chunks: Vec<String> = self
            .value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        if chunks.len() == 1 {
            format!("{}. 3600 IN TXT {}", self.name, chunks.join(" "))
        } else {
            format!("{}. 3600 IN TXT ( {} )", self.name, chunks.join(" "))
        }
    }
}

/// A freshly generated key: the PEM to store and the pair to use.
pub struct GeneratedKey {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub pem: String,
    pub pair: SigningKeyPair,
}

/// Generates a key: RSA-2048 or Ed25519.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, KeyError> {
    let der = match algorithm {
        Algorithm::Rsa => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            key.to_pkcs8_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        Algorithm::Ed25519 => {
            Ed25519Key::generate_pkcs8().map_err(|e| KeyError::Generate(e.to_string()))?
        }
    };
    let pem = pem_encode("PRIVATE KEY", &der);
    let pair = SigningKeyPair::from_pem(pem.as_bytes()).map_err(KeyError::Generate)?;
    Ok(GeneratedKey { pem, pair })
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `tag=value; ...` (RFC 6376 §3.2), whitespace around tags and values removed.
pub(crate) fn parse_tags(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

// DER of AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALG_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo, the form DKIM records use (what
/// `openssl rsa -pubout` and opendkim-genkey print).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut bit_string = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bit_string);
    bit_string.push(0);
    bit_string.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(RSA_ALG_ID.len() + bit_string.len(), &mut out);
    out.extend_from_slice(&RSA_ALG_ID);
    out.extend_from_slice(&bit_string);
    out
}

/// The PKCS#1 key inside a SubjectPublicKeyInfo, or the input when it is not one.
fn strip_spki(der: &[u8]) -> &[u8] {
    fn read_len(b: &[u8]) -> Option<(usize, &[u8])> {
        let first = *b.first()?;
        if first < 0x80 {
            return Some((first as usize, b.get(1..)?));
        }
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(1..1 + n)?
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | *x as usize);
        Some((len, b.get(1 + n..)?))
    }
    let inner = || -> Option<&[u8]> {
        let rest = der.strip_prefix(&[0x30])?;
        let (_, rest) = read_len(rest)?;
        let rest = rest.strip_prefix(&RSA_ALG_ID[..])?;
        let rest = rest.strip_prefix(&[0x03])?;
        let (len, rest) = read_len(rest)?;
        let bits = rest.get(..len)?;
        bits.strip_prefix(&[0])
    };
    inner().unwrap_or(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_wrapping_round_trips_and_matches_both_forms() {
        let g = generate(Algorithm::Rsa).unwrap();
        assert_eq!(g.pair.algorithm, Algorithm::Rsa);
        let spki = &g.pair.public_key;
        let pkcs1 = strip_spki(spki);
        assert_ne!(pkcs1.len(), spki.len());
        assert_eq!(rsa_spki(pkcs1), *spki);
        // Published as SPKI (our form) or as bare PKCS#1 (some generators): both match.
        let rec = g.pair.record("A.test.", "s1");
        assert_eq!(rec.name, "s1._domainkey.a.test");
        g.pair.check_record(&rec.value).unwrap();
        let bare = format!("v=DKIM1; k=rsa; p={}", B64.encode(pkcs1));
        g.pair.check_record(&bare).unwrap();
        // A TXT split over several strings joins without spaces, but a space-separated p=
        // (as some DNS UIs show it) is still read.
        let spaced = rec.value.replacen("p=", "p= ", 1);
        g.pair.check_record(&spaced).unwrap();
        let line = rec.zone_line();
        assert!(line.starts_with("s1._domainkey.a.test. 3600 IN TXT ( \"v=DKIM1; k=rsa; p="));
        assert!(line.contains("\" \""), "{line}");
    }

    #[test]
    fn mismatches_are_named() {
        let a = generate(Algorithm::Ed25519).unwrap().pair;
        let b = generate(Algorithm::Ed25519).unwrap().pair;
        let rec = a.record("a.test", "s").value;
        assert!(rec.starts_with("v=DKIM1; k=ed25519; p="));
        a.check_record(&rec).unwrap();
        assert_eq!(b.check_record(&rec), Err(RecordMismatch::OtherKey));
        assert_eq!(
            a.check_record("v=DKIM1; k=ed25519; p="),
            Err(RecordMismatch::Revoked)
        );
        assert!(matches!(
            a.check_record("v=DKIM1; p=AAAA"),
            Err(RecordMismatch::Algorithm { .. })
        ));
        assert!(matches!(
            a.check_record("v=DKIM1; k=ed25519; p=!!"),
            Err(RecordMismatch::Syntax(_))
        ));
    }

    #[test]
    fn pem_round_trip_and_garbage() {
        for alg in [Algorithm::Rsa, Algorithm::Ed25519] {
            let g = generate(alg).unwrap();
            assert!(g.pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let again = SigningKeyPair::from_pem(g.pem.as_bytes()).unwrap();
            assert_eq!(again.algorithm, alg);
            assert_eq!(again.public_key, g.pair.public_key);
        }
        assert!(SigningKeyPair::from_pem(b"not a key").is_err());
        let dir = tempfile::tempdir().unwrap();
        let err = SigningKeyPair::load(&dir.path().join("missing.key")).unwrap_err();
        assert!(err.to_string().contains("missing.key"), "{err}");
    }
}
