//! CREATE-SPECIAL-USE (RFC 6154 §3): a mailbox created with the special uses it asks for,
//! kept as its `/private/specialuse` METADATA entry (§4), which LIST then reports; setting
//! that entry with SETMETADATA is checked the same way, so LIST never shows an attribute
//! that is not one.

use super::dispatch::Done;
use super::{failed, Session, Storage};
use crate::list::{self, UseError, SPECIAL_USE_ENTRY};
use crate::response::{Code, Response};

fn use_error(tag: &str, e: &UseError) -> Response {
    let text = match e {
        UseError::Unknown(a) => format!("{a} is not a special-use attribute"),
        UseError::Unsupported(a) => format!("{a} mailboxes are not supported here"),
    };
    Response::no(tag, Some(Code::UseAttr), &text)
}

/// A refusal for a SETMETADATA that would give `/private/specialuse` a value that is not
/// a list of special uses a mailbox here can have (or set it on the server, not a mailbox).
pub(super) fn check_metadata(
    tag: &str,
    mailbox: &str,
    changes: &[(String, Option<Vec<u8>>)],
) -> Option<Response> {
    let value = changes
        .iter()
        .find(|(k, _)| k == SPECIAL_USE_ENTRY)
        .and_then(|(_, v)| v.as_ref())?;
    if mailbox.is_empty() {
        return Some(Response::no(
            tag,
            Some(Code::UseAttr),
            "Special uses belong to mailboxes",
        ));
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return Some(Response::no(
            tag,
            Some(Code::UseAttr),
            "Not a special-use list",
        ));
    };
    list::parse_uses(text.split_whitespace())
        .err()
        .map(|e| use_error(tag, &e))
}

impl<S: Storage> Session<S> {
    /// CREATE with `USE (...)`: nothing is created unless the uses can be kept with it.
    pub(super) fn create_special_use(&mut self, tag: &str, name: &str, uses: &[String]) -> Done {
        let attrs = match list::parse_uses(uses.iter().map(String::as_str)) {
            Ok(a) => a,
            Err(e) => return Done::reply(use_error(tag, &e)),
        };
        let max_entries = self.policy.metadata.max_entries;
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        if let Err(e) = store.create(name) {
            return Done::reply(failed(tag, &e));
        }
        let value = attrs.join(" ").into_bytes();
        let change = [(SPECIAL_USE_ENTRY.to_owned(), Some(value))];
        match store.set_metadata(name, &change, max_entries) {
            Ok(true) => Done::reply(Response::ok(tag, "Create completed")),
            outcome => {
                // RFC 6154 §3: a mailbox whose use cannot be kept must not be created.
                let _ = store.delete(name);
                match outcome {
                    Err(e) => Done::reply(failed(tag, &e)),
                    _ => Done::reply(Response::no(
                        tag,
                        Some(Code::UseAttr),
                        "The special use cannot be kept",
                    )),
                }
            }
        }
    }
}
