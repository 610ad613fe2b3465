//! METADATA (RFC 5464): annotations on mailboxes and on the server (mailbox `""`), kept by
//! the store; sizes and counts limited by [`super::MetadataLimits`].

use super::dispatch::Done;
use super::{failed, Output, Session, Storage};
use crate::response::{Code, Data, Kind, Response, Status};
use crate::types::{MetadataDepth, MetadataGet};

/// Whether `name` is `entry` or, as far as `depth` reaches, below it.
fn within(entry: &str, name: &str, depth: MetadataDepth) -> bool {
    if name == entry {
        return true;
    }
    let Some(rest) = name.strip_prefix(entry).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    match depth {
        MetadataDepth::Zero => false,
        MetadataDepth::One => !rest.contains('/'),
        MetadataDepth::Infinity => true,
    }
}

impl<S: Storage> Session<S> {
    pub(super) fn get_metadata(&mut self, tag: &str, get: &MetadataGet, out: &mut Output) -> Done {
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        let stored = match store.metadata(&get.mailbox) {
            Ok(s) => s,
            Err(e) => return Done::reply(failed(tag, &e)),
        };
        let mut entries: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut longest_left_out = None;
        for entry in &get.entries {
            let mut found = false;
            for (name, value) in stored.iter().filter(|(n, _)| within(entry, n, get.depth)) {
                found = true;
                if entries.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if get.maxsize.is_some_and(|max| value.len() as u64 > max) {
                    let len = value.len() as u64;
                    longest_left_out = Some(longest_left_out.map_or(len, |l: u64| l.max(len)));
                    continue;
                }
                entries.push((name.clone(), Some(value.clone())));
            }
            if !found && !entries.iter().any(|(n, _)| n == entry) {
                // An entry asked for by name that has no value is reported as NIL.
                entries.push((entry.clone(), None));
            }
        }
        if !entries.is_empty() {
            out.push(Response::Data(Data::Metadata {
                mailbox: get.mailbox.clone(),
                entries,
            }));
        }
        Done::reply(Response::Status(Status::tagged(
            tag,
            Kind::Ok,
            longest_left_out.map(Code::MetadataLongEntries),
            "Getmetadata completed",
        )))
    }

    pub(super) fn set_metadata(
        &mut self,
        tag: &str,
        mailbox: &str,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Done {
        let limits = self.policy.metadata;
        let Some(store) = self.store.as_mut() else {
            return Done::reply(Response::bad(tag, "Not logged in"));
        };
        if changes
            .iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| v.len() > limits.max_value))
        {
            return Done::reply(Response::no(
                tag,
                Some(Code::MetadataMaxSize(limits.max_value as u64)),
                "Value too long",
            ));
        }
        if let Some(no) = super::specialuse::check_metadata(tag, mailbox, changes) {
            return Done::reply(no);
        }
        match store.set_metadata(mailbox, changes, limits.max_entries) {
            Ok(true) => Done::reply(Response::ok(tag, "Setmetadata completed")),
            Ok(false) => Done::reply(Response::no(
                tag,
                Some(Code::MetadataTooMany),
                "Too many metadata entries",
            )),
            Err(e) => Done::reply(failed(tag, &e)),
        }
    }
}
