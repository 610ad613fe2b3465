//! QUOTA (RFC 9208): one quota root, `""`, covering every mailbox of the user, with the
//! STORAGE (units of 1024 octets) and MESSAGE resources the store enforces. SETQUOTA is
//! refused: limits are the administrator's.

use super::dispatch::Done;
use super::{failed, Output, QuotaUsage, Session, Storage};
use crate::response::{Data, Response};

/// The name of the one quota root.
const ROOT: &str = "";

fn resources(q: &QuotaUsage) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    if let Some((used, limit)) = q.storage {
        // Rounded up: a partly used unit is used.
        out.push(("STORAGE".to_owned(), used.div_ceil(1024), limit / 1024));
    }
    if let Some((used, limit)) = q.messages {
        out.push(("MESSAGE".to_owned(), used, limit));
    }
    out
}

impl<S: Storage> Session<S> {
    pub(super) fn get_quota(&mut self, tag: &str, root: &str, out: &mut Output) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let q = match store.quota() {
            Ok(q) => q,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        if root != ROOT || q.is_unlimited() {
            return Done::reply(Response::no(tag, None, "No such quota root"));
        }
        out.push(Response::Data(Data::Quota {
            root: ROOT.to_owned(),
            resources: resources(&q),
        }));
        Done::reply(Response::ok(tag, "Getquota completed"))
    }

    pub(super) fn get_quota_root(&mut self, tag: &str, mailbox: &str, out: &mut Output) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        // The mailbox must exist (RFC 9208 §4.3.2).
        if let Err(e) = store.status(mailbox, false) {
            return Done::reply(failed(tag, &e));
        }
        let q = match store.quota() {
            Ok(q) => q,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let roots = if q.is_unlimited() {
            Vec::new()
        } else {
            vec![ROOT.to_owned()]
        };
        out.push(Response::Data(Data::QuotaRoot {
            mailbox: mailbox.to_owned(),
            roots,
        }));
        if !q.is_unlimited() {
            out.push(Response::Data(Data::Quota {
                root: ROOT.to_owned(),
                resources: resources(&q),
            }));
        }
        Done::reply(Response::ok(tag, "Getquotaroot completed"))
    }
}
