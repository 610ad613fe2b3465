//! RFC 7162 grammar: SELECT/EXAMINE parameters (CONDSTORE, QRESYNC), the FETCH modifiers
//! (CHANGEDSINCE, VANISHED), STORE's UNCHANGEDSINCE and the SEARCH key MODSEQ.

use super::{PResult, Parser};
use crate::command::{Command, QresyncParams, SelectParams};
use crate::types::{FetchAtt, SearchKey, SeqSet};

/// mod-sequence-value is 1*DIGIT up to 2^63-1.
const MAX_MODSEQ: u64 = i64::MAX as u64;

impl Parser<'_> {
    /// A mod-sequence value (`zero`: 0 allowed, as in CHANGEDSINCE and UNCHANGEDSINCE).
    pub(super) fn modseq(&mut self, zero: bool) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        let n = std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n <= MAX_MODSEQ && (zero || n > 0))
            .ok_or_else(|| "expected a mod-sequence".to_owned())?;
        Ok(n)
    }

    /// ` (CONDSTORE)` / ` (QRESYNC (...))` after SELECT/EXAMINE's mailbox, if any.
    pub(super) fn select_params(&mut self, mailbox: String, read_only: bool) -> PResult<Command> {
        if !self.eat(b' ') {
            return Ok(if read_only {
                Command::Examine(mailbox)
            } else {
                Command::Select(mailbox)
            });
        }
        self.expect(b'(')?;
        let mut params = SelectParams::default();
        loop {
            match self.atom_upper()?.as_str() {
                "CONDSTORE" => params.condstore = true,
                "QRESYNC" if params.qresync.is_none() => {
                    self.sp()?;
                    params.qresync = Some(self.qresync_params()?);
                }
                other => return Err(format!("unknown SELECT parameter {other}")),
            }
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        Ok(Command::SelectWith {
            mailbox,
            read_only,
            params,
        })
    }

    /// `(uidvalidity modseq [known-uids] [(known-seqs known-seq-uids)])`.
    fn qresync_params(&mut self) -> PResult<QresyncParams> {
        self.expect(b'(')?;
        let uidvalidity = self.nz_number()?;
        self.sp()?;
        let modseq = self.modseq(false)?;
        let mut known_uids = None;
        let mut seq_match = None;
        while self.eat(b' ') {
            if self.eat(b'(') {
                let seqs = self.plain_set()?;
                self.sp()?;
                let uids = self.plain_set()?;
                self.expect(b')')?;
                seq_match = Some((seqs, uids));
            } else if known_uids.is_none() && seq_match.is_none() {
                known_uids = Some(self.plain_set()?);
            } else {
                return Err("invalid QRESYNC parameters".to_owned());
            }
        }
        self.expect(b')')?;
        Ok(QresyncParams {
            uidvalidity,
            modseq,
            known_uids,
            seq_match,
        })
    }

    /// A sequence set without `$` (QRESYNC's sets name UIDs the client knows).
    fn plain_set(&mut self) -> PResult<SeqSet> {
        let set = self.seq_set()?;
        if set.is_saved() {
            return Err("$ is not allowed here".to_owned());
        }
        Ok(set)
    }

    /// ` (CHANGEDSINCE m [VANISHED])` after FETCH's attributes, if any.
    pub(super) fn fetch_modifiers(
        &mut self,
        uid: bool,
        set: SeqSet,
        atts: Vec<FetchAtt>,
    ) -> PResult<Command> {
        if !self.eat(b' ') {
            return Ok(Command::Fetch { uid, set, atts });
        }
        self.expect(b'(')?;
        let mut changed_since = None;
        let mut vanished = false;
        loop {
            match self.atom_upper()?.as_str() {
                "CHANGEDSINCE" if changed_since.is_none() => {
                    self.sp()?;
                    changed_since = Some(self.modseq(true)?);
                }
                "VANISHED" if !vanished => vanished = true,
                other => return Err(format!("unknown FETCH modifier {other}")),
            }
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        let changed_since =
            changed_since.ok_or_else(|| "VANISHED needs CHANGEDSINCE".to_owned())?;
        Ok(Command::FetchChangedSince {
            uid,
            set,
            atts,
            changed_since,
            vanished,
        })
    }

    /// `(UNCHANGEDSINCE m) ` before STORE's flags operation, if there.
    pub(super) fn store_modifier(&mut self) -> PResult<Option<u64>> {
        if !self.eat(b'(') {
            return Ok(None);
        }
        if !self.eat_keyword("UNCHANGEDSINCE ") {
            return Err("unknown STORE modifier".to_owned());
        }
        let m = self.modseq(true)?;
        self.expect(b')')?;
        self.sp()?;
        Ok(Some(m))
    }

    /// The SEARCH key `MODSEQ [entry-name entry-type] m` after its name. Mod-sequences are
    /// kept per message, not per flag, so the entry only has to be well-formed.
    pub(super) fn search_modseq(&mut self) -> PResult<SearchKey> {
        self.sp()?;
        if self.peek() == Some(b'"') {
            let entry = self.quoted()?;
            if !entry.starts_with(b"/flags/") {
                return Err("invalid MODSEQ entry name".to_owned());
            }
            self.sp()?;
            let kind = self.atom_upper()?;
            if !matches!(kind.as_str(), "PRIV" | "SHARED" | "ALL") {
                return Err("invalid MODSEQ entry type".to_owned());
            }
            self.sp()?;
        }
        Ok(SearchKey::ModSeq(self.modseq(true)?))
    }
}
