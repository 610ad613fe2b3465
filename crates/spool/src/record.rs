//! The on-disk envelope record (`queue/<qid>`, `hold/<qid>`, and inside maildrop files).
//!
//! ```text
//! offset  size  field
//! 0       6     magic  b"FMQENV"
//! 6       2     format version, big-endian u16 (bincode-2 serde standard config of Envelope:
//!               2 = current, 1 = without `require_tls`, still read)
//! 8       4     payload length N, big-endian u32 (at most MAX_PAYLOAD)
//! 12      N     payload
//! 12+N    4     crc32 (IEEE, crc32fast) of the payload, big-endian
//! ```
//!
//! The record is exactly `16 + N` bytes; anything shorter is truncated, anything longer has
//! trailing garbage. Decoding never panics: every failure is a [`CorruptReason`], which is what
//! the scanner writes beside a quarantined file.

use crate::envelope::Envelope;
use crate::envelope_v1::EnvelopeV1;
use crate::id::QueueId;

/// First bytes of every envelope record.
pub const MAGIC: &[u8; 6] = b"FMQENV";
/// The version written by this build.
pub const CURRENT_VERSION: u16 = 2;
/// Upper bound on a payload; far above any real envelope (thousands of recipients with long
/// replies) yet small enough that a forged length cannot make a reader allocate much.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
const HEADER_LEN: usize = MAGIC.len() + 2 + 4;
const TRAILER_LEN: usize = 4;

/// Why a spool file was judged corrupt (and quarantined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The file ends before the record does.
    #[error("truncated: {have} bytes, record needs {need}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header promised (or the minimum header size).
        need: usize,
    },
    /// The file does not start with the record magic.
    #[error("bad magic")]
    BadMagic,
    /// A format version this build does not know (written by a newer ferrymail?).
    #[error("unknown format version {0}")]
    UnknownVersion(u16),
    /// The declared payload length is over [`MAX_PAYLOAD`].
    #[error("payload length {0} exceeds limit")]
    BadLength(u64),
    /// Bytes after the end of the record.
    #[error("{0} trailing bytes after record")]
    TrailingBytes(usize),
    /// Payload checksum mismatch.
    #[error("crc mismatch: stored {stored:08x}, computed {computed:08x}")]
    BadChecksum {
        /// crc32 in the file.
        stored: u32,
        /// crc32 of the payload as read.
        computed: u32,
    },
    /// The payload checksummed fine but is not a valid envelope of its version.
    #[error("undecodable payload: {0}")]
    Decode(String),
    /// The file name is not a queue id.
    #[error("file name is not a queue id")]
    BadName,
    /// The envelope names a different id than its file.
    #[error("envelope id {inside} does not match file name")]
    IdMismatch {
        /// The id stored in the envelope.
        inside: QueueId,
    },
    /// `data/<qid>` does not exist.
    #[error("message data file missing")]
    MissingData,
    /// `data/<qid>` is not the size the envelope records.
    #[error("message data is {actual} bytes, envelope says {expected}")]
    SizeMismatch {
        /// Envelope's `size`.
        expected: u64,
        /// Data file length.
        actual: u64,
    },
    /// Not a regular file (directory, symlink, FIFO, ...).
    #[error("not a regular file")]
    NotRegularFile,
    /// A maildrop file, or its message, is over the configured limit.
    #[error("too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Size found.
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// A maildrop submission without recipients.
    #[error("no recipients")]
    NoRecipients,
    /// A maildrop submission with more recipients than allowed.
    #[error("{count} recipients, limit {limit}")]
    TooManyRecipients {
        /// Recipients found.
        count: usize,
        /// Configured limit.
        limit: usize,
    },
    /// A sender or recipient address that is not a valid mailbox.
    #[error("invalid address {address:?}: {problem}")]
    InvalidAddress {
        /// The address as found.
        address: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The versions this build can read. A later format adds a variant here and a conversion in
/// [`Versioned::into_current`], so old queue files stay readable across upgrades.
enum Versioned {
    V1(EnvelopeV1),
    V2(Envelope),
}

impl Versioned {
    fn into_current(self) -> Envelope {
        match self {
            Versioned::V1(e) => e.into(),
            Versioned::V2(e) => e,
        }
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD>()
}

/// Why an envelope could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// bincode refused the value.
    #[error("cannot encode envelope: {0}")]
    Bincode(String),
    /// The encoded envelope would be over [`MAX_PAYLOAD`] and so unreadable.
    #[error("encoded envelope is {0} bytes, over the limit")]
    TooLarge(usize),
}

/// Encode an envelope as a current-version record.
pub fn encode_envelope(envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    let payload = bincode::serde::encode_to_vec(envelope, bincode::config::standard())
        .map_err(|e| EncodeError::Bincode(e.to_string()))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::TooLarge(payload.len()));
    }
    let len = u32::try_from(payload.len()).map_err(|_| EncodeError::TooLarge(payload.len()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    Ok(out)
}

fn be_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Decode a complete record. Pure and panic-free on any input, so it is the fuzz target:
///
/// ```text
/// fuzz_target!(|data: &[u8]| { let _ = ferrymail_spool::decode_envelope(data); });
/// ```
pub fn decode_envelope(data: &[u8]) -> Result<Envelope, CorruptReason> {
    let magic_have = data.len().min(MAGIC.len());
    if data.get(..magic_have) != MAGIC.get(..magic_have) {
        return Err(CorruptReason::BadMagic);
    }
    let truncated = |need: usize| CorruptReason::Truncated {
        have: data.len(),
        need,
    };
    let (version, len) = match (
        data.get(MAGIC.len()..MAGIC.len() + 2).and_then(be_u16),
        data.get(MAGIC.len() + 2..HEADER_LEN).and_then(be_u32),
    ) {
        (Some(v), Some(l)) => (v, l),
        _ => return Err(truncated(HEADER_LEN + TRAILER_LEN)),
    };
    if version == 0 || version > CURRENT_VERSION {
        return Err(CorruptReason::UnknownVersion(version));
    }
    let len = usize::try_from(len).map_err(|_| CorruptReason::BadLength(u64::from(len)))?;
    if len > MAX_PAYLOAD {
        return Err(CorruptReason::BadLength(len as u64));
    }
    let total = HEADER_LEN + len + TRAILER_LEN;
    if data.len() < total {
        return Err(truncated(total));
    }
    if data.len() > total {
        return Err(CorruptReason::TrailingBytes(data.len() - total));
    }
    let (payload, crc) = match (
        data.get(HEADER_LEN..HEADER_LEN + len),
        data.get(HEADER_LEN + len..total).and_then(be_u32),
    ) {
        (Some(p), Some(c)) => (p, c),
        _ => return Err(truncated(total)),
    };
    let computed = crc32fast::hash(payload);
    if computed != crc {
        return Err(CorruptReason::BadChecksum {
            stored: crc,
            computed,
        });
    }
    let versioned = match version {
        1 => Versioned::V1(decode_payload(payload)?),
        2 => Versioned::V2(decode_payload(payload)?),
        other => return Err(CorruptReason::UnknownVersion(other)),
    };
    Ok(versioned.into_current())
}

fn decode_payload<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, CorruptReason> {
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(payload, bincode_config())
        .map_err(|e| CorruptReason::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(CorruptReason::Decode(format!(
            "{} unused payload bytes",
            payload.len() - used
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::*;
    use std::net::{IpAddr, Ipv6Addr};

    pub(crate) fn sample() -> Envelope {
        let mut e = Envelope::new(
            Some("alice@example.org".into()),
            vec![
                Recipient::new("bob@example.net"),
                Recipient {
                    address: "ĉarlo@ekzemplo.eo".into(),
                    orcpt: Some("rfc822;carlo@example.eo".into()),
                    notify: Notify {
                        success: true,
                        failure: true,
                        delay: false,
                        never: false,
                    },
                    status: RecipientStatus::Deferred {
                        at: 1_700_000_100,
                        reply: "451 4.7.1 try later".into(),
                    },
                },
            ],
            ClientInfo {
                addr: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                helo: Some("client.example.org".into()),
                ptr: None,
                auth_user: Some("alice".into()),
                tls: Some("TLSv1.3:TLS_AES_256_GCM_SHA384".into()),
                protocol: "ESMTPSA".into(),
            },
            Source::Smtp {
                role: "submission".into(),
            },
        );
        e.id = QueueId::parse("0SQZ1V8W4M2K7ABC").unwrap();
        e.arrival = 1_700_000_000;
        e.dsn = DsnParams {
            ret: Some(Ret::Hdrs),
            envid: Some("env-1".into()),
        };
        e.body = BodyType::EightBitMime;
        e.smtputf8 = true;
        e.size = 1234;
        e.attempts = 2;
        e.next_attempt = 1_700_000_400;
        e.last_error = Some("connection refused".into());
        e
    }

    #[test]
    fn round_trip() {
        let e = sample();
        let bytes = encode_envelope(&e).unwrap();
        assert_eq!(decode_envelope(&bytes), Ok(e));
    }

    /// A queue file written by a version-1 build (before REQUIRETLS) still decodes, as a
    /// message that did not ask for REQUIRETLS. Never edit these bytes.
    #[test]
    fn envelope_v1_golden_bytes_still_decode() {
        let decoded = decode_envelope(&hex_decode(GOLDEN_V1)).unwrap();
        assert_eq!(decoded, sample());
        assert!(!decoded.require_tls);
    }

    /// Pins format version 2: if this fails, the Envelope types changed shape and queue files
    /// would no longer decode. Add a new record version instead of editing this.
    #[test]
    fn envelope_v2_golden_bytes() {
        let mut e = sample();
        e.require_tls = true;
        let bytes = encode_envelope(&e).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN_V2);
        assert_eq!(decode_envelope(&hex_decode(GOLDEN_V2)), Ok(e));
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const GOLDEN_V1: &str = concat!(
        "464d51454e56000100000114103053515a31563857344d324b374142430111616c69636540657861",
        "6d706c652e6f7267020f626f62406578616d706c652e6e657400000000000012c48961726c6f4065",
        "6b7a656d706c6f2e656f01177266633832323b6361726c6f406578616d706c652e656f0101000003",
        "fc64f153651334353120342e372e3120747279206c61746572fc00f1536501010000000000000000",
        "00000000000000010112636c69656e742e6578616d706c652e6f7267000105616c696365011e544c",
        "5376312e333a544c535f4145535f3235365f47434d5f5348413338340745534d54505341000a7375",
        "626d697373696f6e01010105656e762d310101fbd20402fc90f253650112636f6e6e656374696f6e",
        "207265667573656472a18c99",
    );

    const GOLDEN_V2: &str = concat!(
        "464d51454e56000200000115103053515a31563857344d324b374142430111616c69636540657861",
        "6d706c652e6f7267020f626f62406578616d706c652e6e657400000000000012c48961726c6f4065",
        "6b7a656d706c6f2e656f01177266633832323b6361726c6f406578616d706c652e656f0101000003",
        "fc64f153651334353120342e372e3120747279206c61746572fc00f1536501010000000000000000",
        "00000000000000010112636c69656e742e6578616d706c652e6f7267000105616c696365011e544c",
        "5376312e333a544c535f4145535f3235365f47434d5f5348413338340745534d54505341000a7375",
        "626d697373696f6e01010105656e762d310101fbd20402fc90f253650112636f6e6e656374696f6e",
        "2072656675736564012ca45577",
    );

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode_envelope(&sample()).unwrap();
        for cut in 0..bytes.len() {
            let r = decode_envelope(&bytes[..cut]);
            assert!(
                matches!(r, Err(CorruptReason::Truncated { .. })),
                "cut at {cut}: {r:?}"
            );
        }
    }

    #[test]
    fn every_single_byte_corruption_is_rejected() {
        let bytes = encode_envelope(&sample()).unwrap();
        for pos in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= flip;
                assert!(
                    decode_envelope(&b).is_err(),
                    "flip {flip:#x} at {pos} accepted"
                );
            }
        }
    }

    /// A bounded, seeded stand-in for the cargo-fuzz target: random splices of a valid record
    /// must decode to an error or to some envelope, never panic or over-allocate.
    #[test]
    fn random_mutations_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let good = encode_envelope(&sample()).unwrap();
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..3) {
                    0 => {
                        let i = rng.gen_range(0..b.len());
                        b[i] = rng.gen();
                    }
                    1 => {
                        let i = rng.gen_range(0..b.len());
                        b.truncate(i);
                    }
                    _ => {
                        let i = rng.gen_range(0..=b.len());
                        b.insert(i, rng.gen());
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            if decode_envelope(&b).is_ok() && b != good {
                accepted += 1;
            }
        }
        // The crc makes accepting a mutated record vanishingly rare.
        assert!(accepted < 5, "{accepted} mutated records accepted");
        for _ in 0..2_000 {
            let len = rng.gen_range(0..64);
            let junk: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            assert!(decode_envelope(&junk).is_err());
        }
    }

    #[test]
    fn unknown_version_and_lengths() {
        let bytes = encode_envelope(&sample()).unwrap();
        let mut v3 = bytes.clone();
        v3[6..8].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(decode_envelope(&v3), Err(CorruptReason::UnknownVersion(3)));
        let mut v0 = bytes.clone();
        v0[6..8].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(decode_envelope(&v0), Err(CorruptReason::UnknownVersion(0)));

        let mut huge = bytes.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode_envelope(&huge),
            Err(CorruptReason::BadLength(u64::from(u32::MAX)))
        );

        let mut long = bytes.clone();
        long.extend_from_slice(b"xyz");
        assert_eq!(decode_envelope(&long), Err(CorruptReason::TrailingBytes(3)));

        assert_eq!(decode_envelope(b"NOTENV"), Err(CorruptReason::BadMagic));
        assert!(matches!(
            decode_envelope(b"FMQ"),
            Err(CorruptReason::Truncated { .. })
        ));
    }

    #[test]
    fn valid_crc_over_garbage_payload_is_a_decode_error() {
        for payload in [
            &b""[..],
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x00\x01\x02",
        ] {
            let mut rec = Vec::new();
            rec.extend_from_slice(MAGIC);
            rec.extend_from_slice(&1u16.to_be_bytes());
            rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            rec.extend_from_slice(payload);
            rec.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
            assert!(matches!(
                decode_envelope(&rec),
                Err(CorruptReason::Decode(_))
            ));
        }
    }

    #[test]
    fn payload_with_bad_queue_id_is_rejected() {
        // Re-encode the payload with the id replaced by a path: the record is well-formed
        // except that the id does not parse.
        #[derive(serde::Serialize)]
        struct Forged<'a> {
            id: &'a str,
        }
        let payload = bincode::serde::encode_to_vec(
            Forged {
                id: "../../etc/passwd",
            },
            bincode::config::standard(),
        )
        .unwrap();
        let mut rec = Vec::new();
        rec.extend_from_slice(MAGIC);
        rec.extend_from_slice(&1u16.to_be_bytes());
        rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        rec.extend_from_slice(&payload);
        rec.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        assert!(matches!(
            decode_envelope(&rec),
            Err(CorruptReason::Decode(_))
        ));
    }
}
