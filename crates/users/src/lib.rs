//! ferrymail-users: the user database every ferrymail daemon consults.
//!
//! Role in the flow: mta-smtpd asks [`UserDb::resolve`] at `RCPT TO` whether
//! an address is local and accepts or rejects it; queue-runner and
//! local-delivery resolve again at delivery time to learn where the message
//! goes (mailbox, file, pipe or relay); pop3d and imapd call
//! [`UserDb::verify`] to log users in; mailctl edits the files through
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
//! cannot be checked (unknown scheme, `$7$` scrypt, a yescrypt cost above
//! [`password::MAX_YESCRYPT_COST`], ...) is kept for delivery
//! with login disabled, so a migration mistake refuses logins rather than
//! bouncing mail.

pub mod aliases;
mod db;
mod document;
pub mod domains;
mod error;
mod files;
pub mod fuzzing;
pub mod passwd_file;
pub mod password;
pub mod quota;
mod resolve;
mod snapshot;
pub mod unix_accounts;
mod yescrypt_params;

pub use aliases::{AliasEntry, AliasTarget, AliasesFile};
pub use db::{Account, UserDb, UserDbConfig, VirtualUser};
pub use domains::{normalize_domain, DomainsFile};
pub use error::{AuthError, EditError, LoadIssue, PasswordError, ResolveError, UserDbError};
pub use passwd_file::{login_key, ExtraField, PasswdEntry, PasswdFile, UnusablePassword};
pub use password::{hash_password, Scheme, StoredPassword};
pub use quota::Quota;
pub use resolve::{Destination, Resolution, ResolvedDestination, MAX_ALIAS_DEPTH};
pub use unix_accounts::{UnixAccount, UnixAccountsConfig};

mod location;
pub use location::MailboxLocation;
