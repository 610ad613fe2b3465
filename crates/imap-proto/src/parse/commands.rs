//! The RFC 3501 commands and the small extensions (ID, ENABLE, NAMESPACE, MOVE, UIDPLUS
//! UID EXPUNGE): dispatch on the command name, and the arguments of APPEND, STATUS, STORE,
//! COPY and MOVE.

use super::{PResult, Parser};
use crate::command::*;
use crate::types::*;

impl Parser<'_> {
    pub(super) fn command(&mut self) -> PResult<Command> {
        let name = self.atom_upper()?;
        Ok(match name.as_str() {
            "CAPABILITY" => Command::Capability,
            "NOOP" => Command::Noop,
            "LOGOUT" => Command::Logout,
            "STARTTLS" => Command::StartTls,
            "CHECK" => Command::Check,
            "CLOSE" => Command::Close,
            "UNSELECT" => Command::Unselect,
            "EXPUNGE" => Command::Expunge,
            "IDLE" => Command::Idle,
            "NAMESPACE" => Command::Namespace,
            "COMPRESS" => {
                self.sp()?;
                Command::Compress(self.atom_upper()?)
            }
            "LOGIN" => {
                self.sp()?;
                let user = self.astring()?;
                self.sp()?;
                let password = self.astring()?;
                Command::Login { user, password }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.atom_upper()?;
                let initial = if self.eat(b' ') {
                    let r = self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                    if r.is_empty() {
                        return Err("expected an initial response".to_owned());
                    }
                    Some(String::from_utf8_lossy(r).into_owned())
                } else {
                    None
                };
                Command::Authenticate { mechanism, initial }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mb = self.mailbox()?;
                self.select_params(mb, name == "EXAMINE")?
            }
            "CREATE" => self.create()?,
            "DELETE" => {
                self.sp()?;
                Command::Delete(self.mailbox()?)
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                Command::Rename(from, self.mailbox()?)
            }
            "SUBSCRIBE" => {
                self.sp()?;
                Command::Subscribe(self.mailbox()?)
            }
            "UNSUBSCRIBE" => {
                self.sp()?;
                Command::Unsubscribe(self.mailbox()?)
            }
            "LIST" => self.list()?,
            "LSUB" => {
                self.sp()?;
                let reference = self.mailbox()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                if name == "LIST" {
                    Command::List { reference, pattern }
                } else {
                    Command::Lsub { reference, pattern }
                }
            }
            "STATUS" => {
                self.sp()?;
                let mb = self.mailbox()?;
                self.sp()?;
                Command::Status(mb, self.status_atts()?)
            }
            "APPEND" => self.append()?,
            "SEARCH" => self.search(false)?,
            "CANCELUPDATE" => self.cancel_update()?,
            "SORT" => self.sort(false)?,
            "THREAD" => self.thread(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" | "MOVE" => self.copy_move(false, name == "MOVE")?,
            "UID" => {
                self.sp()?;
                let sub = self.atom_upper()?;
                match sub.as_str() {
                    "SEARCH" => self.search(true)?,
                    "SORT" => self.sort(true)?,
                    "THREAD" => self.thread(true)?,
                    "FETCH" => self.fetch(true)?,
                    "STORE" => self.store(true)?,
                    "COPY" | "MOVE" => self.copy_move(true, sub == "MOVE")?,
                    "EXPUNGE" => {
                        self.sp()?;
                        Command::UidExpunge(self.seq_set()?)
                    }
                    other => return Err(format!("unknown UID command {other}")),
                }
            }
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.atom_upper()?);
                }
                if caps.is_empty() {
                    return Err("ENABLE needs at least one capability".to_owned());
                }
                Command::Enable(caps)
            }
            "ID" => {
                self.sp()?;
                let mut fields = Vec::new();
                if !self.eat_keyword("NIL") {
                    self.expect(b'(')?;
                    if !self.eat(b')') {
                        loop {
                            let k = self.string()?;
                            self.sp()?;
                            let v = self.nstring_or_nil()?;
                            if fields.len() < 30 {
                                fields.push((String::from_utf8_lossy(&k).into_owned(), v));
                            }
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                    }
                }
                Command::Id(fields)
            }
            "GETQUOTA" => {
                self.sp()?;
                Command::GetQuota(String::from_utf8_lossy(&self.astring()?).into_owned())
            }
            "GETQUOTAROOT" => {
                self.sp()?;
                Command::GetQuotaRoot(self.mailbox()?)
            }
            "SETQUOTA" => self.setquota()?,
            "GETMETADATA" => self.getmetadata()?,
            "SETMETADATA" => self.setmetadata()?,
            other => return Err(format!("unknown command {other}")),
        })
    }

    /// `(MESSAGES UNSEEN ...)`, as STATUS and LIST's `RETURN (STATUS ...)` take it.
    pub(super) fn status_atts(&mut self) -> PResult<Vec<StatusAtt>> {
        self.expect(b'(')?;
        let mut atts = Vec::new();
        loop {
            let name = self.atom_upper()?;
            atts.push(
                StatusAtt::from_name(&name).ok_or_else(|| format!("unknown status item {name}"))?,
            );
            if self.eat(b')') {
                return Ok(atts);
            }
            self.sp()?;
        }
    }

    fn copy_move(&mut self, uid: bool, is_move: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(if is_move {
            Command::Move { uid, set, mailbox }
        } else {
            Command::Copy { uid, set, mailbox }
        })
    }

    fn store(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let unchanged_since = self.store_modifier()?;
        let op = if self.eat(b'+') {
            StoreOp::Add
        } else if self.eat(b'-') {
            StoreOp::Remove
        } else {
            StoreOp::Replace
        };
        if !self.eat_keyword("FLAGS") {
            return Err("expected FLAGS".to_owned());
        }
        let silent = self.eat_keyword(".SILENT");
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(match unchanged_since {
            Some(unchanged_since) => Command::StoreUnchangedSince(ConditionalStore {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            }),
            None => Command::Store {
                uid,
                set,
                op,
                silent,
                flags,
            },
        })
    }

    /// `SETQUOTA root (resource limit ...)` (RFC 9208 §4.3); the limits are read, not kept.
    pub(super) fn setquota(&mut self) -> PResult<Command> {
        self.sp()?;
        let root = String::from_utf8_lossy(&self.astring()?).into_owned();
        self.sp()?;
        self.expect(b'(')?;
        if !self.eat(b')') {
            loop {
                self.atom()?;
                self.sp()?;
                if self.take_while(|b| b.is_ascii_digit()).is_empty() {
                    return Err("expected a quota limit".to_owned());
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        Ok(Command::SetQuota(root))
    }
}
