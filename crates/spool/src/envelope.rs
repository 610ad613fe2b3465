//! The envelope record: everything about a queued message except its bytes.
//!
//! These types are serialised with bincode (serde, standard config) as format version 2 of the
//! `queue/<qid>` record (see [`crate::record`]). Changing, adding, removing or reordering any
//! field or variant changes the wire format: when that is needed, copy the current types into a
//! `v2` module (as [`crate::envelope_v1`] keeps version 1), add a `V3` record version and
//! convert old records on read. The `envelope_v2_golden_bytes` test fails on any accidental
//! change.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::id::QueueId;

/// Seconds since the Unix epoch, as stored in envelopes.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A queued message's envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The queue id; assigned by the spool when the message is committed (any value set before
    /// is replaced).
    pub id: QueueId,
    /// Envelope sender (MAIL FROM); `None` is the null reverse-path `<>` used by bounces.
    pub sender: Option<String>,
    /// Envelope recipients, each with its own delivery state.
    pub recipients: Vec<Recipient>,
    /// When the message was accepted, Unix seconds.
    pub arrival: u64,
    /// The SMTP client (or local submitter) the message came from.
    pub client: ClientInfo,
    /// Which ferrymail component put the message into the queue.
    pub source: Source,
    /// Envelope-level DSN parameters (RFC 3461 RET and ENVID).
    pub dsn: DsnParams,
    /// The BODY= parameter the message was received with.
    pub body: BodyType,
    /// Whether the message needs SMTPUTF8 (RFC 6531) to be relayed.
    pub smtputf8: bool,
    /// Size of `data/<qid>` in bytes; set by the spool at commit.
    pub size: u64,
    /// Delivery attempts made so far (queue-runner's bookkeeping).
    pub attempts: u32,
    /// Earliest time of the next delivery attempt, Unix seconds (0 = now).
    pub next_attempt: u64,
    /// Human-readable reason of the last temporary failure.
    pub last_error: Option<String>,
    /// The sender asked with the REQUIRETLS MAIL parameter (RFC 8689) that every hop use
    /// validated TLS: relaying it anywhere else must fail the recipients, never downgrade.
    pub require_tls: bool,
}

impl Envelope {
    /// A new envelope arriving now; the id is provisional until the spool commits it.
    pub fn new(
        sender: Option<String>,
        recipients: Vec<Recipient>,
        client: ClientInfo,
        source: Source,
    ) -> Envelope {
        Envelope {
            id: QueueId::generate(),
            sender,
            recipients,
            arrival: unix_now(),
            client,
            source,
            dsn: DsnParams::default(),
            body: BodyType::default(),
            smtputf8: false,
            size: 0,
            attempts: 0,
            next_attempt: 0,
            last_error: None,
            require_tls: false,
        }
    }

    /// Recipients still waiting for delivery (pending or deferred).
    pub fn undelivered(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| !r.status.is_final())
    }

    /// True when every recipient has reached a final state, so the message can be removed
    /// (after any DSN has been queued).
    pub fn is_complete(&self) -> bool {
        self.recipients.iter().all(|r| r.status.is_final())
    }
}

/// One envelope recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The recipient address as given in RCPT TO (without angle brackets).
    pub address: String,
    /// RFC 3461 ORCPT, kept verbatim (`addr-type;xtext`).
    pub orcpt: Option<String>,
    /// RFC 3461 NOTIFY.
    pub notify: Notify,
    /// Delivery state.
    pub status: RecipientStatus,
}

impl Recipient {
    /// A pending recipient with no DSN parameters.
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            orcpt: None,
            notify: Notify::default(),
            status: RecipientStatus::Pending,
        }
    }
}

/// RFC 3461 NOTIFY flags. All false means NOTIFY was not given, which is kept distinct from an
/// explicit list because a DSN-capable next hop must receive exactly what the client sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// NOTIFY=SUCCESS
    pub success: bool,
    /// NOTIFY=FAILURE
    pub failure: bool,
    /// NOTIFY=DELAY
    pub delay: bool,
    /// NOTIFY=NEVER
    pub never: bool,
}

impl Notify {
    /// Whether NOTIFY was absent.
    pub fn is_unspecified(&self) -> bool {
        !(self.success || self.failure || self.delay || self.never)
    }

    /// Whether a failure DSN should be sent (explicit FAILURE, or the default when absent).
    pub fn wants_failure(&self) -> bool {
        self.failure || self.is_unspecified()
    }

    /// Whether a delay DSN may be sent (explicit DELAY, or the default when absent).
    pub fn wants_delay(&self) -> bool {
        self.delay || self.is_unspecified()
    }

    /// Whether a success DSN was requested.
    pub fn wants_success(&self) -> bool {
        self.success
    }
}

/// Where a recipient stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecipientStatus {
    /// Not yet attempted.
    #[default]
    Pending,
    /// Delivered (locally or to the next hop).
    Delivered {
        /// Unix seconds.
        at: u64,
        /// Where it went: a relay host or a local delivery agent.
        relay: String,
        /// The final reply, e.g. `250 2.0.0 Ok`.
        reply: String,
    },
    /// Permanently failed; a bounce may be due.
    Bounced {
        /// Unix seconds.
        at: u64,
        /// The failure reply.
        reply: String,
    },
    /// Temporarily failed; will be retried.
    Deferred {
        /// Unix seconds of the last attempt.
        at: u64,
        /// The temporary failure reply.
        reply: String,
    },
}

impl RecipientStatus {
    /// Delivered or bounced: nothing more will be attempted for this recipient.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RecipientStatus::Delivered { .. } | RecipientStatus::Bounced { .. }
        )
    }
}

/// The client that handed us the message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Peer IP address; `None` for local submissions.
    pub addr: Option<IpAddr>,
    /// HELO/EHLO argument.
    pub helo: Option<String>,
    /// Verified reverse DNS name.
    pub ptr: Option<String>,
    /// SMTP AUTH identity, if authenticated.
    pub auth_user: Option<String>,
    /// TLS summary (protocol and cipher), if the session was encrypted.
    pub tls: Option<String>,
    /// The Received: header `with` keyword, e.g. `ESMTPSA`, `ESMTPS`, `SMTP`, `local`.
    pub protocol: String,
}

/// Which component queued the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// mta-smtpd; `role` is the listener's role name from the configuration (e.g. `mx`,
    /// `submission`), kept as a string so the spool format does not depend on config's enum.
    Smtp {
        /// Listener role.
        role: String,
    },
    /// The sendmail command via maildrop/; `uid` is the file owner as seen by pickup.
    Sendmail {
        /// Submitting Unix user.
        uid: u32,
    },
    /// A DSN generated by queue-runner.
    Bounce,
    /// Another local component (e.g. mailctl).
    Local,
}

/// RFC 3461 RET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    /// RET=FULL
    Full,
    /// RET=HDRS
    Hdrs,
}

/// Envelope-level DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DsnParams {
    /// RET, if given.
    pub ret: Option<Ret>,
    /// ENVID (xtext-decoded), if given.
    pub envid: Option<String>,
}

/// BODY= parameter (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BodyType {
    /// 7BIT (or no BODY parameter).
    #[default]
    SevenBit,
    /// 8BITMIME
    EightBitMime,
    /// BINARYMIME (needs CHUNKING to relay).
    BinaryMime,
}
