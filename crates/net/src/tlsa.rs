//! DANE TLSA records (RFC 6698, RFC 7218 names) as SMTP uses them (RFC 7672): the record in
//! presentation form, whether it is usable for SMTP, and whether a certificate matches it.
//!
//! queue-runner matches a next hop's certificate chain against the TLSA records it found for
//! the MX host; `mailctl check` computes the record our own certificate needs. Both go through
//! [`association`], so what we publish is exactly what we would accept.

use std::fmt;

use ring::digest;
use rustls_pki_types::CertificateDer;

/// Certificate usage (RFC 6698 §2.1.1).
pub const PKIX_TA: u8 = 0;
pub const PKIX_EE: u8 = 1;
pub const DANE_TA: u8 = 2;
pub const DANE_EE: u8 = 3;
/// Selector: the whole certificate or its SubjectPublicKeyInfo.
pub const CERT: u8 = 0;
pub const SPKI: u8 = 1;
/// Matching type: the data itself, or its SHA-256 / SHA-512 digest.
pub const FULL: u8 = 0;
pub const SHA2_256: u8 = 1;
pub const SHA2_512: u8 = 2;

/// One TLSA record. The numbers stay raw: a record with values this code does not know is
/// kept (it makes a TLSA RRset non-empty) but never matches (RFC 7672 §2.2: "unusable").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsaError {
    #[error("a TLSA record has four fields: usage selector matching-type data")]
    Fields,
    #[error("TLSA field `{0}` is not a number from 0 to 255")]
    Number(String),
    #[error("TLSA association data is not hexadecimal")]
    Hex,
    #[error("the certificate cannot be parsed")]
    Certificate,
}

impl Tlsa {
    /// Parses `3 1 1 ab12…` (the data may be split by white space, as in zone files).
    pub fn parse(s: &str) -> Result<Tlsa, TlsaError> {
        let mut fields = s.split_whitespace();
        let mut number = || -> Result<u8, TlsaError> {
            let f = fields.next().ok_or(TlsaError::Fields)?;
            f.parse().map_err(|_| TlsaError::Number(f.to_owned()))
        };
        let (usage, selector, matching) = (number()?, number()?, number()?);
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(TlsaError::Fields);
        }
        Ok(Tlsa {
            usage,
            selector,
            matching,
            data: from_hex(&hex).ok_or(TlsaError::Hex)?,
        })
    }

    /// RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3) are used by SMTP, with known selectors
    /// and matching types whose digest has the right length.
    pub fn usable_for_smtp(&self) -> bool {
        let data_ok = match self.matching {
            FULL => !self.data.is_empty(),
            SHA2_256 => self.data.len() == 32,
            SHA2_512 => self.data.len() == 64,
            _ => false,
        };
        matches!(self.usage, DANE_TA | DANE_EE) && matches!(self.selector, CERT | SPKI) && data_ok
    }

    /// Whether `cert` matches this record's selector, matching type and data (the usage is the
    /// caller's: which certificate of the chain is compared, and what is checked beyond).
    pub fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        association(cert, self.selector, self.matching).is_ok_and(|a| a == self.data)
    }
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        for b in &self.data {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The association data of `cert` for a selector and matching type, or an error for values
/// this code does not know or a certificate it cannot parse.
pub fn association(
    cert: &CertificateDer<'_>,
    selector: u8,
    matching: u8,
) -> Result<Vec<u8>, TlsaError> {
    let selected: Vec<u8> = match selector {
        CERT => cert.as_ref().to_vec(),
        SPKI => rustls::server::ParsedCertificate::try_from(cert)
            .map_err(|_| TlsaError::Certificate)?
            .subject_public_key_info()
            .as_ref()
            .to_vec(),
        n => return Err(TlsaError::Number(n.to_string())),
    };
    Ok(match matching {
        FULL => selected,
        SHA2_256 => digest::digest(&digest::SHA256, &selected).as_ref().to_vec(),
        SHA2_512 => digest::digest(&digest::SHA512, &selected).as_ref().to_vec(),
        n => return Err(TlsaError::Number(n.to_string())),
    })
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["mx.example.test".into()]).unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn parses_and_prints_presentation_form() {
        let t = Tlsa::parse("3 1 1 0A0b 0c0d").unwrap();
        assert_eq!((t.usage, t.selector, t.matching), (3, 1, 1));
        assert_eq!(t.data, vec![10, 11, 12, 13]);
        assert_eq!(t.to_string(), "3 1 1 0a0b0c0d");
        assert_eq!(Tlsa::parse("3 1 1"), Err(TlsaError::Fields));
        assert_eq!(Tlsa::parse("3 1 x ab"), Err(TlsaError::Number("x".into())));
        assert_eq!(Tlsa::parse("3 1 1 abc"), Err(TlsaError::Hex));
        assert_eq!(Tlsa::parse("3 1 1 zz"), Err(TlsaError::Hex));
        assert_eq!(
            Tlsa::parse("300 1 1 ab"),
            Err(TlsaError::Number("300".into()))
        );
    }

    #[test]
    fn a_certificate_matches_its_own_associations_only() {
        let (c, other) = (cert(), cert());
        for (sel, mt) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let data = association(&c, sel, mt).unwrap();
            let t = Tlsa {
                usage: DANE_EE,
                selector: sel,
                matching: mt,
                data,
            };
            assert!(t.usable_for_smtp(), "{t}");
            assert!(t.matches(&c), "{t}");
            assert!(!t.matches(&other), "{t}");
        }
        // SHA-256 of the whole DER, by definition.
        let full = association(&c, CERT, SHA2_256).unwrap();
        assert_eq!(full, digest::digest(&digest::SHA256, c.as_ref()).as_ref());
        // The SPKI selection is a strict part of the certificate.
        let spki = association(&c, SPKI, FULL).unwrap();
        assert!(spki.len() < c.as_ref().len());
        assert!(c.as_ref().windows(spki.len()).any(|w| w == spki));
    }

    #[test]
    fn unknown_or_pkix_records_are_unusable_for_smtp() {
        let t = |u, s, m, len| Tlsa {
            usage: u,
            selector: s,
            matching: m,
            data: vec![0; len],
        };
        assert!(t(3, 1, 1, 32).usable_for_smtp());
        assert!(t(2, 0, 2, 64).usable_for_smtp());
        assert!(!t(1, 1, 1, 32).usable_for_smtp(), "PKIX-EE is not for SMTP");
        assert!(!t(0, 1, 1, 32).usable_for_smtp(), "PKIX-TA is not for SMTP");
        assert!(!t(3, 2, 1, 32).usable_for_smtp());
        assert!(!t(3, 1, 3, 32).usable_for_smtp());
        assert!(
            !t(3, 1, 1, 31).usable_for_smtp(),
            "digest of the wrong length"
        );
        assert!(!t(3, 1, 0, 0).usable_for_smtp());
        assert!(!t(3, 1, 7, 32).matches(&cert()));
    }
}
