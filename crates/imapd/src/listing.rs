//! LIST/LSUB: wildcard matching (`*` crosses levels, `%` does not), the CHILDREN and
//! SPECIAL-USE attributes, and the subscriptions file.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

/// Subscriptions, one UTF-8 mailbox name a line, in the store root.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions";

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

pub fn save_subscriptions(root: &Path, subs: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for s in subs {
        text.push_str(s);
        text.push('\n');
    }
    crate::atomic::write(&root.join(SUBSCRIPTIONS_FILE), text.as_bytes())
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
