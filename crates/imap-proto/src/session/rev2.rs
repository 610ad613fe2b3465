//! IMAP4rev2 (RFC 9051) beside IMAP4rev1: a session speaks rev1 until the client sends
//! `ENABLE IMAP4rev2` (§6.3.1), and every way rev2 answers differently (Appendix E) is
//! decided here, so the commands ask a [`Mode`] instead of testing the version themselves:
//!
//! - mailbox names are UTF-8 both ways instead of modified UTF-7 (§5.1);
//! - \Recent is gone: no `* n RECENT`, no \Recent in FETCH FLAGS (the RECENT search key
//!   and STATUS RECENT are still understood, as for a rev1 client);
//! - SEARCH without RETURN answers `* ESEARCH (TAG ...) [UID] ALL ...`, never `* SEARCH`
//!   (§6.4.4, §7.3.4);
//! - a SELECT or EXAMINE that replaces a selected mailbox first sends `* OK [CLOSED]`
//!   (§7.1), as QRESYNC asks of rev1 sessions; a SELECT or EXAMINE names the mailbox in a
//!   LIST response and no longer sends `[UNSEEN n]` (§6.3.2).

use super::dispatch::Done;
use super::{Output, Session, Storage};
use crate::names::NameEncoding;
use crate::response::{Data, ListItem, Response};
use crate::types::SearchReturn;

/// The capability a client enables.
pub(super) const IMAP4REV2: &str = "IMAP4rev2";

/// What the client enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mode {
    pub rev2: bool,
}

impl Mode {
    /// How mailbox names travel.
    pub fn names(self) -> NameEncoding {
        if self.rev2 {
            NameEncoding::Utf8
        } else {
            NameEncoding::ModifiedUtf7
        }
    }

    /// Whether \Recent and the RECENT response exist for this client.
    pub fn shows_recent(self) -> bool {
        !self.rev2
    }

    /// What a SEARCH without RETURN returns: None for rev1's `* SEARCH`, otherwise the
    /// ESEARCH items of an empty RETURN list (ALL).
    pub fn plain_search(self) -> Option<SearchReturn> {
        self.rev2.then_some(SearchReturn {
            all: true,
            ..SearchReturn::default()
        })
    }

    /// Whether replacing the selected mailbox is announced with `[CLOSED]`.
    pub fn announces_closed(self) -> bool {
        self.rev2
    }

    /// Whether SELECT reports the first unseen message (`[UNSEEN n]`, rev1 only).
    pub fn shows_first_unseen(self) -> bool {
        !self.rev2
    }

    /// The LIST response a rev2 SELECT or EXAMINE gives of the mailbox it opened.
    pub fn select_list(self, name: &str) -> Option<Response> {
        self.rev2.then(|| {
            Response::Data(Data::List(ListItem {
                attrs: Vec::new(),
                delimiter: Some('/'),
                mailbox: name.to_owned(),
                childinfo: Vec::new(),
            }))
        })
    }
}

impl<S: Storage> Session<S> {
    /// How mailbox names travel now, for the shell's own parsing (a streamed APPEND).
    pub fn name_encoding(&self) -> NameEncoding {
        self.mode.names()
    }

    /// ENABLE IMAP4rev2: true when this turned it on (it was off).
    pub(super) fn enable_rev2(&mut self) -> bool {
        if self.mode.rev2 {
            return false;
        }
        self.mode.rev2 = true;
        if let Some(sel) = self.selected.as_mut() {
            sel.mode = self.mode;
        }
        true
    }

    /// SEARCH without RETURN: rev1's `* SEARCH`, or rev2's ESEARCH.
    pub(super) fn plain_search(
        &mut self,
        tag: &str,
        uid: bool,
        key: &crate::types::SearchKey,
        out: &mut Output,
    ) -> Done {
        match self.mode.plain_search() {
            Some(ret) => self.extended_search(tag, uid, key, None, ret, out),
            None => self.search(tag, uid, key, out),
        }
    }
}
