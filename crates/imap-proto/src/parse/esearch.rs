//! The return options of an extended SEARCH: RFC 4731 (MIN MAX ALL COUNT), RFC 5182 (SAVE)
//! and RFC 5267's PARTIAL.

use super::{PResult, Parser};
use crate::types::SearchReturn;

impl Parser<'_> {
    /// `(opt opt ...)` after `RETURN `; `()` means ALL.
    pub(super) fn search_return(&mut self) -> PResult<SearchReturn> {
        self.expect(b'(')?;
        let mut ret = SearchReturn::default();
        let mut any = false;
        if !self.eat(b')') {
            loop {
                match self.atom_upper()?.as_str() {
                    "MIN" => ret.min = true,
                    "MAX" => ret.max = true,
                    "ALL" => ret.all = true,
                    "COUNT" => ret.count = true,
                    "SAVE" => ret.save = true,
                    "PARTIAL" => {
                        self.sp()?;
                        ret.partial = Some(self.partial_range()?);
                    }
                    other => return Err(format!("unknown SEARCH return option {other}")),
                }
                any = true;
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

    /// `a:b`, two non-zero numbers in either order (RFC 5267 §4.4).
    fn partial_range(&mut self) -> PResult<(u32, u32)> {
        let a = self.nz_number()?;
        self.expect(b':')?;
        let b = self.nz_number()?;
        Ok((a.min(b), a.max(b)))
    }
}

#[cfg(test)]
mod tests {
    use crate::command::Command;
    use crate::parse::parse_command;
    use crate::types::{SearchKey, SearchReturn, SeqNum, SeqSet};

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
                partial: Some((2, 4)),
                ..SearchReturn::default()
            })
        );
    }

    #[test]
    fn bad_return_options() {
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 1:*) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL *:1) ALL"));
        assert!(is_bad("a SEARCH RETURN (PARTIAL 0:3) ALL"));
        assert!(is_bad("a SEARCH RETURN (ALL PARTIAL 1:3) ALL"));
        assert!(is_bad("a SEARCH RETURN (FOO) ALL"));
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
