//! Who may send what to whom: the relay decision, recipient existence, and whether an
//! authenticated user owns the sender address. Decided at MAIL/RCPT time from the user
//! database, so the session itself never touches the database directly (and tests can give it
//! a fake [`Directory`]).

use std::sync::Arc;

use ferrymail_smtp::Reply;
use ferrymail_users::{Destination, ResolveError, UserDb};

use crate::replies;

/// What the user database says about a recipient in a local domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Resolves to at least one destination.
    Exists,
    Unknown,
    Loop,
    Invalid,
}

/// The questions policy asks of the user database.
pub trait Directory: Send + Sync {
    fn is_local_domain(&self, domain: &str) -> bool;
    fn lookup(&self, address: &str) -> Lookup;
    /// Whether the account `login` may use `address` as its envelope sender.
    fn owns(&self, login: &str, address: &str) -> bool;
}

impl Directory for UserDb {
    fn is_local_domain(&self, domain: &str) -> bool {
        UserDb::is_local_domain(self, domain)
    }

    fn lookup(&self, address: &str) -> Lookup {
        match self.resolve(address) {
            Ok(_) => Lookup::Exists,
            Err(ResolveError::UnknownUser(_)) | Err(ResolveError::EmptyExpansion(_)) => {
                Lookup::Unknown
            }
            Err(ResolveError::AliasLoop(_)) => Lookup::Loop,
            Err(ResolveError::InvalidAddress(_)) => Lookup::Invalid,
        }
    }

    fn owns(&self, login: &str, address: &str) -> bool {
        if address.eq_ignore_ascii_case(login) {
            return true;
        }
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        // Only local addresses can belong to a local account; resolving a foreign one would
        // only ever say "relay it".
        if !UserDb::is_local_domain(self, domain) {
            return false;
        }
        match self.resolve(address) {
            Ok(dests) => dests.iter().any(|d| match d {
                Destination::Virtual(v) => v.login.eq_ignore_ascii_case(login),
                Destination::Unix(u) => u.name.eq_ignore_ascii_case(login),
                _ => false,
            }),
            Err(_) => false,
        }
    }
}

/// What the policy knows about the client when it decides.
#[derive(Debug, Clone, Copy)]
pub struct ClientStanding<'a> {
    /// In `general.trusted_networks`.
    pub trusted: bool,
    /// The SMTP AUTH login, if any.
    pub auth_user: Option<&'a str>,
}

pub struct Policy {
    dir: Arc<dyn Directory>,
    enforce_sender_login: bool,
    /// Where `RCPT TO:<postmaster>` (no domain, RFC 5321 §4.1.1.3) goes.
    postmaster: String,
}

impl Policy {
    pub fn new(dir: Arc<dyn Directory>, enforce_sender_login: bool, postmaster: String) -> Policy {
        Policy {
            dir,
            enforce_sender_login,
            postmaster,
        }
    }

    /// MAIL FROM: an authenticated client may only use its own addresses (when enforced).
    /// The null sender is always allowed: bounces and auto-replies need it.
    pub fn check_sender(
        &self,
        client: ClientStanding<'_>,
        sender: Option<&str>,
    ) -> Result<(), Reply> {
        if let (true, Some(login), Some(addr)) =
            (self.enforce_sender_login, client.auth_user, sender)
        {
            if !self.dir.owns(login, addr) {
                return Err(replies::sender_not_owned(addr));
            }
        }
        Ok(())
    }

    /// RCPT TO: local recipients must exist; anything else is relaying, allowed only for
    /// trusted or authenticated clients. Returns the address to store in the envelope.
    pub fn check_recipient(&self, client: ClientStanding<'_>, rcpt: &str) -> Result<String, Reply> {
        if rcpt.eq_ignore_ascii_case("postmaster") {
            return Ok(self.postmaster.clone());
        }
        let Some((_, domain)) = rcpt.rsplit_once('@') else {
            return Err(replies::bad_recipient_syntax("no domain"));
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if self.dir.is_local_domain(domain) {
            return match self.dir.lookup(rcpt) {
                Lookup::Exists => Ok(rcpt.to_owned()),
                Lookup::Unknown => Err(replies::unknown_user(rcpt)),
                Lookup::Loop => Err(replies::alias_loop(rcpt)),
                Lookup::Invalid => Err(replies::bad_recipient_syntax("invalid address")),
            };
        }
        if client.trusted || client.auth_user.is_some() {
            Ok(rcpt.to_owned())
        } else {
            Err(replies::relay_denied(rcpt))
        }
    }

    /// VRFY (when enabled): only local addresses are answered.
    pub fn verify(&self, addr: &str) -> Result<String, Reply> {
        let addr = addr
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned();
        let local = addr
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.dir.is_local_domain(d));
        if local && self.dir.lookup(&addr) == Lookup::Exists {
            Ok(addr)
        } else {
            Err(replies::unknown_user(&addr))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A directory with `joe@a.test` (owning `joe@a.test` and the alias `sales@a.test`) and a
    /// looping alias `loop@a.test`.
    pub struct FakeDir;

    impl Directory for FakeDir {
        fn is_local_domain(&self, domain: &str) -> bool {
            domain.eq_ignore_ascii_case("a.test")
        }
        fn lookup(&self, address: &str) -> Lookup {
            match address.to_ascii_lowercase().as_str() {
                "joe@a.test" | "sales@a.test" | "postmaster@a.test" => Lookup::Exists,
                "loop@a.test" => Lookup::Loop,
                _ => Lookup::Unknown,
            }
        }
        fn owns(&self, login: &str, address: &str) -> bool {
            login == "joe@a.test"
                && matches!(
                    address.to_ascii_lowercase().as_str(),
                    "joe@a.test" | "sales@a.test"
                )
        }
    }

    pub fn policy(enforce: bool) -> Policy {
        Policy::new(Arc::new(FakeDir), enforce, "postmaster@a.test".into())
    }

    const ANON: ClientStanding<'static> = ClientStanding {
        trusted: false,
        auth_user: None,
    };
    const TRUSTED: ClientStanding<'static> = ClientStanding {
        trusted: true,
        auth_user: None,
    };
    const JOE: ClientStanding<'static> = ClientStanding {
        trusted: false,
        auth_user: Some("joe@a.test"),
    };

    #[test]
    fn local_recipients_must_exist() {
        let p = policy(true);
        assert_eq!(p.check_recipient(ANON, "Joe@A.test").unwrap(), "Joe@A.test");
        assert_eq!(
            p.check_recipient(ANON, "nobody@a.test").unwrap_err().code,
            550
        );
        let e = p.check_recipient(ANON, "loop@a.test").unwrap_err();
        assert_eq!(e.to_string().split(' ').nth(1), Some("5.4.6"));
        assert_eq!(
            p.check_recipient(ANON, "postmaster").unwrap(),
            "postmaster@a.test"
        );
    }

    #[test]
    fn relaying_needs_trust_or_auth() {
        let p = policy(true);
        let denied = p.check_recipient(ANON, "x@elsewhere.test").unwrap_err();
        assert_eq!(
            (denied.code, denied.enhanced.map(|e| e.to_string())),
            (554, Some("5.7.1".into()))
        );
        assert!(p.check_recipient(TRUSTED, "x@elsewhere.test").is_ok());
        assert!(p.check_recipient(JOE, "x@elsewhere.test").is_ok());
    }

    #[test]
    fn sender_login_match() {
        let p = policy(true);
        assert!(p.check_sender(JOE, Some("joe@a.test")).is_ok());
        assert!(p.check_sender(JOE, Some("sales@a.test")).is_ok());
        assert!(p.check_sender(JOE, None).is_ok());
        assert_eq!(
            p.check_sender(JOE, Some("boss@a.test")).unwrap_err().code,
            553
        );
        // Unauthenticated clients are not subject to the rule.
        assert!(p.check_sender(ANON, Some("boss@a.test")).is_ok());
        // And it can be switched off.
        assert!(policy(false).check_sender(JOE, Some("boss@a.test")).is_ok());
    }

    #[test]
    fn vrfy_answers_only_local_users() {
        let p = policy(true);
        assert_eq!(p.verify("<joe@a.test>").unwrap(), "joe@a.test");
        assert!(p.verify("nobody@a.test").is_err());
        assert!(p.verify("joe@elsewhere.test").is_err());
    }
}
