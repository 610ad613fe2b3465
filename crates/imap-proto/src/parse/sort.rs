//! SORT and THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO): RFC 5267's return options
//! for SORT, criteria or algorithm, the charset (mandatory here), then search keys.

use super::{PResult, Parser};
use crate::command::Command;
use crate::sort::{SortCriterion, SortKey, ThreadAlgorithm};

impl Parser<'_> {
    /// The charset and the search keys after it.
    fn charset_and_keys(&mut self) -> PResult<crate::types::SearchKey> {
        self.sp()?;
        let cs = self.astring()?;
        self.check_charset(&String::from_utf8_lossy(&cs).to_ascii_uppercase())?;
        self.sp()?;
        self.search_keys()
    }

    pub(super) fn sort(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        // RFC 5267 §3: the return options of an extended SORT.
        let ret = self.return_options()?;
        self.expect(b'(')?;
        let mut criteria = Vec::new();
        loop {
            let mut name = self.atom_upper()?;
            let reverse = name == "REVERSE";
            if reverse {
                self.sp()?;
                name = self.atom_upper()?;
            }
            let key = match name.as_str() {
                "ARRIVAL" => SortKey::Arrival,
                "CC" => SortKey::Cc,
                "DATE" => SortKey::Date,
                "FROM" => SortKey::From,
                "SIZE" => SortKey::Size,
                "SUBJECT" => SortKey::Subject,
                "TO" => SortKey::To,
                "DISPLAYFROM" => SortKey::DisplayFrom,
                "DISPLAYTO" => SortKey::DisplayTo,
                other => return Err(format!("unknown sort key {other}")),
            };
            criteria.push(SortCriterion { reverse, key });
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        let key = self.charset_and_keys()?;
        Ok(Command::Sort {
            uid,
            criteria,
            key,
            ret,
        })
    }

    pub(super) fn thread(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let algorithm = match self.atom_upper()?.as_str() {
            "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            "REFERENCES" => ThreadAlgorithm::References,
            "REFS" => ThreadAlgorithm::Refs,
            other => return Err(format!("unknown thread algorithm {other}")),
        };
        let key = self.charset_and_keys()?;
        Ok(Command::Thread {
            uid,
            algorithm,
            key,
        })
    }
}
