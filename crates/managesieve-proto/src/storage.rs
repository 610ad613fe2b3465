//! The script operations a session asks for, and their replies. The session never touches
//! storage itself: it returns a [`Request`], the daemon runs [`Request::execute`] where
//! blocking is allowed (against the user's [`ScriptStore`], through the [`Storage`] trait),
//! and sends the reply it returns.

use ferrymail_sieve::store::{Entry, Quota, ScriptStore, StoreError};

use crate::response::{self, Code};

/// A user's script storage, as the session needs it.
pub trait Storage {
    fn list(&self) -> Result<Vec<Entry>, StoreError>;
    fn get(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    fn have_space(&self, name: &str, size: u64) -> Result<(), StoreError>;
    fn put(&self, name: &str, script: &[u8]) -> Result<(), StoreError>;
    /// `""` deactivates.
    fn set_active(&self, name: &str) -> Result<(), StoreError>;
    fn delete(&self, name: &str) -> Result<(), StoreError>;
    fn rename(&self, old: &str, new: &str) -> Result<(), StoreError>;
}

impl Storage for ScriptStore {
    fn list(&self) -> Result<Vec<Entry>, StoreError> {
        ScriptStore::list(self)
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        ScriptStore::get(self, name)
    }
    fn have_space(&self, name: &str, size: u64) -> Result<(), StoreError> {
        ScriptStore::have_space(self, name, size)
    }
    fn put(&self, name: &str, script: &[u8]) -> Result<(), StoreError> {
        ScriptStore::put(self, name, script)
    }
    fn set_active(&self, name: &str) -> Result<(), StoreError> {
        ScriptStore::set_active(self, name)
    }
    fn delete(&self, name: &str) -> Result<(), StoreError> {
        ScriptStore::delete(self, name)
    }
    fn rename(&self, old: &str, new: &str) -> Result<(), StoreError> {
        ScriptStore::rename(self, old, new)
    }
}

/// One storage operation of an authenticated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List,
    Get(String),
    /// The script has already been checked to parse.
    Put {
        name: String,
        script: Vec<u8>,
    },
    SetActive(String),
    Delete(String),
    Rename(String, String),
    HaveSpace(String, u64),
}

/// What running a request came to: the reply, and the storage failure to log, if any.
#[derive(Debug)]
pub struct Executed {
    pub reply: Vec<u8>,
    pub failure: Option<StoreError>,
}

impl Request {
    pub fn execute(self, store: &dyn Storage) -> Executed {
        let mut reply = Vec::new();
        let result = match self {
            Request::List => store.list().map(|entries| {
                for e in entries {
                    response::string(&mut reply, e.name.as_bytes());
                    if e.active {
                        reply.extend_from_slice(b" ACTIVE");
                    }
                    reply.extend_from_slice(b"\r\n");
                }
            }),
            Request::Get(name) => store.get(&name).map(|script| {
                response::literal(&mut reply, &script);
                reply.extend_from_slice(b"\r\n");
            }),
            Request::Put { name, script } => store.put(&name, &script),
            Request::SetActive(name) => store.set_active(&name),
            Request::Delete(name) => store.delete(&name),
            Request::Rename(old, new) => store.rename(&old, &new),
            Request::HaveSpace(name, size) => store.have_space(&name, size),
        };
        match result {
            Ok(()) => {
                response::ok(&mut reply, "");
                Executed {
                    reply,
                    failure: None,
                }
            }
            Err(e) => {
                reply.clear();
                let (code, text) = refusal(&e);
                response::no(&mut reply, code, &text);
                let failure = matches!(e, StoreError::Io(_)).then_some(e);
                Executed { reply, failure }
            }
        }
    }
}

/// The NO for a storage error. An I/O error's details stay in the server's log.
fn refusal(e: &StoreError) -> (Option<Code>, String) {
    let code = match e {
        StoreError::NonExistent => Some(Code::NonExistent),
        StoreError::Active => Some(Code::Active),
        StoreError::AlreadyExists => Some(Code::AlreadyExists),
        StoreError::Quota(Quota::MaxScripts) => Some(Code::QuotaMaxScripts),
        StoreError::Quota(Quota::MaxSize) => Some(Code::QuotaMaxSize),
        StoreError::Quota(Quota::Total) => Some(Code::Quota),
        StoreError::Io(_) => return (Some(Code::TryLater), "Script storage is unavailable".into()),
        StoreError::BadName(_) | StoreError::Unmanaged => None,
    };
    (code, capitalised(&e.to_string()))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
