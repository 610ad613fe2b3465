//! ferrymail-users: the user database every ferrymail daemon consults.
//!
//! Role in the flow: mta-smtpd asks [`UserDb::resolve`] at `RCPT TO` whether
//! an address is local and accepts or rejects it; queue-runner and
//! local-delivery resolve again at delivery time to learn where the message
//! goes (mailbox, file, pipe or relay); mta-smtpd, pop3d and imapd call
//! [`UserDb::verify`] to log users in (successes are remembered for a while,
//! [`AuthCacheConfig`]); mailctl edits the files through
//! [`PasswdFile`], [`AliasesFile`] and [`DomainsFile`], whose atomic saves the
//! daemons pick up within a second without a restart.
//!
//! Sources:
//! - a Dovecot-format passwd-file of virtual users ([`passwd_file`]), with
//!   passwords in Dovecot's `{SCHEME}hash` notation ([`password`]);
//! - an `/etc/aliases`-format file with `:include:`, pipes, files and
//!   catch-alls ([`aliases`]);
//! - local domains from the configuration and a domains file ([`domains`]);
//! - optionally classic Unix accounts from passwd/shadow ([`unix_accounts`]).
//!
//! Problems in the files never stop loading: each becomes a [`LoadIssue`]
//! and only the affected line is skipped. A passwd-file user whose hash
//! cannot be checked (unknown scheme, `$7$` scrypt, MD5-crypt, a yescrypt
//! cost above [`password::MAX_YESCRYPT_COST`], ...) is kept for delivery
//! with login disabled, so a migration mistake refuses logins rather than
//! bouncing mail.
//!
//! Everything that involves users (the passwd-file, password schemes, Unix
//! accounts, [`UserDb`]) is the `userdb` feature, on by default. Without it
//! only the aliases and domains files remain, with none of the password
//! hashing crates: that is what `sendmail` (setgid, for `newaliases`) links.

pub mod aliases;
#[cfg(feature = "userdb")]
mod auth_cache;
#[cfg(feature = "userdb")]
mod db;
mod document;
pub mod domains;
mod error;
mod files;
#[cfg(all(feature = "userdb", any(test, feature = "fuzzing")))]
pub mod fuzzing;
#[cfg(feature = "userdb")]
pub mod passwd_file;
#[cfg(feature = "userdb")]
pub mod password;
#[cfg(feature = "userdb")]
pub mod quota;
#[cfg(feature = "userdb")]
mod resolve;
#[cfg(feature = "userdb")]
mod snapshot;
#[cfg(feature = "userdb")]
pub mod unix_accounts;
#[cfg(feature = "userdb")]
mod yescrypt_params;

pub use aliases::{AliasEntry, AliasTarget, AliasesFile};
#[cfg(feature = "userdb")]
pub use auth_cache::AuthCacheConfig;
#[cfg(feature = "userdb")]
pub use db::{Account, UserDb, UserDbConfig, VirtualUser};
pub use domains::{normalize_domain, DomainsFile};
pub use error::{AuthError, EditError, LoadIssue, PasswordError, ResolveError, UserDbError};
#[cfg(feature = "userdb")]
pub use passwd_file::{login_key, ExtraField, PasswdEntry, PasswdFile, UnusablePassword};
#[cfg(feature = "userdb")]
pub use password::{hash_password, Scheme, StoredPassword};
#[cfg(feature = "userdb")]
pub use quota::Quota;
#[cfg(feature = "userdb")]
pub use resolve::{Destination, Resolution, ResolvedDestination, MAX_ALIAS_DEPTH};
#[cfg(feature = "userdb")]
pub use unix_accounts::{UnixAccount, UnixAccountsConfig};

#[cfg(feature = "userdb")]
mod location;
#[cfg(feature = "userdb")]
pub use location::MailboxLocation;
