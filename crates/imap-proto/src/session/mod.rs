//! The IMAP session state machine for one connection (RFC 3501 §3): not authenticated →
//! authenticated → selected → logout, over a [`Storage`].
//!
//! The shell feeds it complete commands ([`crate::framing`] collected them) and writes out
//! what it produced. What needs the shell's I/O — password checks, the TLS handshake, SASL
//! exchanges, waiting during IDLE — comes back as an [`Action`], and the shell reports the
//! outcome with the matching method ([`Session::logged_in`], [`Session::tls_started`], ...).
//! Every command gets exactly one tagged reply; untagged updates about the selected mailbox
//! come before it, when RFC 3501 §7 allows them (see [`selected`]) — never in reply to
//! LOGOUT, where the client is no longer listening for them.

mod append;
mod compress;
mod condstore;
mod context;
mod dispatch;
mod esearch;
mod mailboxes;
#[cfg(any(test, feature = "fuzzing"))]
pub mod memory;
mod messages;
mod metadata;
mod output;
mod quota;
mod rev2;
mod selected;
mod sort;
mod specialuse;
mod storage;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

pub use append::append_all;
pub use output::Output;
pub use storage::{
    apply_metadata, partial, ConditionalStored, Failure, FlagSet, MailboxStatus, MessageState,
    QuotaUsage, SearchContext, Snapshot, Storage, StoreResult,
};

#[cfg(any(test, feature = "fuzzing"))]
pub use memory::{MemoryMailbox, MemorySession, MemoryStore};

use crate::parse::{parse_command_with, ErrorKind, ParseError};
use crate::response::{Code, Data, Kind, Response, Status};
use selected::Selected;

/// What the shell must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the output and read the next command.
    Continue,
    /// Write the output and close the connection.
    Close,
    /// Write the output (the tagged OK), then refuse anything the client pipelined behind
    /// STARTTLS, run the handshake and call [`Session::tls_started`].
    StartTls,
    /// Check these credentials (throttled), then [`Session::logged_in`] or
    /// [`Session::login_failed`].
    Login {
        tag: String,
        user: String,
        password: Vec<u8>,
    },
    /// Run this SASL exchange, then as for `Login`.
    Authenticate {
        tag: String,
        mechanism: String,
        initial: Option<String>,
    },
    /// `+ idling` is in the output: wait for DONE, calling [`Session::idle_updates`]
    /// whenever the selected mailbox may have changed, then [`Session::idle_done`].
    Idle { tag: String },
    /// The tagged OK to COMPRESS is in the output: write it as it is, then compress
    /// everything written and decompress everything read (raw DEFLATE, RFC 4978), the
    /// bytes already received behind the command included.
    Compress,
}

/// What the connection allows; fixed by the shell at start and by STARTTLS.
#[derive(Debug, Clone)]
pub struct Policy {
    pub tls_active: bool,
    /// STARTTLS is offered (a certificate is configured).
    pub starttls: bool,
    /// Plaintext credentials may be sent without TLS (loopback, when configured).
    pub plaintext_auth: bool,
    /// SASL mechanisms offered once credentials may be sent (`PLAIN`, `LOGIN`).
    pub mechanisms: Vec<String>,
    pub max_auth_failures: u32,
    pub metadata: MetadataLimits,
    /// The largest message an APPEND may store, a CATENATE's result included (`[TOOBIG]`
    /// beyond it).
    pub max_message: u64,
    /// RFC 5267: how many searches with RETURN (UPDATE) a session keeps live at once.
    pub max_search_updates: usize,
}

/// How much METADATA a user may store (RFC 5464 `MAXSIZE`, `TOOMANY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataLimits {
    /// Longest value, in octets.
    pub max_value: usize,
    /// Most entries per mailbox (and for the server).
    pub max_entries: usize,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        MetadataLimits {
            max_value: 64 * 1024,
            max_entries: 100,
        }
    }
}

/// The extensions every state announces.
const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    rev2::IMAP4REV2,
    "SASL-IR",
    "LITERAL+",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "UNSELECT",
    "CHILDREN",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "STATUS=SIZE",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
    "METADATA",
    "PREVIEW",
    "ESEARCH",
    "SEARCHRES",
    "WITHIN",
    "SORT",
    "SORT=DISPLAY",
    "ESORT",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "THREAD=REFS",
    "CONDSTORE",
    "QRESYNC",
    "BINARY",
    "MULTIAPPEND",
    "CATENATE",
    "SAVEDATE",
];

pub struct Session<S: Storage> {
    policy: Policy,
    store: Option<S>,
    selected: Option<Selected<S::Mailbox>>,
    auth_failures: u32,
    logged_out: bool,
    /// COMPRESS ran: a second one is refused.
    compressed: bool,
    /// RFC 7162: CONDSTORE and QRESYNC as enabled.
    modseq_mode: condstore::Enabled,
    /// The user the store belongs to, as the shell names it ([`Session::set_login`]).
    login: Option<String>,
    /// RFC 9051: IMAP4rev2 as enabled.
    mode: rev2::Mode,
}

impl<S: Storage> Session<S> {
    pub fn new(policy: Policy) -> Session<S> {
        Session {
            policy,
            store: None,
            selected: None,
            auth_failures: 0,
            logged_out: false,
            compressed: false,
            modseq_mode: Default::default(),
            login: None,
            mode: Default::default(),
        }
    }

    /// A session that starts authenticated (the login was checked elsewhere).
    pub fn authenticated(policy: Policy, store: S) -> Session<S> {
        let mut s = Session::new(policy);
        s.store = Some(store);
        s
    }

    /// Names the logged-in user, whose own mailboxes an `imap://user@host/` URL may name
    /// (CATENATE); without a name, no such URL names anything.
    pub fn set_login(&mut self, user: &str) {
        self.login = Some(user.to_owned());
    }

    pub fn is_authenticated(&self) -> bool {
        self.store.is_some()
    }

    pub fn is_logged_out(&self) -> bool {
        self.logged_out
    }

    /// The store and the selected mailbox, for the shell's own work (streamed APPEND,
    /// change notification during IDLE).
    pub fn store(&mut self) -> Option<&mut S> {
        self.store.as_mut()
    }

    pub fn selected_mailbox(&self) -> Option<&S::Mailbox> {
        self.selected.as_ref().map(|s| &s.mb)
    }

    fn login_allowed(&self) -> bool {
        self.policy.tls_active || self.policy.plaintext_auth
    }

    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = CAPABILITIES.iter().map(|c| c.to_string()).collect();
        if self.store.is_none() {
            if !self.policy.tls_active && self.policy.starttls {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.extend(self.policy.mechanisms.iter().map(|m| format!("AUTH={m}")));
            } else {
                caps.push("LOGINDISABLED".into());
            }
        } else if !self.compressed {
            caps.push(format!("COMPRESS={}", compress::DEFLATE));
        }
        caps
    }

    pub fn greeting(&self) -> Response {
        Response::Status(Status::untagged(
            Kind::Ok,
            Some(Code::Capability(self.capabilities())),
            "ferrymail IMAP4rev1 ready",
        ))
    }

    /// Runs one complete command (its final CRLF removed, literals inline).
    pub fn handle(&mut self, input: &[u8], out: &mut Output) -> Action {
        out.set_names(self.mode.names());
        let (tag, cmd) = match parse_command_with(input, self.mode.names()) {
            Ok(c) => c,
            Err(e) => return self.syntax_error(e, out),
        };
        self.execute(&tag, cmd, out)
    }

    fn syntax_error(&mut self, e: ParseError, out: &mut Output) -> Action {
        let (kind, code, text) = match e.kind {
            // RFC 3501 §6.4.4: an unsupported charset is NO with the ones we know.
            ErrorKind::BadCharset => (
                Kind::No,
                Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                e.message,
            ),
            ErrorKind::InvalidMailboxName => (
                Kind::No,
                Some(Code::Cannot),
                format!("Invalid mailbox name: {}", e.message),
            ),
            ErrorKind::Syntax => (
                Kind::Bad,
                None,
                format!("Error in IMAP command: {}", e.message),
            ),
        };
        out.push(Response::Status(Status {
            tag: e.tag,
            kind,
            code,
            text,
        }));
        Action::Continue
    }

    /// A command that could not even be collected (line or literal over the limits): the
    /// tagged (or untagged) refusal.
    pub fn refuse(
        &mut self,
        tag: Option<String>,
        code: Option<Code>,
        text: &str,
        out: &mut Output,
    ) {
        out.push(Response::Status(Status {
            tag,
            kind: if code == Some(Code::TooBig) {
                Kind::No
            } else {
                Kind::Bad
            },
            code,
            text: text.to_owned(),
        }));
    }

    /// STARTTLS succeeded: credentials may now be sent.
    pub fn tls_started(&mut self) {
        self.policy.tls_active = true;
    }

    /// The shell verified the credentials of `Action::Login`/`Authenticate` and opened the
    /// user's store.
    pub fn logged_in(&mut self, tag: &str, store: S, out: &mut Output) {
        self.store = Some(store);
        let caps = self.capabilities();
        out.push(Response::Status(Status::tagged(
            tag,
            Kind::Ok,
            Some(Code::Capability(caps)),
            "Logged in",
        )));
    }

    /// The credentials were refused (`code` says why); past the limit the session ends.
    pub fn login_failed(&mut self, tag: &str, code: Code, text: &str, out: &mut Output) -> Action {
        self.auth_failures += 1;
        out.push(Response::no(tag, Some(code), text));
        if self.auth_failures >= self.policy.max_auth_failures {
            out.push(Response::bye("Too many authentication failures"));
            return Action::Close;
        }
        Action::Continue
    }

    /// The shell ends the session by itself (timeout, shutdown): the untagged BYE.
    pub fn bye(&mut self, text: &str, out: &mut Output) {
        self.logged_out = true;
        out.push(Response::bye(text));
    }

    /// During IDLE: report whatever changed in the selected mailbox.
    pub fn idle_updates(&mut self, out: &mut Output) {
        self.updates(true, &HashSet::new(), out);
    }

    /// The client ended IDLE with DONE (`done`) or with anything else.
    pub fn idle_done(&mut self, tag: &str, done: bool, out: &mut Output) {
        self.updates(true, &HashSet::new(), out);
        out.push(if done {
            Response::ok(tag, "Idle completed")
        } else {
            Response::bad(tag, "Expected DONE")
        });
    }

    /// The untagged updates of the selected mailbox owed to the client. `allow_expunge` is
    /// false after FETCH, STORE and SEARCH by sequence number (RFC 3501 §7.4.1).
    fn updates(&mut self, allow_expunge: bool, silent: &HashSet<u32>, out: &mut Output) {
        let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_mut()) else {
            return;
        };
        let pending = allow_expunge && sel.expunges_pending();
        if store.version(&sel.mb) == sel.version() && !pending {
            return;
        }
        let (claimed, snap) = recent_and_snapshot(store, &sel.mb, sel.read_only);
        // Live searches lose expunged messages before the EXPUNGE renumbers them.
        context::drop_expunged(sel, &snap, out);
        let u = sel.update(&snap, &claimed, allow_expunge, silent);
        out.extend(u.responses);
        self.context_updates(&snap, out);
    }
}

/// The messages that are \Recent for a session that looks at the mailbox now, and the
/// snapshot they are in: read-write, those it just claimed; read-only, the unclaimed ones,
/// shown without claiming them (they stay for the next read-write session).
fn recent_and_snapshot<S: Storage>(
    store: &mut S,
    mb: &S::Mailbox,
    read_only: bool,
) -> (Vec<u32>, Snapshot) {
    // Claimed before the snapshot is taken, so the snapshot holds every claimed message.
    let claimed = if read_only {
        Vec::new()
    } else {
        store.claim_recent(mb).unwrap_or_default()
    };
    let snap = store.snapshot(mb);
    if read_only {
        let unclaimed = snap
            .messages
            .iter()
            .filter(|m| m.unclaimed)
            .map(|m| m.uid)
            .collect();
        return (unclaimed, snap);
    }
    (claimed, snap)
}

/// A failed store operation as the tagged NO.
fn failed(tag: &str, f: &Failure) -> Response {
    Response::no(tag, Some(f.code()), f.to_string())
}

fn status_data(name: &str, st: MailboxStatus, atts: &[crate::types::StatusAtt]) -> Data {
    use crate::types::StatusAtt as A;
    Data::Status {
        mailbox: name.to_owned(),
        items: atts
            .iter()
            .map(|a| {
                let n = match a {
                    A::Messages => u64::from(st.messages),
                    A::Recent => u64::from(st.recent),
                    A::UidNext => u64::from(st.uidnext),
                    A::UidValidity => u64::from(st.uidvalidity),
                    A::Unseen => u64::from(st.unseen),
                    A::Size => st.size,
                    A::HighestModSeq => st.highest_modseq,
                    A::Deleted => u64::from(st.deleted),
                    A::DeletedStorage => st.deleted_size.div_ceil(1024),
                };
                (*a, n)
            })
            .collect(),
    }
}
