//! COMPRESS (RFC 4978): the state decides whether the command may run; the shell switches
//! the connection to raw DEFLATE in both directions after writing the tagged OK.

use std::collections::HashSet;

use super::dispatch::Done;
use super::{Action, Session, Storage};
use crate::response::{Code, Response};

/// The one mechanism RFC 4978 defines.
pub(super) const DEFLATE: &str = "DEFLATE";

impl<S: Storage> Session<S> {
    pub(super) fn compress(&mut self, tag: &str, mechanism: &str) -> Done {
        if self.compressed {
            return Done::reply(Response::no(
                tag,
                Some(Code::CompressionActive),
                "Compression already active",
            ));
        }
        if mechanism != DEFLATE {
            return Done::reply(Response::bad(tag, "Unknown compression mechanism"));
        }
        self.compressed = true;
        Done {
            reply: Some(Response::ok(tag, "DEFLATE active")),
            action: Action::Compress,
            silent: HashSet::new(),
        }
    }
}
