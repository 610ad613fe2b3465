//! The MTA-STS policy file (RFC 8461 §3.2) and the MX check against it (§4.1).
//!
//! ```text
//! version: STSv1
//! mode: enforce
//! mx: mail.example.com
//! mx: *.example.net
//! max_age: 604800
//! ```
//!
//! Lines end in CRLF or LF; unknown keys are ignored (future extensions); `mx` may repeat.
//! For the other keys the first occurrence counts.

use crate::record::{is_wsp, valid_field_name};

/// Largest policy body accepted (§3.3: senders may limit it; 64 KiB is the common bound).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Largest `max_age` (§3.2: about one year, in seconds).
pub const MAX_MAX_AGE: u64 = 31_557_600;
/// Most `mx` patterns kept, so a policy cannot make every MX check a long scan.
pub const MAX_MX_PATTERNS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Deliver only to listed MX hosts over authenticated TLS.
    Enforce,
    /// Deliver as without a policy, but report what enforcement would have refused.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// Lower-case host names, or `*.` followed by a lower-case domain.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached from its fetch.
    pub max_age: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    #[error("policy is not ASCII text")]
    NotText,
    #[error("malformed policy line {0}")]
    BadLine(usize),
    #[error("policy has no `{0}`")]
    Missing(&'static str),
    #[error("unsupported policy version `{0}`")]
    Version(String),
    #[error("unknown policy mode `{0}`")]
    Mode(String),
    #[error("bad max_age `{0}` (0 to {MAX_MAX_AGE} seconds)")]
    MaxAge(String),
    #[error("bad mx pattern `{0}`")]
    Mx(String),
    #[error("more than {MAX_MX_PATTERNS} mx patterns")]
    TooManyMx,
}

impl Policy {
    /// Parses a policy body (the HTTP response body, already bounded by the fetcher).
    pub fn parse(body: &[u8]) -> Result<Policy, PolicyError> {
        if body.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge);
        }
        let text = std::str::from_utf8(body)
            .ok()
            .filter(|t| t.is_ascii())
            .ok_or(PolicyError::NotText)?;
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for (n, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim_matches(is_wsp).is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or(PolicyError::BadLine(n + 1))?;
            let key = key.trim_matches(is_wsp);
            let value = value.trim_matches(is_wsp);
            if !valid_field_name(key) {
                return Err(PolicyError::BadLine(n + 1));
            }
            match key {
                "version" => {
                    version.get_or_insert(value);
                }
                "mode" => {
                    mode.get_or_insert(value);
                }
                "max_age" => {
                    max_age.get_or_insert(value);
                }
                "mx" => {
                    if mx.len() == MAX_MX_PATTERNS {
                        return Err(PolicyError::TooManyMx);
                    }
                    mx.push(parse_pattern(value)?);
                }
                _ => {}
            }
        }
        match version {
            Some("STSv1") => {}
            Some(v) => return Err(PolicyError::Version(v.to_owned())),
            None => return Err(PolicyError::Missing("version")),
        }
        let mode = match mode {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            Some(m) => return Err(PolicyError::Mode(m.to_owned())),
            None => return Err(PolicyError::Missing("mode")),
        };
        let max_age = max_age.ok_or(PolicyError::Missing("max_age"))?;
        let max_age = match max_age.parse::<u64>() {
            Ok(a) if max_age.bytes().all(|b| b.is_ascii_digit()) && a <= MAX_MAX_AGE => a,
            _ => return Err(PolicyError::MaxAge(max_age.to_owned())),
        };
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::Missing("mx"));
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether MX host `host` is listed (§4.1): an exact name, or `*.domain` standing for
    /// exactly one more leftmost label. Case and a trailing dot do not matter.
    pub fn allows_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .and_then(|h| h.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            None => *p == host,
        })
    }
}

/// An `mx` value: a domain name, optionally `*.` then a domain name; stored lower-case
/// without a trailing dot.
fn parse_pattern(v: &str) -> Result<String, PolicyError> {
    let bad = || PolicyError::Mx(v.to_owned());
    let lower = v.trim_end_matches('.').to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    if ok {
        Ok(lower)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_EXAMPLE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
        mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn parses_rfc_example_crlf_and_lf() {
        let p = Policy::parse(RFC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604800);
        assert_eq!(
            p.mx,
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        let lf = RFC_EXAMPLE.replace("\r\n", "\n");
        assert_eq!(Policy::parse(lf.as_bytes()).unwrap(), p);
        // No final line end, spaces and tabs around values.
        let loose = "version:STSv1\nmode :\ttesting \nmx: MX.Example.COM.\nmax_age: 0";
        let p = Policy::parse(loose.as_bytes()).unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::Testing, 0));
        assert_eq!(p.mx, ["mx.example.com"]);
    }

    #[test]
    fn ignores_unknown_keys_and_allows_none_without_mx() {
        let p = Policy::parse(b"version: STSv1\nmode: none\nfuture_key: x y z\nmax_age: 86400\n")
            .unwrap();
        assert_eq!(p.mode, Mode::None);
        assert!(p.mx.is_empty());
    }

    #[test]
    fn rejects_malformed_policies() {
        let with =
            |line: &str| format!("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n{line}");
        let cases: Vec<(String, PolicyError)> = vec![
            (
                "mode: enforce\nmx: a.test\nmax_age: 1".into(),
                PolicyError::Missing("version"),
            ),
            (
                "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1".into(),
                PolicyError::Version("STSv2".into()),
            ),
            (
                "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1".into(),
                PolicyError::Mode("strict".into()),
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1".into(),
                PolicyError::Missing("mx"),
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test".into(),
                PolicyError::Missing("max_age"),
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601".into(),
                PolicyError::MaxAge("31557601".into()),
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1".into(),
                PolicyError::MaxAge("-1".into()),
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: +5".into(),
                PolicyError::MaxAge("+5".into()),
            ),
            (with("no colon here"), PolicyError::BadLine(5)),
            (with("_key: x"), PolicyError::BadLine(5)),
            (with("mx: a..test"), PolicyError::Mx("a..test".into())),
            (with("mx: *"), PolicyError::Mx("*".into())),
            (with("mx: a.*.test"), PolicyError::Mx("a.*.test".into())),
        ];
        for (body, want) in cases {
            assert_eq!(Policy::parse(body.as_bytes()), Err(want), "{body:?}");
        }
        assert_eq!(
            Policy::parse("version: STSv1\nmode: enforce\nmx: \u{e9}.test\nmax_age: 1".as_bytes()),
            Err(PolicyError::NotText)
        );
        let big = with(&"x: y\n".repeat(MAX_POLICY_BYTES / 5));
        assert_eq!(Policy::parse(big.as_bytes()), Err(PolicyError::TooLarge));
        // The limit is on the body, not the line count: a body just under it parses.
        let under = with(&"x: y\n".repeat((MAX_POLICY_BYTES - 100) / 5));
        assert!(Policy::parse(under.as_bytes()).is_ok());
    }

    #[test]
    fn first_occurrence_of_single_keys_counts() {
        let p = Policy::parse(
            b"version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\nmax_age: 5\nmax_age: 9",
        )
        .unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::Testing, 5));
    }

    #[test]
    fn matches_mx_hosts_as_rfc_says() {
        let p = Policy::parse(RFC_EXAMPLE.as_bytes()).unwrap();
        assert!(p.allows_mx("mail.example.com"));
        assert!(p.allows_mx("MAIL.Example.com."));
        assert!(p.allows_mx("backupmx.example.com"));
        assert!(p.allows_mx("mx1.example.net"));
        // The wildcard stands for exactly one leftmost label.
        assert!(!p.allows_mx("example.net"));
        assert!(!p.allows_mx("a.b.example.net"));
        assert!(!p.allows_mx(".example.net"));
        assert!(!p.allows_mx("xexample.net"));
        // No suffix matching for plain names.
        assert!(!p.allows_mx("evil.mail.example.com"));
        assert!(!p.allows_mx("other.example.com"));
        assert!(!p.allows_mx("mail.example.com.evil"));
    }
}
