//! Mailbox quota limits carried in passwd-file extra fields.
//!
//! Understood forms (with or without the `userdb_` prefix, and `quota_rule2`,
//! `quota_rule3`, ... like Dovecot):
//! `quota_rule=*:storage=100M`, `quota_rule=*:messages=1000`,
//! `quota_rule=*:storage=1G:messages=5000`, `quota_rule=*:bytes=1048576`,
//! and the plain `quota_bytes=N` / `quota_messages=N`.
//! As in Dovecot, a `storage=` value without a unit is in kilobytes, `bytes=`
//! is in bytes; units are `B`, `k`, `M`, `G`, `T` (powers of 1024).
//! Rules for a specific mailbox (`Trash:storage=+100M`) are left alone.

use std::fmt;

/// Per-user limits. `None` = unlimited (Dovecot's `0` means the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Quota {
    pub storage_bytes: Option<u64>,
    pub messages: Option<u64>,
}

impl Quota {
    /// No limits at all.
    pub fn is_unlimited(&self) -> bool {
        self.storage_bytes.is_none() && self.messages.is_none()
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.storage_bytes {
            Some(b) => write!(f, "storage={}", format_size(b))?,
            None => f.write_str("storage=unlimited")?,
        }
        match self.messages {
            Some(m) => write!(f, " messages={m}"),
            None => f.write_str(" messages=unlimited"),
        }
    }
}

/// What one extra field contributed to the quota.
pub(crate) enum QuotaField {
    /// Not a quota field at all.
    NotQuota,
    /// A quota field for the whole account (`*` or a plain quota_ key).
    Applies {
        storage_bytes: Option<Option<u64>>,
        messages: Option<Option<u64>>,
    },
    /// A quota field this crate does not model (mailbox-specific rule); kept
    /// verbatim.
    Other,
    /// A whole-account quota field that could not be understood.
    Bad(String),
}

fn strip_userdb(key: &str) -> &str {
    key.strip_prefix("userdb_").unwrap_or(key)
}

fn is_rule_key(key: &str) -> bool {
    strip_userdb(key)
        .strip_prefix("quota_rule")
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// True for the extra fields that [`set_quota`](crate::PasswdFile::set_quota)
/// owns and rewrites.
pub(crate) fn is_account_quota_field(key: &str, value: Option<&str>) -> bool {
    match strip_userdb(key) {
        "quota_bytes" | "quota_messages" => true,
        _ => is_rule_key(key) && value.is_some_and(|v| v.starts_with("*:")),
    }
}

pub(crate) fn classify(key: &str, value: Option<&str>) -> QuotaField {
    let bare = strip_userdb(key);
    match bare {
        "quota_bytes" | "quota_messages" => {
            let parsed = value.and_then(|v| v.trim().parse::<u64>().ok());
            return match parsed {
                Some(n) => {
                    let limit = (n != 0).then_some(n);
                    if bare == "quota_bytes" {
                        QuotaField::Applies {
                            storage_bytes: Some(limit),
                            messages: None,
                        }
                    } else {
                        QuotaField::Applies {
                            storage_bytes: None,
                            messages: Some(limit),
                        }
                    }
                }
                None => QuotaField::Bad(format!("{key} needs a whole number")),
            };
        }
        _ if is_rule_key(key) => {}
        _ => return QuotaField::NotQuota,
    }
    let Some(value) = value else {
        return QuotaField::Bad(format!("{key} has no value"));
    };
    let Some((mailbox, limits)) = value.split_once(':') else {
        return QuotaField::Bad(format!("{key}: expected MAILBOX:limit"));
    };
    if mailbox != "*" {
        return QuotaField::Other;
    }
    let mut storage_bytes = None;
    let mut messages = None;
    for limit in limits.split(':') {
        let (name, v) = limit.split_once('=').unwrap_or((limit, ""));
        match name {
            "storage" | "bytes" => {
                let default_unit = if name == "storage" { 1024 } else { 1 };
                match parse_size(v, default_unit) {
                    Ok(n) => storage_bytes = Some((n != 0).then_some(n)),
                    Err(why) => return QuotaField::Bad(format!("{key}: {name}: {why}")),
                }
            }
            "messages" => match v.trim().parse::<u64>() {
                Ok(n) => messages = Some((n != 0).then_some(n)),
                Err(_) => {
                    return QuotaField::Bad(format!(
                        "{key}: messages: relative or non-numeric limits are not supported"
                    ))
                }
            },
            // Dovecot options that do not change the account's limits.
            "ignore" | "noenforcing" | "" => {}
            _ if name.starts_with("backend") => {}
            _ => return QuotaField::Bad(format!("{key}: unknown limit {name:?}")),
        }
    }
    QuotaField::Applies {
        storage_bytes,
        messages,
    }
}

/// Parses `100M`, `1G`, `512k`, `1024B`, `2048` (in `default_unit`).
fn parse_size(v: &str, default_unit: u64) -> Result<u64, &'static str> {
    let v = v.trim();
    let digits_end = v
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    if digits_end == 0 {
        return Err("relative, percentage or non-numeric limits are not supported");
    }
    let n: u64 = v
        .get(..digits_end)
        .and_then(|d| d.parse().ok())
        .ok_or("number too large")?;
    let unit = v.get(digits_end..).unwrap_or_default().trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => default_unit,
        "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => return Err("unknown unit (use B, k, M, G or T)"),
    };
    n.checked_mul(mult).ok_or("number too large")
}

/// Shortest exact rendering: `100M` rather than `104857600B`.
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("k", 10)] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// The extra field that stores `quota`, in Dovecot syntax; `None` when
/// unlimited (no field at all).
pub(crate) fn render_rule(quota: &Quota) -> Option<String> {
    let mut limits = Vec::new();
    if let Some(b) = quota.storage_bytes {
        limits.push(format!("storage={}", format_size(b)));
    }
    if let Some(m) = quota.messages {
        limits.push(format!("messages={m}"));
    }
    if limits.is_empty() {
        None
    } else {
        Some(format!("*:{}", limits.join(":")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(key: &str, v: &str) -> (Option<Option<u64>>, Option<Option<u64>>) {
        match classify(key, Some(v)) {
            QuotaField::Applies {
                storage_bytes,
                messages,
            } => (storage_bytes, messages),
            _ => panic!("{key}={v} not applied"),
        }
    }

    #[test]
    fn units() {
        assert_eq!(
            applied("userdb_quota_rule", "*:storage=100M").0,
            Some(Some(100 << 20))
        );
        assert_eq!(
            applied("quota_rule", "*:storage=2048").0,
            Some(Some(2048 * 1024))
        );
        assert_eq!(applied("quota_rule2", "*:bytes=2048").0, Some(Some(2048)));
        assert_eq!(
            applied("quota_rule", "*:storage=1GB").0,
            Some(Some(1 << 30))
        );
        assert_eq!(applied("quota_rule", "*:storage=0").0, Some(None));
        assert_eq!(applied("quota_rule", "*:messages=1000").1, Some(Some(1000)));
        assert_eq!(
            applied("userdb_quota_rule", "*:storage=1G:messages=5"),
            (Some(Some(1 << 30)), Some(Some(5)))
        );
        assert_eq!(applied("quota_bytes", "12345").0, Some(Some(12345)));
        assert_eq!(applied("quota_messages", "7").1, Some(Some(7)));
    }

    #[test]
    fn other_and_bad() {
        assert!(matches!(
            classify("quota_rule", Some("Trash:storage=+100M")),
            QuotaField::Other
        ));
        assert!(matches!(
            classify("quota_rule", Some("*:storage=+100M")),
            QuotaField::Bad(_)
        ));
        assert!(matches!(
            classify("quota_rule", Some("*:storage=10%")),
            QuotaField::Bad(_)
        ));
        assert!(matches!(
            classify("quota_bytes", Some("lots")),
            QuotaField::Bad(_)
        ));
        assert!(matches!(
            classify("userdb_mail", Some("maildir:~/Maildir")),
            QuotaField::NotQuota
        ));
        assert!(matches!(
            classify("quota_rulex", Some("*:storage=1")),
            QuotaField::NotQuota
        ));
    }

    #[test]
    fn render_round_trips() {
        let q = Quota {
            storage_bytes: Some(100 << 20),
            messages: Some(1000),
        };
        let rule = render_rule(&q).unwrap();
        assert_eq!(rule, "*:storage=100M:messages=1000");
        assert_eq!(
            applied("userdb_quota_rule", &rule),
            (Some(q.storage_bytes), Some(q.messages))
        );
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(render_rule(&Quota::default()), None);
    }
}
