//! APPEND: one message or several (MULTIAPPEND, RFC 3502), stored all or none, each a
//! literal (a literal8 with BINARY) or a CATENATE (RFC 4469) of text and IMAP URLs naming
//! messages, or parts of them, in the user's own mailboxes.

use std::collections::HashSet;

use super::dispatch::Done;
use super::mailboxes::append_refused;
use super::{Failure, Output, Session, Storage, StoreResult};
use crate::command::{AppendData, AppendHead, AppendMessage, CatenatePart};
use crate::parse::url::message_url;
use crate::response::{Code, FetchItem, Kind, Response, Status};
use crate::types::FetchAtt;

/// Stores messages one after the other through `commit` (given the message's index); if
/// one fails, those stored before it are expunged again, so none is kept. Returns
/// UIDVALIDITY and the new UIDs in order.
pub fn append_all<S: Storage>(
    store: &mut S,
    mb: &S::Mailbox,
    count: usize,
    mut commit: impl FnMut(&mut S, usize) -> StoreResult<u32>,
) -> StoreResult<(u32, Vec<u32>)> {
    let mut uids = Vec::with_capacity(count);
    for i in 0..count {
        match commit(store, i) {
            Ok(uid) => uids.push(uid),
            Err(e) => {
                // A failed rollback leaves messages behind; the failure reported is still
                // the one that stopped the APPEND.
                let _ = store.expunge(mb, &uids);
                return Err(e);
            }
        }
    }
    Ok((store.uidvalidity(mb), uids))
}

/// Why a CATENATE could not be put together.
enum CatenateError {
    /// The URL names nothing this user can read (`[BADURL url]`).
    BadUrl(String),
    Store(Failure),
}

/// The bytes a CATENATE URL names: a message, or a section (and partial range) of one,
/// in the user's own store; relative URLs name the selected mailbox. None: it names
/// nothing, or another user's mailbox (the store is only `login`'s; the same name there
/// would be a different mailbox).
fn url_data<S: Storage>(
    store: &mut S,
    selected: Option<&S::Mailbox>,
    login: Option<&str>,
    url: &str,
) -> StoreResult<Option<Vec<u8>>> {
    let Some(u) = message_url(url) else {
        return Ok(None);
    };
    if u.user.is_some() && u.user.as_deref() != login {
        return Ok(None);
    }
    let opened = match &u.mailbox {
        Some(name) => match store.open(name, false) {
            Ok(mb) => Some(mb),
            Err(Failure::Nonexistent | Failure::InvalidName(_)) => return Ok(None),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let Some(mb) = opened.as_ref().or(selected) else {
        return Ok(None);
    };
    let data = if u.uidvalidity.is_some_and(|v| v != store.uidvalidity(mb)) {
        Ok(None)
    } else {
        let att = FetchAtt::BodySection {
            peek: true,
            section: u.section.unwrap_or_default(),
            partial: u.partial,
        };
        store.fetch(mb, u.uid, &[att]).map(|items| {
            items.into_iter().flatten().find_map(|item| match item {
                FetchItem::BodySection { data, .. } => data,
                _ => None,
            })
        })
    };
    if let Some(mb) = opened {
        store.close(mb);
    }
    data
}

/// The message a CATENATE list makes, refused as [`Failure::TooBig`] as soon as it
/// grows past `max` octets.
fn catenate<S: Storage>(
    store: &mut S,
    selected: Option<&S::Mailbox>,
    login: Option<&str>,
    parts: &[CatenatePart],
    max: u64,
) -> Result<Vec<u8>, CatenateError> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            CatenatePart::Text(t) => out.extend_from_slice(t),
            CatenatePart::Url(url) => match url_data(store, selected, login, url) {
                Ok(Some(d)) => out.extend_from_slice(&d),
                Ok(None) => return Err(CatenateError::BadUrl(url.clone())),
                Err(e) => return Err(CatenateError::Store(e)),
            },
        }
        if out.len() as u64 > max {
            return Err(CatenateError::Store(Failure::TooBig));
        }
    }
    Ok(out)
}

impl<S: Storage> Session<S> {
    pub(super) fn append(
        &mut self,
        tag: &str,
        mailbox: &str,
        messages: Vec<AppendMessage>,
    ) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let mb = match store.open(mailbox, false) {
            Ok(mb) => mb,
            Err(e) => return Done::reply(append_refused(tag, &e)),
        };
        // Every message is put together before any is stored: a bad URL stores nothing.
        let max = self.policy.max_message;
        let selected = self.selected.as_ref().map(|s| &s.mb);
        let mut built = Vec::with_capacity(messages.len());
        for m in messages {
            let data = match m.data {
                AppendData::Literal(d) => d,
                AppendData::Catenate(parts) => {
                    match catenate(store, selected, self.login.as_deref(), &parts, max) {
                        Ok(d) => d,
                        Err(e) => {
                            store.close(mb);
                            return Done::reply(match e {
                                CatenateError::BadUrl(url) => Response::no(
                                    tag,
                                    Some(Code::BadUrl(url)),
                                    "CATENATE URL names no message",
                                ),
                                CatenateError::Store(e) => append_refused(tag, &e),
                            });
                        }
                    }
                }
            };
            let head = AppendHead {
                mailbox: mailbox.to_owned(),
                flags: m.flags,
                date: m.date,
                binary: m.binary,
            };
            built.push((head, data));
        }
        let r = append_all(store, &mb, built.len(), |s, i| match built.get(i) {
            Some((head, data)) => s.append(&mb, head, data),
            None => Err(Failure::ServerBug),
        });
        store.close(mb);
        Done::reply(self.appended(tag, r))
    }

    /// The tagged reply to an APPEND (also one the shell streamed to the store itself).
    pub fn appended(&self, tag: &str, r: Result<(u32, Vec<u32>), Failure>) -> Response {
        match r {
            Ok((uidvalidity, uids)) => Response::Status(Status::tagged(
                tag,
                Kind::Ok,
                Some(Code::AppendUid { uidvalidity, uids }),
                "Append completed",
            )),
            Err(e) => append_refused(tag, &e),
        }
    }

    /// Answers an APPEND the shell stored itself (streamed to disk as it arrived): the
    /// updates owed, then the tagged reply.
    pub fn finish_append(
        &mut self,
        tag: &str,
        r: Result<(u32, Vec<u32>), Failure>,
        out: &mut Output,
    ) {
        let reply = self.appended(tag, r);
        self.updates(true, &HashSet::new(), out);
        out.push(reply);
    }
}
