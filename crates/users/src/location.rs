//! From the daemons' config to the user database, and from an account to its mailbox: the two
//! answers local-delivery, pop3d, imapd, mta-smtpd and mailctl must agree on.

use std::path::{Path, PathBuf};

use ferrymail_config::{Config, UnixMailbox};

use crate::{Account, UnixAccountsConfig, UserDbConfig};

impl UserDbConfig {
    /// The user-database part of the ferrymail config.
    pub fn from_config(c: &Config) -> UserDbConfig {
        UserDbConfig {
            passwd_file: c.userdb.passwd_file.clone(),
            aliases_file: Some(c.userdb.aliases_file.clone()),
            domains_file: Some(c.userdb.domains_file.clone()),
            local_domains: c.general.local_domains.clone(),
            unix_accounts: c.userdb.unix_accounts.then(|| UnixAccountsConfig {
                passwd_file: c.userdb.unix_passwd_file.clone(),
                shadow_file: c.userdb.unix_shadow_file.clone(),
                min_uid: c.userdb.unix_min_uid,
                ..UnixAccountsConfig::default()
            }),
            recipient_delimiter: c.userdb.recipient_delimiter.chars().next(),
            auth_cache: crate::AuthCacheConfig {
                ttl: c.userdb.auth_cache_ttl,
                max_entries: c.userdb.auth_cache_size,
            },
        }
    }
}

/// Where an account's mail lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxLocation {
    /// A Maildir++ store: the INBOX at this path, folders as `.Name` inside it.
    Maildir(PathBuf),
    /// A classic mbox file (INBOX only).
    Mbox(PathBuf),
}

impl Account {
    /// Virtual users: `<home>/Maildir` when the passwd-file gives a home, else
    /// `<mail_root>/<domain>/<local>/Maildir`. Unix accounts: `~/Maildir`, or
    /// `<mbox_dir>/<name>` when `userdb.unix_mailbox = "mbox"`.
    ///
    /// The login was validated when the passwd-file was parsed (no `/`, no `..`), so the path
    /// stays under `mail_root`.
    pub fn mailbox(&self, c: &Config) -> MailboxLocation {
        match self {
            Account::Virtual(v) => match &v.home {
                Some(home) => MailboxLocation::Maildir(home.join("Maildir")),
                None => {
                    let domain = v.domain().unwrap_or("localhost");
                    MailboxLocation::Maildir(
                        c.paths
                            .mail_root
                            .join(domain)
                            .join(v.local_part())
                            .join("Maildir"),
                    )
                }
            },
            Account::Unix(u) => match c.userdb.unix_mailbox {
                UnixMailbox::Maildir => MailboxLocation::Maildir(u.home.join("Maildir")),
                UnixMailbox::Mbox => MailboxLocation::Mbox(c.delivery.mbox_dir.join(&u.name)),
            },
        }
    }

    /// The account's Sieve home, where its scripts live (`sieve/<name>.sieve`, the active one
    /// linked from `.dovecot.sieve`, Pigeonhole's layout): a virtual user's home when the
    /// passwd-file gives one, else the directory holding its mailbox; a Unix account's home.
    /// local-delivery and managesieved both ask here, so they always agree.
    pub fn sieve_home(&self, c: &Config) -> PathBuf {
        match self {
            Account::Virtual(v) => match (&v.home, self.mailbox(c)) {
                (Some(h), _) => h.clone(),
                (None, MailboxLocation::Maildir(p)) | (None, MailboxLocation::Mbox(p)) => {
                    p.parent().map(Path::to_owned).unwrap_or(p)
                }
            },
            Account::Unix(u) => u.home.clone(),
        }
    }
}
