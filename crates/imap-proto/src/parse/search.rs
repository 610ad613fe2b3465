//! SEARCH keys (RFC 3501 §6.4.4) and the dates they take.

use super::{PResult, Parser, MAX_SEARCH_DEPTH};
use crate::command::*;
use crate::types::*;

impl Parser<'_> {
    pub(super) fn search(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let ret = self.return_options()?;
        if self.eat_keyword("CHARSET ") {
            let cs = self.astring()?;
            let cs = String::from_utf8_lossy(&cs).to_ascii_uppercase();
            self.check_charset(&cs)?;
            self.sp()?;
        }
        let key = self.search_keys()?;
        Ok(Command::Search { uid, key, ret })
    }

    /// A search charset: the ones we know, or NO [BADCHARSET].
    pub(super) fn check_charset(&mut self, cs: &str) -> PResult<()> {
        if cs != "UTF-8" && cs != "US-ASCII" {
            self.kind = super::ErrorKind::BadCharset;
            return Err(format!("unsupported charset {cs}"));
        }
        Ok(())
    }

    /// One or more search keys, ANDed.
    pub(super) fn search_keys(&mut self) -> PResult<SearchKey> {
        let mut keys = vec![self.search_key(0)?];
        while self.eat(b' ') {
            keys.push(self.search_key(0)?);
        }
        Ok(if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        })
    }

    fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let day = self.number()?;
        self.expect(b'-')?;
        let m = self.atom()?;
        let month = crate::date::month_from_name(m).ok_or_else(|| "invalid month".to_owned())?;
        // atom() took "Mon-yyyy" up to the next special; split it.
        let (month, year) = match month {
            (month, Some(year)) => (month, year),
            (month, None) => {
                self.expect(b'-')?;
                (month, self.number()? as i32)
            }
        };
        if quoted {
            self.expect(b'"')?;
        }
        if !(1..=31).contains(&day) {
            return Err("invalid day".to_owned());
        }
        Ok(Date { year, month, day })
    }

    fn search_key(&mut self, depth: usize) -> PResult<SearchKey> {
        if depth > MAX_SEARCH_DEPTH {
            return Err("search expression nested too deeply".to_owned());
        }
        if self.eat(b'(') {
            let mut keys = vec![self.search_key(depth + 1)?];
            while self.eat(b' ') {
                keys.push(self.search_key(depth + 1)?);
            }
            self.expect(b')')?;
            return Ok(if keys.len() == 1 {
                keys.pop().unwrap_or(SearchKey::All)
            } else {
                SearchKey::And(keys)
            });
        }
        if matches!(self.peek(), Some(b'0'..=b'9' | b'*' | b'$')) {
            return Ok(SearchKey::SeqSet(self.seq_set()?));
        }
        let name = self.atom_upper()?;
        let s = |p: &mut Self| -> PResult<String> {
            p.sp()?;
            Ok(String::from_utf8_lossy(&p.astring()?).into_owned())
        };
        Ok(match name.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Answered,
            "DELETED" => SearchKey::Deleted,
            "DRAFT" => SearchKey::Draft,
            "FLAGGED" => SearchKey::Flagged,
            "NEW" => SearchKey::New,
            "OLD" => SearchKey::Old,
            "RECENT" => SearchKey::Recent,
            "SEEN" => SearchKey::Seen,
            "UNANSWERED" => SearchKey::Unanswered,
            "UNDELETED" => SearchKey::Undeleted,
            "UNDRAFT" => SearchKey::Undraft,
            "UNFLAGGED" => SearchKey::Unflagged,
            "UNSEEN" => SearchKey::Unseen,
            "BCC" => SearchKey::Bcc(s(self)?),
            "BODY" => SearchKey::Body(s(self)?),
            "CC" => SearchKey::Cc(s(self)?),
            "FROM" => SearchKey::From(s(self)?),
            "SUBJECT" => SearchKey::Subject(s(self)?),
            "TEXT" => SearchKey::Text(s(self)?),
            "TO" => SearchKey::To(s(self)?),
            "KEYWORD" => {
                self.sp()?;
                SearchKey::Keyword(String::from_utf8_lossy(self.atom()?).into_owned())
            }
            "UNKEYWORD" => {
                self.sp()?;
                SearchKey::Unkeyword(String::from_utf8_lossy(self.atom()?).into_owned())
            }
            "HEADER" => {
                let field = s(self)?;
                let value = s(self)?;
                SearchKey::Header(field, value)
            }
            "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" | "SAVEDBEFORE"
            | "SAVEDON" | "SAVEDSINCE" => {
                self.sp()?;
                let d = self.date()?;
                match name.as_str() {
                    "BEFORE" => SearchKey::Before(d),
                    "ON" => SearchKey::On(d),
                    "SINCE" => SearchKey::Since(d),
                    "SENTBEFORE" => SearchKey::SentBefore(d),
                    "SENTON" => SearchKey::SentOn(d),
                    "SAVEDBEFORE" => SearchKey::SavedBefore(d),
                    "SAVEDON" => SearchKey::SavedOn(d),
                    "SAVEDSINCE" => SearchKey::SavedSince(d),
                    _ => SearchKey::SentSince(d),
                }
            }
            "LARGER" => {
                self.sp()?;
                SearchKey::Larger(self.number()?)
            }
            "SMALLER" => {
                self.sp()?;
                SearchKey::Smaller(self.number()?)
            }
            "UID" => {
                self.sp()?;
                SearchKey::Uid(self.seq_set()?)
            }
            "MODSEQ" => self.search_modseq()?,
            "YOUNGER" => {
                self.sp()?;
                SearchKey::Younger(self.nz_number()?)
            }
            "OLDER" => {
                self.sp()?;
                SearchKey::Older(self.nz_number()?)
            }
            "NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            other => return Err(format!("unknown search key {other}")),
        })
    }
}
