//! Outbound DKIM signing (RFC 6376): one key per sending domain, relaxed/relaxed
//! canonicalisation, the configured header set with From and Subject oversigned.

use std::collections::HashMap;
use std::path::PathBuf;

use ferrymail_config::Config;
use mail_auth::common::crypto::DkimKey;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};

use crate::headers::from_domain;
use crate::keys::{DkimRecord, KeyError, SigningKeyPair};

/// A message that could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no DKIM key for domain {0}")]
    NoKey(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

struct DomainSigner {
    selector: String,
    signer: DkimSigner<DkimKey, Done>,
    record: DkimRecord,
}

/// The signing keys of every configured domain, loaded once (at start and on reload).
pub struct Signer {
    domains: HashMap<String, DomainSigner>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d: Vec<_> = self.domains.keys().collect();
        d.sort();
        f.debug_struct("Signer").field("domains", &d).finish()
    }
}

impl Signer {
    /// The signer for `config`: `None` when `dkim.enabled` is false; an error naming the file
    /// when a configured key is missing or unreadable (a daemon should refuse to start then,
    /// rather than silently send unsigned mail).
    pub fn from_config(config: &Config) -> Result<Option<Signer>, KeyError> {
        if !config.dkim.enabled {
            return Ok(None);
        }
        Signer::new(
            &config.dkim_keys(),
            &config.dkim.headers,
            &config.dkim.oversign,
        )
        .map(Some)
    }

    /// A signer from explicit (domain, selector, key file) triples.
    pub fn new(
        keys: &[(String, String, PathBuf)],
        headers: &[String],
        oversign: &[String],
    ) -> Result<Signer, KeyError> {
        let mut domains = HashMap::new();
        for (domain, selector, path) in keys {
            let pair = SigningKeyPair::load(path)?;
            domains.insert(
                norm(domain),
                Self::domain_signer(pair, domain, selector, headers, oversign),
            );
        }
        Ok(Signer { domains })
    }

    /// A signer for one domain with an already loaded key (tests, benchmarks).
    pub fn with_key(
        domain: &str,
        selector: &str,
        pair: SigningKeyPair,
        headers: &[String],
        oversign: &[String],
    ) -> Signer {
        let mut domains = HashMap::new();
        domains.insert(
            norm(domain),
            Self::domain_signer(pair, domain, selector, headers, oversign),
        );
        Signer { domains }
    }

    fn domain_signer(
        pair: SigningKeyPair,
        domain: &str,
        selector: &str,
        headers: &[String],
        oversign: &[String],
    ) -> DomainSigner {
        let record = pair.record(domain, selector);
        // mail-auth signs every occurrence of a listed name and lists a name once more for
        // each repetition in `h` it did not find: naming a header twice oversigns it.
        let mut h: Vec<String> = headers.to_vec();
        for o in oversign {
            if !h.iter().any(|x| x.eq_ignore_ascii_case(o)) {
                h.push(o.clone());
            }
            h.push(o.clone());
        }
        let signer = DkimSigner::from_key(pair.key)
            .domain(norm(domain))
            .selector(selector)
            .headers(h)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        DomainSigner {
            selector: selector.to_owned(),
            signer,
            record,
        }
    }

    /// Signs `message` (the whole RFC 5322 message, CRLF or LF line ends) for `domain` and
    /// returns the `DKIM-Signature: ...\r\n` header field to put in front of it.
    pub fn sign(&self, message: &[u8], domain: &str) -> Result<String, SignError> {
        let d = self
            .domains
            .get(&norm(domain))
            .ok_or_else(|| SignError::NoKey(norm(domain)))?;
        let sig = d
            .signer
            .sign(message)
            .map_err(|e| SignError::Sign(e.to_string()))?;
        Ok(sig.to_header())
    }

    /// The domain to sign `message` with: its `From:` domain when we hold a key for it (DMARC
    /// needs the signing domain aligned with From), else `None` — the caller sends unsigned.
    pub fn domain_for(&self, message: &[u8]) -> Option<String> {
        let from = from_domain(message)?;
        self.domains.contains_key(&from).then_some(from)
    }

    /// Signs with the `From:` domain's key when there is one: `Ok(None)` = no key, send as is.
    pub fn sign_from(&self, message: &[u8]) -> Result<Option<String>, SignError> {
        match self.domain_for(message) {
            Some(d) => self.sign(message, &d).map(Some),
            None => Ok(None),
        }
    }

    /// Domains with keys, sorted.
    pub fn domains(&self) -> Vec<String> {
        let mut d: Vec<String> = self.domains.keys().cloned().collect();
        d.sort();
        d
    }

    /// The selector and DNS record published for `domain`.
    pub fn record(&self, domain: &str) -> Option<(&str, &DkimRecord)> {
        self.domains
            .get(&norm(domain))
            .map(|d| (d.selector.as_str(), &d.record))
    }
}

fn norm(d: &str) -> String {
    d.trim_end_matches('.').to_ascii_lowercase()
}
