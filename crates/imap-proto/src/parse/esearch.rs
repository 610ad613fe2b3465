//! The return options of an extended SEARCH or SORT: RFC 4731 (MIN MAX ALL COUNT), RFC 5182
//! (SAVE), RFC 5267 (CONTEXT, UPDATE, PARTIAL) and RFC 9394's PARTIAL ranges from the end.

use super::{PResult, Parser};
use crate::types::{PartialRange, SearchReturn};

impl Parser<'_> {
    /// `RETURN (...) ` before the criteria of SEARCH or SORT, when there.
    pub(super) fn return_options(&mut self) -> PResult<Option<SearchReturn>> {
        if !self.eat_keyword("RETURN ") {
            return Ok(None);
        }
        let ret = self.search_return()?;
        self.sp()?;
        Ok(Some(ret))
    }

    /// `(opt opt ...)` after `RETURN `; `()` means ALL.
    fn search_return(&mut self) -> PResult<SearchReturn> {
        self.expect(b'(')?;
        let mut ret = SearchReturn::default();
        // Whether anything but the CONTEXT hint was named (RETURN (CONTEXT) is ALL, as `()`).
        let mut any = false;
        if !self.eat(b')') {
            loop {
                let name = self.atom_upper()?;
                match name.as_str() {
                    "MIN" => ret.min = true,
                    "MAX" => ret.max = true,
                    "ALL" => ret.all = true,
                    "COUNT" => ret.count = true,
                    "SAVE" => ret.save = true,
                    // RFC 5267 §4.2: a hint that may be ignored.
                    "CONTEXT" => {}
                    "UPDATE" if ret.update => return Err("UPDATE given twice".to_owned()),
                    "UPDATE" => ret.update = true,
                    "PARTIAL" if ret.partial.is_some() => {
                        return Err("PARTIAL given twice".to_owned());
                    }
                    "PARTIAL" => {
                        self.sp()?;
                        ret.partial = Some(self.partial_range()?);
                    }
                    other => return Err(format!("unknown SEARCH return option {other}")),
                }
                any |= name != "CONTEXT";
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        if !any {
            ret.all = true;
        }
        if ret.all && ret.partial.is_some() {
            // RFC 5267 §4.4: PARTIAL is a part of ALL; asking for both is an error.
            return Err("PARTIAL and ALL exclude each other".to_owned());
        }
        Ok(ret)
    }

    /// `a:b`, two non-zero numbers in either order (RFC 5267 §4.4), or RFC 9394's `-a:-b`
    /// counted from the last result; the signs may not be mixed.
    fn partial_range(&mut self) -> PResult<PartialRange> {
        let from_end = self.eat(b'-');
        let a = self.nz_number()?;
        self.expect(b':')?;
        if from_end != self.eat(b'-') {
            return Err("PARTIAL range mixes positions from the start and the end".to_owned());
        }
        let b = self.nz_number()?;
        Ok(PartialRange {
            from_end,
            first: a.min(b),
            last: a.max(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::command::Command;
    use crate::parse::parse_command;
    use crate::types::{PartialRange, SearchKey, SearchReturn, SeqNum, SeqSet};

    fn search(s: &str) -> (bool, SearchKey, Option<SearchReturn>) {
        match parse_command(s.as_bytes()) {
            Ok((_, Command::Search { uid, key, ret })) => (uid, key, ret),
            other => panic!("{s}: {other:?}"),
        }
    }

    fn is_bad(s: &str) -> bool {
        parse_command(s.as_bytes()).is_err()
    }

    #[test]
    fn return_options() {
        let (uid, key, ret) = search("a UID SEARCH RETURN (min Max COUNT save) CHARSET UTF-8 ALL");
        assert!(uid);
        assert_eq!(key, SearchKey::All);
        assert_eq!(
            ret,
            Some(SearchReturn {
                min: true,
                max: true,
                count: true,
                save: true,
                ..SearchReturn::default()
            })
        );
        let all = SearchReturn {
            all: true,
            ..SearchReturn::default()
        };
        assert_eq!(search("a SEARCH RETURN () SEEN").2, Some(all));
        assert_eq!(search("a SEARCH RETURN (ALL) SEEN").2, Some(all));
        assert_eq!(search("a SEARCH SEEN").2, None);
        assert_eq!(
            search("a SEARCH RETURN (PARTIAL 4:2) ALL").2,
            Some(SearchReturn {
                partial: Some(PartialRange {
                    from_end: false,
                    first: 2,
                    last: 4
                }),
                ..SearchReturn::default()
            })
        );
        assert_eq!(
            search("a SEARCH RETURN (PARTIAL -1:-100 update) ALL").2,
            Some(SearchReturn {
                partial: Some(PartialRange {
                    from_end: true,
                    first: 1,
                    last: 100
                }),
                update: true,
                ..SearchReturn::default()
            })
        );
        let update = SearchReturn {
            update: true,
            ..SearchReturn::default()
        };
        assert_eq!(search("a SEARCH RETURN (UPDATE) SEEN").2, Some(update));
        assert_eq!(search("a SEARCH RETURN (CONTEXT) SEEN").2, Some(all));
    }

    #[test]
    fn bad_return_options() {
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1:*) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL *:1) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 0:3) ALL"));
        assert!(is_bad("a SEARCH RETURN (ALL PARTIAL 1:3) ALL"));
        assert!(is_bad("a SEARCH RETURN (FOO) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL -1:5) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1:-5) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL -0:-5) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL"));
        assert!(is_bad("a SEARCH RETURN (UPDATE UPDATE) ALL"));
        assert!(is_bad("a SEARCH RETURN (MIN ) ALL"));
        assert!(is_bad("a SEARCH RETURN MIN ALL"));
    }

    #[test]
    fn saved_result_and_within() {
        assert_eq!(search("a SEARCH $").1, SearchKey::SeqSet(SeqSet::saved()));
        assert_eq!(
            search("a SEARCH UID $ YOUNGER 60 OLDER 5").1,
            SearchKey::And(vec![
                SearchKey::Uid(SeqSet::saved()),
                SearchKey::Younger(60),
                SearchKey::Older(5),
            ])
        );
        assert!(is_bad("a SEARCH YOUNGER 0"));
        assert!(is_bad("a SEARCH OLDER"));
        assert!(is_bad("a SEARCH $,1"));
        match parse_command(b"a UID FETCH $ FLAGS") {
            Ok((_, Command::Fetch { uid, set, .. })) => assert!(uid && set.is_saved()),
            other => panic!("{other:?}"),
        }
        match parse_command(b"a COPY 1:$ x") {
            Ok(_) => panic!("$ is a set of its own"),
            Err(e) => assert!(e.tag.is_some()),
        }
        assert!(!SeqSet(vec![(SeqNum::Value(1), SeqNum::Star)]).is_saved());
    }
}
