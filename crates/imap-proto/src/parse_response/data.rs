//! Untagged data in responses: message data (`n EXISTS`, `n FETCH (...)`, ...) and the
//! data named by a keyword (CAPABILITY, LIST, STATUS, SEARCH, NAMESPACE, ID, ...).

use super::{invalid, utf8, PResult, Parser};
use crate::response::{Data, ListItem};
use crate::types::StatusAtt;

impl Parser<'_> {
    /// `n EXISTS`, `n RECENT`, `n EXPUNGE`, `n FETCH (...)`.
    pub(super) fn numbered(&mut self, n: u32) -> PResult<Data> {
        match self.keyword()?.as_str() {
            "EXISTS" => Ok(Data::Exists(n)),
            "RECENT" => Ok(Data::Recent(n)),
            "EXPUNGE" => Ok(Data::Expunge(n)),
            "FETCH" => {
                self.sp()?;
                let items = self.paren_list(Parser::fetch_item)?;
                Ok(Data::Fetch { seq: n, items })
            }
            other => invalid(format!("unknown message data {other}")),
        }
    }

    /// ` n n n` up to the end of the line (SEARCH, SORT).
    fn spaced_numbers(&mut self) -> PResult<Vec<u32>> {
        let mut out = Vec::new();
        while !self.at_crlf()? {
            self.sp()?;
            out.push(self.number()?);
        }
        Ok(out)
    }

    /// Untagged data named by a keyword.
    pub(super) fn data(&mut self, word: &str) -> PResult<Data> {
        Ok(match word {
            "CAPABILITY" => Data::Capability(self.spaced_atoms(b'\r')?),
            "ENABLED" => Data::Enabled(self.spaced_atoms(b'\r')?),
            "FLAGS" => {
                self.sp()?;
                Data::Flags(self.paren_list(Parser::flag)?)
            }
            "LIST" => {
                self.sp()?;
                Data::List(self.list_item()?)
            }
            "LSUB" => {
                self.sp()?;
                Data::Lsub(self.list_item()?)
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.paren_list(|p| {
                    let name = p.keyword()?;
                    let Some(att) = StatusAtt::from_name(&name) else {
                        return invalid(format!("unknown STATUS item {name}"));
                    };
                    p.sp()?;
                    Ok((att, p.number64()?))
                })?;
                Data::Status { mailbox, items }
            }
            "SEARCH" => {
                let mut hits = Vec::new();
                while !self.at_crlf()? {
                    self.sp()?;
                    if self.eat(b'(')? {
                        // RFC 7162: `(MODSEQ n)` ends the list.
                        if self.keyword()? != "MODSEQ" {
                            return invalid("expected MODSEQ");
                        }
                        self.sp()?;
                        let modseq = self.number64()?;
                        self.expect(b')')?;
                        return Ok(Data::SearchModSeq { hits, modseq });
                    }
                    hits.push(self.number()?);
                }
                Data::Search(hits)
            }
            "VANISHED" => {
                self.sp()?;
                let earlier = self.eat(b'(')?;
                if earlier {
                    if self.keyword()? != "EARLIER" {
                        return invalid("expected EARLIER");
                    }
                    self.expect(b')')?;
                    self.sp()?;
                }
                Data::Vanished {
                    earlier,
                    uids: self.uid_set()?,
                }
            }
            "SORT" => Data::Sort(self.spaced_numbers()?),
            "THREAD" => {
                let mut threads = Vec::new();
                if !self.at_crlf()? {
                    self.sp()?;
                    while !self.at_crlf()? {
                        threads.push(self.thread(0)?);
                    }
                }
                Data::Thread(threads)
            }
            "ESEARCH" => Data::Esearch(self.esearch()?),
            "NAMESPACE" => self.namespace()?,
            "ID" => {
                self.sp()?;
                if self.is_nil() {
                    self.pos += 3;
                    Data::Id(Vec::new())
                } else {
                    Data::Id(self.id_pairs()?)
                }
            }
            "QUOTA" => {
                self.sp()?;
                let root = utf8(self.astring()?)?;
                self.sp()?;
                let resources = self.paren_list(|p| {
                    let name = p.keyword()?;
                    p.sp()?;
                    let usage = p.number64()?;
                    p.sp()?;
                    Ok((name, usage, p.number64()?))
                })?;
                Data::Quota { root, resources }
            }
            "METADATA" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                self.expect(b'(')?;
                let mut entries = Vec::new();
                loop {
                    let name = utf8(self.astring()?)?;
                    self.sp()?;
                    entries.push((name, self.nstring()?));
                    if self.eat(b')')? {
                        break;
                    }
                    self.sp()?;
                }
                Data::Metadata { mailbox, entries }
            }
            "QUOTAROOT" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let mut roots = Vec::new();
                while self.peek()? == b' ' {
                    self.sp()?;
                    roots.push(utf8(self.astring()?)?);
                }
                Data::QuotaRoot { mailbox, roots }
            }
            other => return invalid(format!("unknown untagged data {other}")),
        })
    }

    /// `(k v k v ...)`: string pairs.
    fn id_pairs(&mut self) -> PResult<Vec<(String, String)>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')')? {
            return Ok(out);
        }
        loop {
            let k = utf8(self.string()?)?;
            self.sp()?;
            let v = utf8(self.string()?)?;
            out.push((k, v));
            if self.eat(b')')? {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// ` ((prefix delim)) NIL NIL`: one personal namespace, nothing else.
    fn namespace(&mut self) -> PResult<Data> {
        self.sp()?;
        self.expect(b'(')?;
        self.expect(b'(')?;
        let prefix = utf8(self.string()?)?;
        self.sp()?;
        let Some(delimiter) = self.delimiter()? else {
            return invalid("namespace without a delimiter");
        };
        self.expect(b')')?;
        self.expect(b')')?;
        for _ in 0..2 {
            self.sp()?;
            if !self.is_nil() {
                return invalid("only a personal namespace is supported");
            }
            self.pos += 3;
        }
        Ok(Data::Namespace { prefix, delimiter })
    }

    /// A hierarchy delimiter: one character as a string, or NIL.
    fn delimiter(&mut self) -> PResult<Option<char>> {
        let Some(raw) = self.nstring()? else {
            return Ok(None);
        };
        let s = utf8(raw)?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Some(c)),
            _ => invalid("a delimiter is one character"),
        }
    }

    /// `(attrs) delim mailbox [("CHILDINFO" (...))]`.
    fn list_item(&mut self) -> PResult<ListItem> {
        let attrs = self.paren_list(Parser::flag_atom)?;
        self.sp()?;
        let delimiter = self.delimiter()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        let mut childinfo = Vec::new();
        if !self.at_crlf()? {
            self.sp()?;
            self.expect(b'(')?;
            let name = self.string()?;
            if !name.eq_ignore_ascii_case(b"CHILDINFO") {
                return invalid("unknown LIST extended data");
            }
            self.sp()?;
            childinfo = self.paren_list(|p| utf8(p.string()?))?;
            self.expect(b')')?;
        }
        Ok(ListItem {
            attrs,
            delimiter,
            mailbox,
            childinfo,
        })
    }
}
