//! SAVEDATE (RFC 8514) over the memory store: the date a message came into its mailbox,
//! not its INTERNALDATE, fetched and searched; a copy is saved anew.

use super::*;
use crate::date::{format_internal_date, unix_now};

/// A message dated long ago by APPEND's date-time, so INTERNALDATE and the save date differ.
const OLD: &str = "\" 1-Jan-2000 00:00:00 +0000\"";
const OLD_TS: i64 = 946_684_800;

fn save_dates(r: &[Response]) -> Vec<(u32, Option<i64>)> {
    fetches(r)
        .into_iter()
        .filter_map(|(seq, items)| {
            items.into_iter().find_map(|i| match i {
                FetchItem::SaveDate(d) => Some((seq, d)),
                _ => None,
            })
        })
        .collect()
}

fn searched(r: &[Response]) -> Vec<u32> {
    data(r)
        .into_iter()
        .find_map(|d| match d {
            Data::Search(ids) => Some(ids),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn savedate_is_when_saved_into_this_mailbox() {
    let store = MemoryStore::new();
    let mut c = Client::selected(&store, "INBOX");
    assert_eq!(last(&c.run("m CREATE Archive")).kind, Kind::Ok);
    let caps = raw(&mut c, "c CAPABILITY");
    assert!(caps.contains(" SAVEDATE"), "{caps}");
    let before = unix_now();
    let r = c.run(&format!("a APPEND INBOX {OLD} {{2}}\r\nhi"));
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let r = c.run("f FETCH 1 (INTERNALDATE SAVEDATE)");
    let after = unix_now();
    let items = &fetches(&r)[0].1;
    assert!(items.contains(&FetchItem::InternalDate(OLD_TS)), "{r:?}");
    let saved = save_dates(&r)[0].1.expect("a save date");
    assert!(
        (before..=after).contains(&saved),
        "{saved} not in {before}..={after}"
    );

    // SEARCH compares the save date's day, not INTERNALDATE's.
    let today = format_internal_date(saved);
    let Some(day) = today.get(..11).map(str::trim) else {
        panic!("{today}")
    };
    if format_internal_date(unix_now()).get(..11).map(str::trim) != Some(day) {
        eprintln!("SKIP: midnight passed during the test");
        return;
    }
    let search = |c: &mut Client, q: &str| searched(&c.run(&format!("s SEARCH {q}")));
    assert_eq!(search(&mut c, &format!("SAVEDON {day}")), vec![1]);
    assert_eq!(search(&mut c, &format!("SAVEDSINCE {day}")), vec![1]);
    assert_eq!(
        search(&mut c, &format!("SAVEDBEFORE {day}")),
        Vec::<u32>::new()
    );
    assert_eq!(search(&mut c, &format!("ON {day}")), Vec::<u32>::new());
    assert_eq!(search(&mut c, "SAVEDBEFORE 2-Jan-2000"), Vec::<u32>::new());
    assert_eq!(search(&mut c, "BEFORE 2-Jan-2000"), vec![1]);
    assert_eq!(search(&mut c, "SAVEDATESUPPORTED"), vec![1]);
    assert_eq!(search(&mut c, "NOT SAVEDATESUPPORTED"), Vec::<u32>::new());

    // The copy keeps INTERNALDATE but is saved into Archive now.
    let r = c.run("k COPY 1 Archive");
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let mut a = Client::selected(&store, "Archive");
    let r = a.run("f FETCH 1 (INTERNALDATE SAVEDATE)");
    assert!(
        fetches(&r)[0].1.contains(&FetchItem::InternalDate(OLD_TS)),
        "{r:?}"
    );
    let copied = save_dates(&r)[0].1.expect("a save date");
    assert!(copied >= saved && copied <= unix_now(), "{copied}");
    assert_eq!(
        raw(&mut a, "u UID FETCH 1 (SAVEDATE)"),
        format!(
            "* 1 FETCH (UID 1 SAVEDATE \"{}\")\r\nu OK Fetch completed\r\n",
            format_internal_date(copied)
        )
    );
}
