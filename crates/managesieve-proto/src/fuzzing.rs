//! The cargo-fuzz target's body (`fuzz/fuzz_targets/session.rs`) and the driver the session
//! tests share: arbitrary client bytes through the framer and a session, logins decided by a
//! fixed password, storage requests run against a store. Checked: no panic, every reply ends
//! in a line end, no storage request before a login, nothing answered after the session
//! closed.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ferrymail_sieve::store::{check_name, Entry, Quota, StoreError};

use crate::framing::Framer;
use crate::session::{Action, LoginResult, Session, SessionConfig};
use crate::storage::Storage;

/// The password the driver accepts for any user.
pub const PASSWORD: &[u8] = b"pw";

pub fn config(tls_available: bool) -> SessionConfig {
    SessionConfig {
        implementation: "ferrymail".into(),
        starttls_available: tls_available,
        plaintext_auth_ok: false,
        max_auth_failures: 3,
        max_redirects: ferrymail_sieve::Limits::default().max_redirects,
        login_key: |s| s.to_lowercase(),
        master_login: None,
    }
}

/// Feeds `input` in chunks of `chunk` octets; returns everything the server sent. STARTTLS
/// "succeeds" at once, and what follows it in `input` stands for what the client sends over
/// TLS (so, unlike the daemon, the framer keeps it).
pub fn drive(input: &[u8], chunk: usize, store: &dyn Storage) -> Vec<u8> {
    let mut session = Session::new(config(true), false);
    let mut framer = Framer::new(1024, 4096);
    let mut out = session.greeting();
    let mut frames = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        framer.push(piece, &mut frames);
        for frame in frames.drain(..) {
            let mut step = session.frame(frame);
            loop {
                assert!(step.reply.is_empty() || step.reply.ends_with(b"\r\n"));
                out.extend_from_slice(&step.reply);
                match step.action {
                    Action::None => break,
                    Action::Close => return out,
                    Action::StartTls => {
                        out.extend_from_slice(&session.tls_started());
                        break;
                    }
                    Action::Login(creds) => {
                        let result = match creds.password == PASSWORD {
                            true => LoginResult::Ok(creds.authcid.to_lowercase()),
                            false => LoginResult::BadCredentials,
                        };
                        step = session.login_finished(result);
                    }
                    Action::Storage(req) => {
                        assert!(session.is_authenticated(), "storage before login");
                        out.extend_from_slice(&req.execute(store).reply);
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The fuzz target: the first byte picks the chunk size.
pub fn session(data: &[u8]) {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let store = MemoryStore::default();
    drive(input, usize::from(chunk % 64) + 1, &store);
}

/// Scripts in memory, with the store's name rules and small quotas (3 scripts, 256 octets).
#[derive(Debug, Default)]
pub struct MemoryStore {
    scripts: RefCell<BTreeMap<String, Vec<u8>>>,
    active: RefCell<Option<String>>,
}

impl MemoryStore {
    fn exists(&self, name: &str) -> Result<(), StoreError> {
        check_name(name, 64)?;
        match self.scripts.borrow().contains_key(name) {
            true => Ok(()),
            false => Err(StoreError::NonExistent),
        }
    }
}

impl Storage for MemoryStore {
    fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let active = self.active.borrow();
        Ok(self
            .scripts
            .borrow()
            .iter()
            .map(|(n, s)| Entry {
                name: n.clone(),
                size: s.len() as u64,
                active: active.as_deref() == Some(n),
            })
            .collect())
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.exists(name)?;
        Ok(self.scripts.borrow()[name].clone())
    }
    fn have_space(&self, name: &str, size: u64) -> Result<(), StoreError> {
        check_name(name, 64)?;
        let scripts = self.scripts.borrow();
        if size > 256 {
            return Err(StoreError::Quota(Quota::MaxSize));
        }
        if !scripts.contains_key(name) && scripts.len() >= 3 {
            return Err(StoreError::Quota(Quota::MaxScripts));
        }
        Ok(())
    }
    fn put(&self, name: &str, script: &[u8]) -> Result<(), StoreError> {
        self.have_space(name, script.len() as u64)?;
        self.scripts
            .borrow_mut()
            .insert(name.to_owned(), script.to_vec());
        Ok(())
    }
    fn set_active(&self, name: &str) -> Result<(), StoreError> {
        if name.is_empty() {
            *self.active.borrow_mut() = None;
            return Ok(());
        }
        self.exists(name)?;
        *self.active.borrow_mut() = Some(name.to_owned());
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.exists(name)?;
        if self.active.borrow().as_deref() == Some(name) {
            return Err(StoreError::Active);
        }
        self.scripts.borrow_mut().remove(name);
        Ok(())
    }
    fn rename(&self, old: &str, new: &str) -> Result<(), StoreError> {
        self.exists(old)?;
        check_name(new, 64)?;
        let mut scripts = self.scripts.borrow_mut();
        if scripts.contains_key(new) {
            return Err(StoreError::AlreadyExists);
        }
        if let Some(s) = scripts.remove(old) {
            scripts.insert(new.to_owned(), s);
        }
        let mut active = self.active.borrow_mut();
        if active.as_deref() == Some(old) {
            *active = Some(new.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Every seed of the cargo-fuzz corpus, as a regression test.
    #[test]
    fn corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            super::session(&data);
            n += 1;
        }
        assert!(n >= 5, "only {n} seeds in {}", dir.display());
    }
}
