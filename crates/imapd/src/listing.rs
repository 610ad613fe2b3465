//! LIST/LSUB: wildcard matching (`*` crosses levels, `%` does not), the CHILDREN and
//! SPECIAL-USE attributes, the extended LIST of RFC 5258 ([`extended`]: selection options,
//! several patterns, `\NonExistent`, `\Subscribed`, CHILDINFO) and the subscriptions file
//! (changed under a cross-process lock).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use crate::uidlist::FileLock;

/// Subscriptions, one UTF-8 mailbox name a line, in the store root.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// Serialises changes to the subscriptions across processes (two session children of one
/// Unix user may SUBSCRIBE at once).
pub const SUBSCRIPTIONS_LOCK: &str = "ferrymail-subscriptions.lock";

/// The special-use folders created for new users, with their RFC 6154 attribute.
pub const SPECIAL_USE: [(&str, &str); 5] = [
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

pub fn special_use(name: &str) -> Option<&'static str> {
    SPECIAL_USE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
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
    /// `* LIST (...) "/" name [("CHILDINFO" (...))]` with CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("* LIST ({}) \"/\" ", self.attrs.join(" ")).as_bytes());
        ferrymail_imap_proto::encode::mailbox(out, &self.name);
        if !self.childinfo.is_empty() {
            let items: Vec<String> = self.childinfo.iter().map(|c| format!("\"{c}\"")).collect();
            out.extend_from_slice(format!(" (\"CHILDINFO\" ({}))", items.join(" ")).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
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
    args: &ferrymail_imap_proto::ListExtended,
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
            && (!select.special_use || (exists && special_use(name).is_some()))
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
            if let Some(su) = special_use(name) {
                attrs.push(su);
            }
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

pub fn load_subscriptions(root: &Path) -> Vec<String> {
    fs::read_to_string(root.join(SUBSCRIPTIONS_FILE))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Held across a read-modify-write of the subscriptions.
pub fn lock_subscriptions(root: &Path) -> io::Result<FileLock> {
    FileLock::acquire(&root.join(SUBSCRIPTIONS_LOCK))
}

/// Changes the subscriptions under [`lock_subscriptions`], so concurrent changes by other
/// processes are neither lost nor overwritten.
pub fn update_subscriptions(root: &Path, f: impl FnOnce(&mut Vec<String>)) -> io::Result<()> {
    let _lock = lock_subscriptions(root)?;
    let mut subs = load_subscriptions(root);
    f(&mut subs);
    save_subscriptions(root, &subs)
}

/// Writes the subscriptions; callers hold [`lock_subscriptions`].
pub fn save_subscriptions(root: &Path, subs: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for s in subs {
        text.push_str(s);
        text.push('\n');
    }
    ferrymail_fsutil::write_atomic(&root.join(SUBSCRIPTIONS_FILE), text.as_bytes(), 0o600)
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

    use ferrymail_imap_proto::{parse_command, Command};

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
        extended(names, subs, &args)
            .iter()
            .map(|e| {
                let mut out = Vec::new();
                e.encode(&mut out);
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
}
