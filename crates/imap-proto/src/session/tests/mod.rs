//! Session tests over the in-memory store, scripted like imaptest: each client sends command
//! lines and the replies are read back with the response parser and checked as values.

mod append;
mod basic;
mod compress;
mod condstore;
mod context;
mod esearch;
mod expunge;
mod mailboxes;
mod messages;
mod metadata;
mod recent;
mod rev2;
mod savedate;
mod sort;

use super::{Action, MemorySession, MemoryStore, MetadataLimits, Output, Policy, Session};
use crate::parse_response::parse_all;
use crate::response::{Code, Data, FetchItem, Kind, Response, Status};
use crate::types::Flag;

pub(super) fn policy(tls_active: bool, plaintext_auth: bool) -> Policy {
    Policy {
        tls_active,
        starttls: true,
        plaintext_auth,
        mechanisms: vec!["PLAIN".into()],
        metadata: MetadataLimits::default(),
        max_search_updates: 3,
        max_auth_failures: 2,
        max_message: 64 * 1024,
    }
}

/// A test message with a subject naming `n`.
pub(super) fn message(n: u32) -> Vec<u8> {
    format!("From: a@example.test\r\nSubject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

/// A store whose INBOX holds `n` test messages, and a client that selected it.
pub(super) fn inbox_with(n: u32) -> (MemoryStore, Client) {
    let store = MemoryStore::new();
    for i in 1..=n {
        store.deliver("INBOX", &message(i)).unwrap();
    }
    let c = Client::selected(&store, "INBOX");
    (store, c)
}

/// One connection.
pub(super) struct Client {
    pub session: Session<MemorySession>,
    pub store: MemoryStore,
    /// The last command's action.
    pub action: Action,
}

impl Client {
    /// A connection that has not logged in.
    pub fn new(store: &MemoryStore, policy: Policy) -> Client {
        Client {
            session: Session::new(policy),
            store: store.clone(),
            action: Action::Continue,
        }
    }

    /// A logged-in connection.
    pub fn logged_in(store: &MemoryStore) -> Client {
        Client {
            session: Session::authenticated(policy(true, false), store.session()),
            store: store.clone(),
            action: Action::Continue,
        }
    }

    /// A logged-in connection with `mailbox` selected.
    pub fn selected(store: &MemoryStore, mailbox: &str) -> Client {
        let mut c = Client::logged_in(store);
        let r = c.run(&format!("s SELECT {mailbox}"));
        assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
        c
    }

    /// Sends one command line (literals inline); a login is accepted.
    pub fn run(&mut self, line: &str) -> Vec<Response> {
        self.run_bytes(line.as_bytes())
    }

    pub fn run_bytes(&mut self, line: &[u8]) -> Vec<Response> {
        let mut out = Output::new();
        self.action = self.session.handle(line, &mut out);
        if let Action::Login { tag, .. } = &self.action {
            let tag = tag.clone();
            self.session.logged_in(&tag, self.store.session(), &mut out);
        }
        responses(&mut out)
    }
}

/// The raw bytes a command line produces, for transcripts.
pub(super) fn raw(c: &mut Client, line: &str) -> String {
    let mut out = Output::new();
    c.session.handle(line.as_bytes(), &mut out);
    String::from_utf8_lossy(&out.take()).into_owned()
}

/// What the session wrote, as values.
pub(super) fn responses(out: &mut Output) -> Vec<Response> {
    match parse_all(&out.take()) {
        Ok(r) => r,
        Err(e) => panic!("unparsable output: {e}"),
    }
}

/// The last response, which must be a tagged status.
pub(super) fn last(r: &[Response]) -> &Status {
    match r.last() {
        Some(Response::Status(s)) if s.tag.is_some() => s,
        other => panic!("no tagged reply: {other:?}"),
    }
}

pub(super) fn code(r: &[Response]) -> Option<Code> {
    last(r).code.clone()
}

/// The untagged data of a reply.
pub(super) fn data(r: &[Response]) -> Vec<Data> {
    r.iter()
        .filter_map(|x| match x {
            Response::Data(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// The sequence numbers expunged in a reply, in order.
pub(super) fn expunges(r: &[Response]) -> Vec<u32> {
    data(r)
        .into_iter()
        .filter_map(|d| match d {
            Data::Expunge(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// The FETCH responses of a reply: (sequence number, items).
pub(super) fn fetches(r: &[Response]) -> Vec<(u32, Vec<FetchItem>)> {
    data(r)
        .into_iter()
        .filter_map(|d| match d {
            Data::Fetch { seq, items } => Some((seq, items)),
            _ => None,
        })
        .collect()
}

/// The FLAGS item of a FETCH.
pub(super) fn flags_of(items: &[FetchItem]) -> Option<Vec<Flag>> {
    items.iter().find_map(|i| match i {
        FetchItem::Flags(f) => Some(f.clone()),
        _ => None,
    })
}

pub(super) fn untagged_ok_codes(r: &[Response]) -> Vec<Code> {
    r.iter()
        .filter_map(|x| match x {
            Response::Status(Status {
                tag: None,
                kind: Kind::Ok,
                code: Some(c),
                ..
            }) => Some(c.clone()),
            _ => None,
        })
        .collect()
}
