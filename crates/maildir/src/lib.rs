//! Maildir / Maildir++ storage for ferrymail.
//!
//! Where it sits in the flow: `local-delivery` writes every accepted message into a user's
//! store through [`Maildir::deliver`]; `pop3d` and `imapd` list, read, flag and expunge
//! through [`Maildir`] and open mailboxes through [`Store`]; `mailctl` reports disk use with
//! [`Store::usage`].
//!
//! [`mbox`] is the classic single-file format (`/var/mail/<user>` for Unix accounts with
//! `userdb.unix_mailbox = "mbox"`): its mboxrd encoding and its dot-lock + fcntl locking,
//! shared by local-delivery (appends) and pop3d (reads and rewrites).
//!
//! The on-disk format is the one Dovecot and Courier use (Dovecot-style unique names with
//! `S=`/`W=` sizes, `:2,` flag suffixes, `.Folder` subdirectories with a `maildirfolder`
//! marker), so doveadm, mutt and friends can share the store. Two properties are kept
//! throughout: a delivery is either complete and durable or invisible, and no mailbox name
//! a client sends can lead outside the user's store.

mod error;
mod filename;
mod flags;
mod fsops;
mod mailbox_name;
mod maildir;
pub mod mbox;
mod store;

pub use error::{Error, Result};
pub use filename::delivery_order_key;
pub use flags::{Flags, UnknownFlag};
pub use mailbox_name::{MailboxName, NameError};
pub use maildir::{DeliverOptions, Maildir, MessageEntry, PendingDelivery, Subdir, Usage};
pub use store::Store;
