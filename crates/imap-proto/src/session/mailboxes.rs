//! Commands on mailboxes as a whole: SELECT/EXAMINE, CREATE, DELETE, RENAME,
//! (UN)SUBSCRIBE, LIST/LSUB (plain and RFC 5258 extended, with RFC 5819 STATUS), STATUS and
//! APPEND.

use std::collections::HashSet;

use super::dispatch::Done;
use super::selected::Selected;
use super::{failed, recent_and_snapshot, status_data, Failure, Output, Session, Storage};
use crate::list;
use crate::response::{Code, Data, Kind, ListItem, Response, Status};
use crate::types::{ListExtended, StatusAtt};

fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

impl<S: Storage> Session<S> {
    /// Leaves the selected state (the mailbox handle goes back to the store).
    pub(super) fn close_selected(&mut self) {
        if let (Some(sel), Some(store)) = (self.selected.take(), self.store.as_mut()) {
            store.close(sel.mb);
        }
    }

    pub(super) fn select(
        &mut self,
        tag: &str,
        name: &str,
        read_only: bool,
        out: &mut Output,
    ) -> Done {
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        self.announce_closed(out);
        self.close_selected();
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let mb = match store.open(name, true) {
            Ok(mb) => mb,
            Err(f) => return Done::reply(failed(tag, &f)),
        };
        let (recent, snap) = recent_and_snapshot(store, &mb, read_only);
        let recent: HashSet<u32> = recent.into_iter().collect();
        let mut sel = Selected::new(name.to_owned(), mb, read_only, &snap, recent);
        sel.mode = self.mode;
        let mut flags = Vec::new();
        sel.flag_responses(&mut flags);
        let mut flags = flags.into_iter();
        out.extend(flags.next());
        out.push(Response::Data(Data::Exists(sel.exists())));
        if sel.mode.shows_recent() {
            out.push(Response::Data(Data::Recent(sel.recent_count())));
        }
        let info =
            |code, text: &str| Response::Status(Status::untagged(Kind::Ok, Some(code), text));
        if let Some(n) = sel.first_unseen().filter(|_| sel.mode.shows_first_unseen()) {
            out.push(info(Code::Unseen(n), "First unseen"));
        }
        out.push(info(Code::UidValidity(snap.uidvalidity), "UIDs valid"));
        out.push(info(Code::UidNext(snap.uidnext), "Predicted next UID"));
        let canonical = if is_inbox(name) { "INBOX" } else { name };
        out.extend(sel.mode.select_list(canonical));
        out.extend(flags);
        out.push(info(Code::HighestModSeq(snap.highest_modseq), "Highest"));
        self.selected = Some(sel);
        self.selected_with_modseq_mode();
        let (code, text) = if read_only {
            (Code::ReadOnly, "Examine completed")
        } else {
            (Code::ReadWrite, "Select completed")
        };
        Done::reply(Response::Status(Status::tagged(
            tag,
            Kind::Ok,
            Some(code),
            text,
        )))
    }

    fn with_store(
        &mut self,
        tag: &str,
        f: impl FnOnce(&mut S) -> Result<&'static str, Failure>,
    ) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        match f(store) {
            Ok(text) => Done::reply(Response::ok(tag, text)),
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }

    pub(super) fn create(&mut self, tag: &str, name: &str, uses: &[String]) -> Done {
        // A trailing separator only says the client means to create children below it.
        let name = name.strip_suffix('/').unwrap_or(name);
        if is_inbox(name) {
            return Done::reply(Response::no(
                tag,
                Some(Code::AlreadyExists),
                "INBOX always exists",
            ));
        }
        if !uses.is_empty() {
            return self.create_special_use(tag, name, uses);
        }
        self.with_store(tag, |s| s.create(name).map(|()| "Create completed"))
    }

    pub(super) fn delete(&mut self, tag: &str, name: &str) -> Done {
        if is_inbox(name) {
            return Done::reply(Response::no(
                tag,
                Some(Code::Cannot),
                "INBOX cannot be deleted",
            ));
        }
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            return Done::reply(Response::no(tag, Some(Code::InUse), "Mailbox is selected"));
        }
        self.with_store(tag, |s| s.delete(name).map(|()| "Delete completed"))
    }

    pub(super) fn rename(&mut self, tag: &str, from: &str, to: &str) -> Done {
        if is_inbox(to) {
            return Done::reply(Response::no(
                tag,
                Some(Code::AlreadyExists),
                "INBOX always exists",
            ));
        }
        self.with_store(tag, |s| s.rename(from, to).map(|()| "Rename completed"))
    }

    pub(super) fn subscribe(&mut self, tag: &str, name: &str, add: bool) -> Done {
        self.with_store(tag, |s| {
            s.set_subscribed(name, add)?;
            Ok(if add {
                "Subscribe completed"
            } else {
                "Unsubscribe completed"
            })
        })
    }

    pub(super) fn list(
        &mut self,
        tag: &str,
        reference: &str,
        pattern: &str,
        lsub: bool,
        out: &mut Output,
    ) -> Done {
        let completed = if lsub {
            "Lsub completed"
        } else {
            "List completed"
        };
        if pattern.is_empty() && !lsub {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            out.push(Response::Data(Data::List(ListItem {
                attrs: vec!["\\Noselect".into()],
                delimiter: Some('/'),
                mailbox: String::new(),
                childinfo: Vec::new(),
            })));
            return Done::reply(Response::ok(tag, completed));
        }
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let names = match store.mailboxes() {
            Ok(n) => n,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let subs = if lsub {
            match store.subscriptions() {
                Ok(s) => Some(s),
                Err(e) => return Done::reply(failed(tag, &e)),
            }
        } else {
            None
        };
        let uses = match store.special_uses() {
            Ok(u) => list::SpecialUses::new(u),
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let full = format!("{reference}{pattern}");
        out.extend(list::plain(&names, subs.as_deref(), &uses, &full));
        Done::reply(Response::ok(tag, completed))
    }

    /// LIST with RFC 5258 options: one line per listed name, each followed by its STATUS
    /// when `RETURN (STATUS ...)` asked for one (RFC 5819) and the mailbox is selectable. A
    /// mailbox whose STATUS fails (deleted meanwhile) just has none.
    pub(super) fn list_extended(
        &mut self,
        tag: &str,
        args: &ListExtended,
        out: &mut Output,
    ) -> Done {
        if args.patterns.iter().all(String::is_empty) {
            return self.list(tag, "", "", false, out);
        }
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let (names, subs, uses) = match store
            .mailboxes()
            .and_then(|n| Ok((n, store.subscriptions()?, store.special_uses()?)))
        {
            Ok(v) => v,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let uses = list::SpecialUses::new(uses);
        for entry in list::extended(&names, &subs, &uses, args) {
            out.push(entry.to_response());
            let (true, Some(atts)) = (entry.status, &args.ret.status) else {
                continue;
            };
            if let Ok(st) = store.status(&entry.name, StatusAtt::needs_sizes(atts)) {
                out.push(Response::Data(status_data(&entry.name, st, atts)));
            }
        }
        Done::reply(Response::ok(tag, "List completed"))
    }

    pub(super) fn status(
        &mut self,
        tag: &str,
        name: &str,
        atts: &[StatusAtt],
        out: &mut Output,
    ) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        match store.status(name, StatusAtt::needs_sizes(atts)) {
            Ok(st) => {
                out.push(Response::Data(status_data(name, st, atts)));
                Done::reply(Response::ok(tag, "Status completed"))
            }
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }
}

/// APPEND and COPY to a mailbox that does not exist say TRYCREATE (RFC 3501 §6.3.11).
pub(super) fn append_refused(tag: &str, e: &Failure) -> Response {
    match e {
        Failure::Nonexistent => Response::no(tag, Some(Code::TryCreate), "Mailbox does not exist"),
        e => failed(tag, e),
    }
}
