//! `[[smtpd.milters]]`: mail filters speaking the Sendmail milter protocol (rspamd, OpenDKIM,
//! spamass-milter, clamav-milter), asked in order at every SMTP stage, as Postfix's
//! `smtpd_milters`. Timeouts and the default action are Postfix's defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Milter {
    /// Names the milter in logs.
    pub name: String,
    /// `inet:host:port` or `unix:/path/to/socket` (Postfix's syntax).
    pub address: String,
    /// The listener roles whose sessions it filters.
    #[serde(default = "all_smtp_roles")]
    pub roles: Vec<Role>,
    /// Connecting and option negotiation (Postfix's `milter_connect_timeout`).
    #[serde(default = "connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Each reply to CONNECT, HELO, MAIL, RCPT, DATA (`milter_command_timeout`).
    #[serde(default = "command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Each reply to the message content: headers, body, end of message
    /// (`milter_content_timeout`).
    #[serde(default = "content_timeout", with = "humantime_serde")]
    pub content_timeout: Duration,
    /// What an unreachable, slow or misbehaving milter means (`milter_default_action`).
    #[serde(default)]
    pub default_action: MilterDefault,
    /// The largest reply packet accepted; a bigger one is a protocol error. Replacement
    /// bodies come in many packets, each at most this size.
    #[serde(default = "max_reply_size")]
    pub max_reply_size: usize,
}

/// How a failed milter is treated.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MilterDefault {
    /// 451 4.7.1 for the command at hand and every later one of the connection.
    #[default]
    Tempfail,
    /// Carry on without this milter for the rest of the connection.
    Accept,
    /// 550 5.7.1 for the command at hand and every later one of the connection.
    Reject,
    /// Like `accept`, but the connection's messages go to the spool's `hold/`.
    Quarantine,
    /// 421 and the connection is closed (Postfix 3.11's default).
    Shutdown,
}

/// Where a milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilterAddress {
    Inet { host: String, port: u16 },
    Unix(PathBuf),
}

impl Milter {
    pub fn parsed_address(&self) -> Result<MilterAddress, String> {
        parse_address(&self.address)
    }
}

pub fn parse_address(s: &str) -> Result<MilterAddress, String> {
    if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
        if !path.starts_with('/') {
            return Err(format!("`{s}`: a unix socket needs an absolute path"));
        }
        return Ok(MilterAddress::Unix(PathBuf::from(path)));
    }
    let Some(rest) = s.strip_prefix("inet:") else {
        return Err(format!("`{s}` is neither inet:host:port nor unix:/path"));
    };
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}`: missing :port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("`{s}`: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{s}`: missing host"));
    }
    Ok(MilterAddress::Inet {
        host: host.to_owned(),
        port,
    })
}

fn all_smtp_roles() -> Vec<Role> {
    vec![Role::Mx, Role::Submission, Role::Submissions]
}

fn connect_timeout() -> Duration {
    Duration::from_secs(30)
}

fn command_timeout() -> Duration {
    Duration::from_secs(30)
}

fn content_timeout() -> Duration {
    Duration::from_secs(300)
}

fn max_reply_size() -> usize {
    1024 * 1024
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), milters: &[Milter]) {
    for (i, m) in milters.iter().enumerate() {
        let key = |k: &str| format!("smtpd.milters[{i}].{k}");
        if m.name.is_empty() {
            bad(&key("name"), "must not be empty".into());
        }
        if milters.iter().take(i).any(|o| o.name == m.name) {
            bad(&key("name"), format!("`{}` is used twice", m.name));
        }
        if let Err(e) = m.parsed_address() {
            bad(&key("address"), e);
        }
        if let Some(r) = m
            .roles
            .iter()
            .find(|r| !matches!(r, Role::Mx | Role::Submission | Role::Submissions))
        {
            bad(&key("roles"), format!("`{r}` is not an SMTP role"));
        }
        for (k, t) in [
            ("connect_timeout", m.connect_timeout),
            ("command_timeout", m.command_timeout),
            ("content_timeout", m.content_timeout),
        ] {
            if t.is_zero() {
                bad(&key(k), "must be positive".into());
            }
        }
        if m.max_reply_size < 65_536 {
            bad(
                &key("max_reply_size"),
                "must be at least 65536 (a body chunk)".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn parse(text: &str) -> Config {
        Config::parse(text, std::path::Path::new("/t.toml")).unwrap()
    }

    #[test]
    fn defaults_are_postfix_defaults_and_problems_name_the_key() {
        let c = parse("[[smtpd.milters]]\nname = \"rspamd\"\naddress = \"inet:127.0.0.1:11332\"\n");
        let m = &c.smtpd.milters[0];
        assert_eq!(m.roles, all_smtp_roles());
        assert_eq!(m.connect_timeout, Duration::from_secs(30));
        assert_eq!(m.command_timeout, Duration::from_secs(30));
        assert_eq!(m.content_timeout, Duration::from_secs(300));
        assert_eq!(m.default_action, MilterDefault::Tempfail);
        assert_eq!(m.max_reply_size, 1 << 20);
        assert!(c.validate().is_empty());
        let err = Config::parse(
            "[[smtpd.milters]]\nname = \"a\"\naddress = \"inet:x\"\nroles = [\"imap\"]\n\
             command_timeout = \"0s\"\ndefault_action = \"accept\"\nmax_reply_size = 10\n\
             [[smtpd.milters]]\nname = \"a\"\naddress = \"unix:/s\"\n",
            std::path::Path::new("/t.toml"),
        );
        let Err(crate::ConfigError::Invalid { problems, .. }) = err else {
            panic!("{err:?}")
        };
        let keys: Vec<String> = problems.into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "smtpd.milters[0].address",
                "smtpd.milters[0].roles",
                "smtpd.milters[0].command_timeout",
                "smtpd.milters[0].max_reply_size",
                "smtpd.milters[1].name",
            ]
        );
        assert!(Config::parse(
            "[[smtpd.milters]]\nname = \"a\"\naddress = \"unix:/s\"\ntimeout = \"1s\"\n",
            std::path::Path::new("/t.toml")
        )
        .is_err());
    }

    #[test]
    fn addresses_in_postfix_syntax() {
        assert_eq!(
            parse_address("inet:127.0.0.1:11332"),
            Ok(MilterAddress::Inet {
                host: "127.0.0.1".into(),
                port: 11332
            })
        );
        assert_eq!(
            parse_address("inet:[::1]:8891"),
            Ok(MilterAddress::Inet {
                host: "::1".into(),
                port: 8891
            })
        );
        assert_eq!(
            parse_address("unix:/run/opendkim/opendkim.sock"),
            Ok(MilterAddress::Unix("/run/opendkim/opendkim.sock".into()))
        );
        for bad in [
            "inet:host",
            "inet::25",
            "inet:h:0",
            "unix:rel",
            "tcp:1.2.3.4:5",
            "8891@localhost",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
