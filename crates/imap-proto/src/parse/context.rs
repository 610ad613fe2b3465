//! RFC 5267's CANCELUPDATE: `CANCELUPDATE "tag" ["tag" ...]`.

use super::{PResult, Parser};
use crate::command::Command;

impl Parser<'_> {
    pub(super) fn cancel_update(&mut self) -> PResult<Command> {
        let mut tags = Vec::new();
        while self.eat(b' ') {
            tags.push(String::from_utf8_lossy(&self.quoted()?).into_owned());
        }
        if tags.is_empty() {
            return Err("CANCELUPDATE needs at least one tag".to_owned());
        }
        Ok(Command::CancelUpdate(tags))
    }
}

#[cfg(test)]
mod tests {
    use crate::command::Command;
    use crate::parse::parse_command;
    use crate::sort::{SortCriterion, SortKey};
    use crate::types::{SearchKey, SearchReturn};

    #[test]
    fn cancel_update() {
        match parse_command(b"a CANCELUPDATE \"B01\" \"B 2\"") {
            Ok((_, Command::CancelUpdate(tags))) => assert_eq!(tags, ["B01", "B 2"]),
            other => panic!("{other:?}"),
        }
        assert!(parse_command(b"a CANCELUPDATE").is_err());
        assert!(parse_command(b"a CANCELUPDATE B01").is_err());
        assert!(parse_command(b"a CANCELUPDATE \"B01\" ").is_err());
    }

    #[test]
    fn extended_sort() {
        match parse_command(b"E01 UID SORT RETURN (MIN update) (REVERSE DATE) UTF-8 SEEN") {
            Ok((
                _,
                Command::Sort {
                    uid,
                    criteria,
                    key,
                    ret,
                },
            )) => {
                assert!(uid);
                assert_eq!(
                    criteria,
                    [SortCriterion {
                        reverse: true,
                        key: SortKey::Date
                    }]
                );
                assert_eq!(key, SearchKey::Seen);
                assert_eq!(
                    ret,
                    Some(SearchReturn {
                        min: true,
                        update: true,
                        ..SearchReturn::default()
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        match parse_command(b"a SORT (ARRIVAL) US-ASCII ALL") {
            Ok((_, Command::Sort { ret, .. })) => assert_eq!(ret, None),
            other => panic!("{other:?}"),
        }
        assert!(parse_command(b"a SORT RETURN (PARTIAL 1:*) (ARRIVAL) US-ASCII ALL").is_err());
        assert!(parse_command(b"a SORT RETURN (ALL PARTIAL 1:2) (ARRIVAL) UTF-8 ALL").is_err());
    }
}
