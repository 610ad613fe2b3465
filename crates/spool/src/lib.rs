//! ferrymail-spool: the on-disk mail queue.
//!
//! mta-smtpd streams accepted messages into the spool and answers 250 only after
//! [`SpoolWriter::commit`] returns; the unprivileged sendmail command drops files into
//! `maildrop/` ([`Maildrop::submit`]); queue-runner picks those up ([`Spool::pickup`]), scans the
//! queue ([`Spool::scan`]), records per-recipient results ([`Spool::update_envelope`]) and removes
//! finished messages ([`Spool::remove`]); mailctl lists, reads, holds and releases. Producers
//! nudge queue-runner through a datagram socket ([`notify_wake`], [`WakeReceiver`]).
//!
//! # Layout
//!
//! ```text
//! <root>/            0755  (must be searchable by local users, for maildrop/)
//!   tmp/             0700  writes in progress: <qid>.data, <qid>.env, .<qid>.upd.tmp.<pid>.<n>
//!   data/<qid>       0700  message bytes, exactly as received; immutable once written
//!   queue/<qid>      0700  envelope records of active messages; a message exists from the
//!                          moment this file appears (the commit point)
//!   hold/<qid>       0700  envelope records of held messages (same format)
//!   corrupt/         0700  quarantined files: <origin>-<name>.env / .data / .file, and
//!                          <origin>-<name>.reason saying why (never cleaned automatically)
//!   maildrop/        01730 sendmail submissions: .tmp-<id> while written, then <id>; the
//!                          group is sendmail's setgid group, files are 0604 (see [`maildrop`])
//! ```
//!
//! Queue ids ([`QueueId`]) are 16 Crockford-base32 characters that sort by creation time; the
//! envelope record format is described in [`record`], the maildrop file format in
//! [`maildrop`].
//!
//! # Durability
//!
//! A commit: fsync `tmp/<qid>.data`; rename it to `data/<qid>` (never replacing); fsync
//! `data/`; write `tmp/<qid>.env` and fsync it; rename it to `queue/<qid>` (never replacing);
//! fsync `queue/`. A crash before the envelope rename leaves only unreferenced files in
//! `tmp/` and `data/`, which [`Spool::cleanup`] removes; after it, the message is complete
//! and gets delivered. So no half-written envelope is ever visible in `queue/`, and nothing
//! that was acknowledged is lost. Updates write (and flush) a new record in `tmp/` and rename
//! it over the old one. Removal deletes the envelope before the data; only the envelope's
//! removal is flushed. Moves between `queue/` and `hold/`, the renames of updates, removals,
//! quarantines and orphan cleanup take an `flock` on `queue/` so they cannot interleave;
//! directory flushes happen outside it and are shared between concurrent callers
//! (`ferrymail_fsutil::fsync_dir`). New files are flushed with fdatasync.
//!
//! Anything unreadable found by [`Spool::scan`] is moved to `corrupt/`, with its data file
//! where there is one, rather than deleted.
//!
//! # Testing hooks
//!
//! With the `failpoints` feature (and in this crate's own tests), `Spool::set_crash_after`
//! makes commits stop after a chosen `CommitStep`, leaving the files as a killed process
//! would, and `SpoolWriter::crash` abandons a writer without cleanup.

mod address;
mod envelope;
mod envelope_v1;
mod error;
mod fsutil;
mod id;
pub mod maildrop;
pub mod record;
mod spool;
mod wake;

#[cfg(test)]
mod crash_tests;

pub use address::{validate_address, AddressProblem};
pub use envelope::{
    unix_now, BodyType, ClientInfo, DsnParams, Envelope, Notify, Recipient, RecipientStatus, Ret,
    Source,
};
pub use error::{Result, SpoolError};
pub use id::{QueueId, QueueIdError, QUEUE_ID_LEN};
pub use maildrop::{Maildrop, PickupError, PickupLimits};
pub use record::{decode_envelope, encode_envelope, CorruptReason, EncodeError};
#[cfg(any(test, feature = "failpoints"))]
pub use spool::CommitStep;
pub use spool::{CleanupReport, QueueDir, ScanReport, Spool, SpoolWriter};
pub use wake::{notify_maildrop, notify_wake, Wake, WakeReceiver};
