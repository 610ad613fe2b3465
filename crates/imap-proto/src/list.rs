//! LIST and LSUB semantics: wildcard matching (`*` crosses levels, `%` does not), the
//! CHILDREN and SPECIAL-USE attributes, and the extended LIST of RFC 5258 ([`extended`]:
//! selection options, several patterns, `\NonExistent`, `\Subscribed`, CHILDINFO) — over
//! the names a store has, whatever it keeps them in.

use std::collections::BTreeSet;

use crate::response::{Data, ListItem, Response};

/// The special-use folders created for new users, with their RFC 6154 attribute.
pub const SPECIAL_USE: [(&str, &str); 5] = [
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// The names other mail clients give the special-use folders (Apple Mail, Outlook), and the
/// folder each one means: a store resolves them to that folder unless a folder of that very
/// name exists, so clients of different makers share one Sent, Trash and Junk.
pub const CLIENT_NAMES: [(&str, &str); 7] = [
    ("Sent Messages", "Sent"),
    ("Sent Items", "Sent"),
    ("Deleted Messages", "Trash"),
    ("Deleted Items", "Trash"),
    ("Junk E-mail", "Junk"),
    ("Junk Email", "Junk"),
    ("Spam", "Junk"),
];

/// The special-use folder another client's name stands for ([`CLIENT_NAMES`]).
pub fn special_use_folder_for(name: &str) -> Option<&'static str> {
    CLIENT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, folder)| *folder)
}

pub fn special_use(name: &str) -> Option<&'static str> {
    SPECIAL_USE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
}

/// The special-use attributes defined (RFC 6154, and RFC 8457's `\\Important`).
pub const USE_ATTRIBUTES: [&str; 8] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
    "\\Important",
];

/// The special uses a mailbox here can be given (CREATE-SPECIAL-USE, or METADATA's
/// `/private/specialuse`): the others name views the server would have to make (all mail,
/// flagged mail, important mail), which a Maildir store does not.
pub const SETTABLE_USES: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// The METADATA entry holding a mailbox's special use (RFC 6154 §4).
pub const SPECIAL_USE_ENTRY: &str = "/private/specialuse";

/// Why a special use cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseError {
    /// Not a special-use attribute at all.
    Unknown(String),
    /// Defined, but not one a mailbox here can carry.
    Unsupported(&'static str),
}

/// The attributes of a space-separated special-use list in their canonical spelling, each
/// once; an empty list is valid (no special use).
pub fn parse_uses<'a>(
    attrs: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<&'static str>, UseError> {
    let mut out = Vec::new();
    for a in attrs {
        let Some(known) = USE_ATTRIBUTES.iter().find(|k| k.eq_ignore_ascii_case(a)) else {
            return Err(UseError::Unknown(a.to_owned()));
        };
        if !SETTABLE_USES.contains(known) {
            return Err(UseError::Unsupported(known));
        }
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(out)
}

/// The special-use attributes of the user's mailboxes: those set on a mailbox, and for the
/// rest the default folders' own ([`SPECIAL_USE`]).
#[derive(Debug, Clone, Default)]
pub struct SpecialUses(Vec<(String, Vec<&'static str>)>);

impl SpecialUses {
    /// From the stored `/private/specialuse` values, by mailbox; unparsable values are
    /// ignored (they were checked when set).
    pub fn new(set: impl IntoIterator<Item = (String, String)>) -> SpecialUses {
        SpecialUses(
            set.into_iter()
                .filter_map(|(name, value)| {
                    Some((name, parse_uses(value.split_whitespace()).ok()?))
                })
                .collect(),
        )
    }

    pub fn of(&self, name: &str) -> Vec<&'static str> {
        match self.0.iter().find(|(n, _)| n == name) {
            Some((_, attrs)) => attrs.clone(),
            None => special_use(name).into_iter().collect(),
        }
    }
}

/// Matches a LIST pattern against a name. INBOX compares case-insensitively.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let inbox_ci = |c: &[char]| -> Vec<char> {
        let s: String = c.iter().collect();
        let upper = s.to_ascii_uppercase();
        if upper == "INBOX" || upper.starts_with("INBOX/") {
            let mut v: Vec<char> = "INBOX".chars().collect();
            v.extend(c.iter().skip(5));
            v
        } else {
            c.to_vec()
        }
    };
    let p = inbox_ci(&p);
    let n = inbox_ci(&n);
    glob(&p, &n, 0)
}

fn glob(p: &[char], n: &[char], depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            (0..=n.len()).any(|i| glob(&p[1..], n.get(i..).unwrap_or_default(), depth + 1))
        }
        Some('%') => {
            let limit = n.iter().position(|&c| c == '/').unwrap_or(n.len());
            (0..=limit).any(|i| glob(&p[1..], n.get(i..).unwrap_or_default(), depth + 1))
        }
        Some(c) => n.first() == Some(c) && glob(&p[1..], &n[1..], depth + 1),
    }
}

/// Every name to consider for LIST: the mailboxes plus their missing ancestors, with
/// whether each one really exists.
pub fn with_ancestors(names: &[String]) -> Vec<(String, bool)> {
    let real: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut all: BTreeSet<String> = names.iter().cloned().collect();
    for n in names {
        let mut acc = String::new();
        for (i, comp) in n.split('/').enumerate() {
            if i > 0 {
                acc.push('/');
            }
            acc.push_str(comp);
            all.insert(acc.clone());
        }
    }
    all.into_iter()
        .map(|n| {
            let exists = real.contains(n.as_str());
            (n, exists)
        })
        .collect()
}

pub fn has_children(name: &str, all: &[(String, bool)]) -> bool {
    let prefix = format!("{name}/");
    all.iter().any(|(n, _)| n.starts_with(&prefix))
}

/// One line of an extended LIST (RFC 5258).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub name: String,
    pub attrs: Vec<&'static str>,
    /// The selection criteria some descendant meets that the patterns do not show
    /// (`CHILDINFO`, only with RECURSIVEMATCH).
    pub childinfo: Vec<&'static str>,
    /// A STATUS response follows (LIST-STATUS): the mailbox exists and meets the selection
    /// criteria itself (not only through a descendant).
    pub status: bool,
}

impl ListEntry {
    /// `* LIST (...) "/" name [("CHILDINFO" (...))]`.
    pub fn to_response(&self) -> Response {
        Response::Data(Data::List(ListItem {
            attrs: self.attrs.iter().map(|a| a.to_string()).collect(),
            delimiter: Some('/'),
            mailbox: self.name.clone(),
            childinfo: self.childinfo.iter().map(|c| c.to_string()).collect(),
        }))
    }
}

/// The extended LIST over the user's mailboxes `names` and subscriptions `subs`: which names
/// are listed, with which attributes, in name order.
///
/// Without a selection option every mailbox is a candidate, and the hierarchy levels that
/// only exist as parents on disk are listed as `\NonExistent` (as plain LIST lists them
/// `\Noselect`). SUBSCRIBED selects subscribed names, existing or not; SPECIAL-USE selects
/// mailboxes with a special-use attribute; both together select their intersection.
/// RECURSIVEMATCH adds each name that matches a pattern and has a descendant that meets
/// the criteria without matching any pattern, with CHILDINFO naming the criteria
/// (RFC 5258 §3.5: nothing is reported twice).
pub fn extended(
    names: &[String],
    subs: &[String],
    uses: &SpecialUses,
    args: &crate::types::ListExtended,
) -> Vec<ListEntry> {
    use std::collections::BTreeMap;
    let select = &args.select;
    let ret = &args.ret;
    let tree = with_ancestors(names);
    let subscribed: BTreeSet<&str> = subs.iter().map(String::as_str).collect();
    let mut universe: BTreeMap<String, bool> = tree.iter().cloned().collect();
    if select.subscribed {
        for s in subs {
            universe.entry(s.clone()).or_insert(false);
            if select.recursive_match {
                // A parent of a subscribed name may be listed for its CHILDINFO.
                let mut acc = String::new();
                for (i, comp) in s.split('/').enumerate() {
                    if i > 0 {
                        acc.push('/');
                    }
                    acc.push_str(comp);
                    universe.entry(acc.clone()).or_insert(false);
                }
            }
        }
    }
    let patterns: Vec<String> = args
        .patterns
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{}{p}", args.reference))
        .collect();
    let matched = |name: &str| patterns.iter().any(|p| matches(p, name));
    let plain = !select.subscribed && !select.special_use;
    // Meets the selection criteria (placeholders count in the plain case, to be listed).
    let meets = |name: &str, exists: bool| {
        if plain {
            return true;
        }
        (!select.subscribed || subscribed.contains(name))
            && (!select.special_use || (exists && !uses.of(name).is_empty()))
    };
    let mut criteria = Vec::new();
    if select.subscribed {
        criteria.push("SUBSCRIBED");
    }
    if select.special_use {
        criteria.push("SPECIAL-USE");
    }
    let mut out = Vec::new();
    for (name, &exists) in &universe {
        if !matched(name) {
            continue;
        }
        let selected = meets(name, exists);
        let mut childinfo = Vec::new();
        if select.recursive_match {
            let prefix = format!("{name}/");
            let hidden_child = universe
                .range(prefix.clone()..)
                .take_while(|(n, _)| n.starts_with(&prefix))
                .any(|(n, &e)| meets(n, e) && !matched(n));
            if hidden_child {
                childinfo.clone_from(&criteria);
            }
        }
        if !selected && childinfo.is_empty() {
            continue;
        }
        let mut attrs = Vec::new();
        if !exists {
            attrs.push("\\NonExistent");
        }
        attrs.push(if has_children(name, &tree) {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        if exists {
            attrs.extend(uses.of(name));
        }
        if ret.subscribed && subscribed.contains(name.as_str()) {
            attrs.push("\\Subscribed");
        }
        out.push(ListEntry {
            name: name.clone(),
            attrs,
            childinfo,
            status: selected && exists && ret.status.is_some(),
        });
    }
    out
}

/// Plain LIST (`subs` None) or LSUB (`subs` the subscribed names) of RFC 3501 §6.3.8-9,
/// in name order. LIST shows the levels that only exist as parents as `\Noselect`. LSUB
/// shows subscribed names whether they exist or not, and — when a subscribed name does not
/// match but one of its unsubscribed ancestors does (a `%` pattern) — that ancestor with
/// `\Noselect` (RFC 3501 §6.3.9).
pub fn plain(
    names: &[String],
    subs: Option<&[String]>,
    uses: &SpecialUses,
    pattern: &str,
) -> Vec<Response> {
    let all = with_ancestors(names);
    let Some(subs) = subs else {
        return all
            .iter()
            .filter(|(name, _)| matches(pattern, name))
            .map(|(name, exists)| {
                let mut attrs = Vec::new();
                if !exists {
                    attrs.push("\\Noselect".to_owned());
                }
                attrs.push(
                    if has_children(name, &all) {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    }
                    .to_owned(),
                );
                if *exists {
                    attrs.extend(uses.of(name).into_iter().map(str::to_owned));
                }
                Response::Data(Data::List(ListItem {
                    attrs,
                    delimiter: Some('/'),
                    mailbox: name.clone(),
                    childinfo: Vec::new(),
                }))
            })
            .collect();
    };
    let subscribed: BTreeSet<&str> = subs.iter().map(String::as_str).collect();
    // name -> listed only as the \Noselect parent of subscribed children.
    let mut listed: std::collections::BTreeMap<String, bool> = Default::default();
    for s in &subscribed {
        if matches(pattern, s) {
            listed.insert((*s).to_owned(), false);
            continue;
        }
        let mut acc = String::new();
        for comp in s.split('/') {
            if !acc.is_empty() {
                if matches(pattern, &acc) && !subscribed.contains(acc.as_str()) {
                    listed.entry(acc.clone()).or_insert(true);
                }
                acc.push('/');
            }
            acc.push_str(comp);
        }
    }
    listed
        .into_iter()
        .map(|(name, parent_only)| {
            Response::Data(Data::Lsub(ListItem {
                attrs: if parent_only {
                    vec!["\\Noselect".to_owned()]
                } else {
                    Vec::new()
                },
                delimiter: Some('/'),
                mailbox: name,
                childinfo: Vec::new(),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "INBOX"));
        assert!(matches("*", "A/B/C"));
        assert!(matches("%", "A"));
        assert!(!matches("%", "A/B"));
        assert!(matches("A/%", "A/B"));
        assert!(!matches("A/%", "A/B/C"));
        assert!(matches("A/*", "A/B/C"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/%", "INBOX/x"));
        assert!(!matches("sent", "Sent"));
        assert!(matches("S*t", "Sent"));
        assert!(matches("%/%", "A/B"));
    }

    use crate::{parse_command, Command};

    /// The mailboxes and subscriptions of RFC 5258 §5's examples, on our store: Fruit/Peach
    /// is subscribed but does not exist.
    fn rfc5258_store() -> (Vec<String>, Vec<String>) {
        let names = [
            "INBOX",
            "Fruit",
            "Fruit/Apple",
            "Fruit/Banana",
            "Tofu",
            "Vegetable",
            "Vegetable/Broccoli",
            "Vegetable/Corn",
        ];
        let subs = [
            "INBOX",
            "Fruit/Banana",
            "Fruit/Peach",
            "Vegetable",
            "Vegetable/Broccoli",
        ];
        (
            names.iter().map(|s| s.to_string()).collect(),
            subs.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn list(cmd: &str, names: &[String], subs: &[String]) -> Vec<String> {
        let Ok((_, Command::ListExtended(args))) = parse_command(cmd.as_bytes()) else {
            panic!("{cmd}")
        };
        extended(names, subs, &SpecialUses::default(), &args)
            .iter()
            .map(|e| {
                let out = e.to_response().to_bytes();
                let mut l = String::from_utf8(out).unwrap();
                l.truncate(l.len() - 2);
                if e.status {
                    l.push_str(" +STATUS");
                }
                l
            })
            .collect()
    }

    #[test]
    fn rfc5258_subscribed_selection_lists_nonexistent_subscriptions() {
        let (names, subs) = rfc5258_store();
        // Example 2.
        assert_eq!(
            list("A02 LIST (SUBSCRIBED) \"\" \"*\"", &names, &subs),
            [
                "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"".to_owned(),
                "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"".into(),
                "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"".into(),
                "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\"".into(),
                "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Vegetable/Broccoli\"".into(),
            ]
        );
        // Example 3: RETURN (CHILDREN) over everything; example 6: RETURN (SUBSCRIBED).
        let all = list("A03 LIST () \"\" \"%\" RETURN (CHILDREN)", &names, &subs);
        assert_eq!(
            all,
            [
                "* LIST (\\HasChildren) \"/\" \"Fruit\"",
                "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
                "* LIST (\\HasNoChildren) \"/\" \"Tofu\"",
                "* LIST (\\HasChildren) \"/\" \"Vegetable\"",
            ]
        );
        let ret = list(
            "A06 LIST (REMOTE) \"\" \"*\" RETURN (SUBSCRIBED)",
            &names,
            &subs,
        );
        assert_eq!(ret.len(), names.len(), "{ret:?}");
        assert!(
            ret.contains(&"* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\"".into())
        );
        assert!(ret.contains(&"* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\"".into()));
        // Without the SUBSCRIBED selection option a subscription alone lists nothing.
        assert!(!ret.iter().any(|l| l.contains("Peach")));
    }

    #[test]
    fn rfc5258_recursivematch_reports_childinfo_once() {
        let (names, subs) = rfc5258_store();
        // Example 8 on our data: Fruit is not subscribed but has subscribed children
        // that "%" does not show; Vegetable is subscribed and also has one.
        assert_eq!(
            list("C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"", &names, &subs),
            [
                "* LIST (\\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
                "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
                "* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            ]
        );
        // With "*" every subscribed descendant is listed itself: no CHILDINFO at all.
        let star = list(
            "C05 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\"",
            &names,
            &subs,
        );
        assert_eq!(
            star,
            list("A02 LIST (SUBSCRIBED) \"\" \"*\"", &names, &subs)
        );
        // A subscribed name below a level that does not exist on disk at all.
        let subs2 = vec!["Gone/Box".to_owned()];
        assert_eq!(
            list("C06 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"", &names, &subs2),
            ["* LIST (\\NonExistent \\HasNoChildren) \"/\" \"Gone\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]
        );
    }

    #[test]
    fn multiple_patterns_special_use_and_status_marks() {
        let names: Vec<String> = ["INBOX", "Sent", "Sent/2023", "Trash", "Projects/A"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let subs = vec!["INBOX".to_owned()];
        assert_eq!(
            list(
                "A1 LIST () \"\" (\"INBOX\" \"Sent*\" \"inbox\") RETURN (STATUS (MESSAGES))",
                &names,
                &subs
            ),
            [
                "* LIST (\\HasNoChildren) \"/\" \"INBOX\" +STATUS",
                "* LIST (\\HasChildren \\Sent) \"/\" \"Sent\" +STATUS",
                "* LIST (\\HasNoChildren) \"/\" \"Sent/2023\" +STATUS",
            ]
        );
        // A hierarchy level without a mailbox of its own: \NonExistent, and no STATUS.
        assert_eq!(
            list(
                "A2 LIST \"\" \"Pro%\" RETURN (STATUS (MESSAGES))",
                &names,
                &subs
            ),
            ["* LIST (\\NonExistent \\HasChildren) \"/\" \"Projects\""]
        );
        assert_eq!(
            list("A3 LIST (SPECIAL-USE) \"\" \"*\"", &names, &subs),
            [
                "* LIST (\\HasChildren \\Sent) \"/\" \"Sent\"",
                "* LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\"",
            ]
        );
        assert!(list("A4 LIST (SPECIAL-USE SUBSCRIBED) \"\" \"*\"", &names, &subs).is_empty());
    }

    #[test]
    fn ancestors_are_listed_as_missing() {
        let all = with_ancestors(&["INBOX".into(), "A/B/C".into(), "A".into()]);
        assert_eq!(
            all,
            vec![
                ("A".into(), true),
                ("A/B".into(), false),
                ("A/B/C".into(), true),
                ("INBOX".into(), true)
            ]
        );
        assert!(has_children("A", &all));
        assert!(!has_children("A/B/C", &all));
    }

    fn lines(rs: Vec<Response>) -> Vec<String> {
        rs.iter()
            .map(|r| {
                String::from_utf8(r.to_bytes())
                    .unwrap()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn lsub_shows_unsubscribed_parents_of_subscribed_children_as_noselect() {
        let names: Vec<String> = ["INBOX", "t", "t/a", "t/b", "t/b/x", "t/c/y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let subs: Vec<String> = ["t/a", "t/b/x", "t/c/y", "gone/z"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            lines(plain(&names, Some(&subs), &SpecialUses::default(), "t/%")),
            [
                "* LSUB () \"/\" \"t/a\"",
                "* LSUB (\\Noselect) \"/\" \"t/b\"",
                "* LSUB (\\Noselect) \"/\" \"t/c\"",
            ]
        );
        assert_eq!(
            lines(plain(&names, Some(&subs), &SpecialUses::default(), "*")),
            [
                "* LSUB () \"/\" \"gone/z\"",
                "* LSUB () \"/\" \"t/a\"",
                "* LSUB () \"/\" \"t/b/x\"",
                "* LSUB () \"/\" \"t/c/y\"",
            ]
        );
        assert_eq!(
            lines(plain(&names, None, &SpecialUses::default(), "t/%")),
            [
                "* LIST (\\HasNoChildren) \"/\" \"t/a\"",
                "* LIST (\\HasChildren) \"/\" \"t/b\"",
                "* LIST (\\Noselect \\HasChildren) \"/\" \"t/c\"",
            ]
        );
    }
}
