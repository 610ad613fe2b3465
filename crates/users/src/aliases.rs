//! Aliases in `/etc/aliases` format.
//!
//! ```text
//! # comment
//! postmaster: root
//! root: root, admin@a.test
//! sales@a.test: joe, "|/usr/bin/ticket --queue sales",
//!     /var/archive/sales.mbox
//! @b.test: catchall@a.test
//! staff: :include:staff.list
//! ```
//!
//! A line starting with whitespace continues the previous entry. Targets are
//! separated by commas or whitespace; double quotes protect either.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::document::{Document, Record, Slot};
use crate::error::{EditError, LoadIssue};
use crate::files::{load_for_edit, numbered_lines};

/// One right-hand-side item of an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AliasTarget {
    /// `user@domain` (lowercased).
    Address(String),
    /// A bare name (lowercased): an alias, user or Unix account, looked up in
    /// the domain of the address being expanded.
    Local(String),
    /// `:include:/path` — a file of further targets. Relative paths are
    /// relative to the directory of the file that names them.
    Include(PathBuf),
    /// `|command` — pipe the message to a command.
    Pipe(String),
    /// `/path` — append to a file.
    File(PathBuf),
    /// `\name` — deliver to this user without alias expansion.
    NoExpand(String),
}

impl AliasTarget {
    /// Parses one (already unquoted) target.
    pub fn parse(token: &str) -> Result<AliasTarget, String> {
        let t = token.trim();
        if t.is_empty() {
            return Err("empty target".into());
        }
        if let Some(cmd) = t.strip_prefix('|') {
            let cmd = cmd.trim();
            if cmd.is_empty() {
                return Err("empty command after '|'".into());
            }
            return Ok(AliasTarget::Pipe(cmd.to_string()));
        }
        if t.len() >= 9
            && t.get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case(":include:"))
        {
            let p = t.get(9..).unwrap_or_default().trim();
            if p.is_empty() {
                return Err("empty path after :include:".into());
            }
            return Ok(AliasTarget::Include(PathBuf::from(p)));
        }
        if t.starts_with('/') {
            return Ok(AliasTarget::File(PathBuf::from(t)));
        }
        if let Some(name) = t.strip_prefix('\\') {
            return Ok(AliasTarget::NoExpand(normalize_name(name)?));
        }
        let name = normalize_name(t)?;
        if name.contains('@') {
            Ok(AliasTarget::Address(name))
        } else {
            Ok(AliasTarget::Local(name))
        }
    }
}

/// Checks and lowercases a bare name or `local@domain` address.
fn normalize_name(s: &str) -> Result<String, String> {
    let s = s.trim().to_lowercase();
    if s.is_empty() {
        return Err("empty name".into());
    }
    // Written back at the start of a line, it would read as a comment (found by fuzzing).
    if s.starts_with('#') {
        return Err(format!("invalid name {s:?}: '#' starts a comment"));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ':' | '"' | '<' | '>'))
    {
        return Err(format!("invalid name {s:?}"));
    }
    if let Some((l, d)) = s.rsplit_once('@') {
        if l.is_empty() || d.is_empty() || l.contains('@') {
            return Err(format!("invalid address {s:?}"));
        }
    }
    Ok(s)
}

/// Quotes a target when it contains characters that would split it.
fn quote_if_needed(s: &str) -> String {
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '"' | '#'))
    {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        s.to_string()
    }
}

impl fmt::Display for AliasTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = match self {
            AliasTarget::Address(a) | AliasTarget::Local(a) => a.clone(),
            AliasTarget::Include(p) => format!(":include:{}", p.display()),
            AliasTarget::Pipe(c) => format!("|{c}"),
            AliasTarget::File(p) => p.display().to_string(),
            AliasTarget::NoExpand(n) => format!("\\{n}"),
        };
        f.write_str(&quote_if_needed(&raw))
    }
}

/// One alias: `name: targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    /// Lowercased key: `name`, `name@domain`, or `@domain` (catch-all).
    pub name: String,
    pub targets: Vec<AliasTarget>,
}

impl AliasEntry {
    pub fn new(name: &str, targets: Vec<AliasTarget>) -> Result<AliasEntry, EditError> {
        let name = normalize_key(name).map_err(EditError::Invalid)?;
        if targets.is_empty() {
            return Err(EditError::Invalid(format!("{name}: no targets")));
        }
        Ok(AliasEntry { name, targets })
    }
}

impl Record for AliasEntry {
    fn key(&self) -> &str {
        &self.name
    }

    fn render(&self) -> String {
        let targets: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        format!("{}: {}", self.name, targets.join(", "))
    }
}

/// Checks and lowercases an alias key.
pub(crate) fn normalize_key(key: &str) -> Result<String, String> {
    let k = key.trim();
    if let Some(domain) = k.strip_prefix('@') {
        let d = normalize_name(domain)?;
        if d.contains('@') {
            return Err(format!("invalid catch-all {k:?}"));
        }
        return Ok(format!("@{d}"));
    }
    normalize_name(k)
}

/// Splits a right-hand side into raw targets: commas and whitespace separate,
/// double quotes group (with `\"` and `\\` escapes inside them).
pub(crate) fn split_targets(rhs: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = rhs.chars();
    let mut had_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                had_quotes = true;
            }
            '\\' if quoted => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err("backslash at end of line".into()),
            },
            c if !quoted && (c == ',' || c.is_whitespace()) => {
                if !cur.is_empty() || had_quotes {
                    out.push(std::mem::take(&mut cur));
                }
                had_quotes = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if !cur.is_empty() || had_quotes {
        out.push(cur);
    }
    Ok(out)
}

pub(crate) fn parse_targets(rhs: &str) -> Result<Vec<AliasTarget>, String> {
    split_targets(rhs)?
        .iter()
        .map(|t| AliasTarget::parse(t))
        .collect()
}

/// Parses one logical entry (`name: targets`, continuation lines joined).
fn parse_entry(logical: &str) -> Result<AliasEntry, String> {
    let (key, rhs) = logical
        .split_once(':')
        .ok_or_else(|| "expected name: target, ...".to_string())?;
    let name = normalize_key(key)?;
    let targets = parse_targets(rhs)?;
    if targets.is_empty() {
        return Err(format!("{name}: no targets"));
    }
    Ok(AliasEntry { name, targets })
}

/// Parses an `:include:` file: targets separated by commas, whitespace or
/// newlines; `#` comment lines. Returns the targets and per-line problems.
/// (Includes are followed by address resolution, which is the user database's.)
#[cfg(feature = "userdb")]
pub(crate) fn parse_include(text: &str) -> (Vec<AliasTarget>, Vec<(usize, String)>) {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match parse_targets(t) {
            Ok(mut ts) => targets.append(&mut ts),
            Err(e) => problems.push((n, format!("line skipped: {e}"))),
        }
    }
    (targets, problems)
}

/// Editable aliases file.
#[derive(Debug, Clone)]
pub struct AliasesFile {
    doc: Document<AliasEntry>,
}

struct Pending {
    first_line: usize,
    logical: String,
    original: String,
}

impl AliasesFile {
    /// Loads `path`; a missing file is an empty one (created on save).
    pub fn load(path: impl AsRef<Path>) -> Result<AliasesFile, EditError> {
        let path = path.as_ref();
        let (text, stamp) = load_for_edit(path)?;
        let mut file = AliasesFile::parse(path, &text);
        file.doc.stamp = stamp;
        Ok(file)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> AliasesFile {
        let mut doc = Document::new(path, None);
        let mut current: Option<Pending> = None;
        // Comment and blank lines seen while an entry is open: they belong to
        // the entry if a continuation line follows, otherwise they stand alone.
        let mut held: Vec<String> = Vec::new();

        fn finish(doc: &mut Document<AliasEntry>, p: Pending) {
            match parse_entry(&p.logical) {
                Ok(entry) => doc.push_loaded(p.first_line, entry, p.original),
                Err(reason) => {
                    doc.issue(p.first_line, format!("entry skipped: {reason}"));
                    doc.slots.push(Slot::Text(p.original));
                }
            }
        }

        for (n, line) in numbered_lines(text) {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                if current.is_some() {
                    held.push(line.to_string());
                } else {
                    doc.slots.push(Slot::Text(line.to_string()));
                }
                continue;
            }
            if line.starts_with(|c: char| c.is_whitespace()) {
                if let Some(p) = current.as_mut() {
                    for h in held.drain(..) {
                        p.original.push('\n');
                        p.original.push_str(&h);
                    }
                    p.original.push('\n');
                    p.original.push_str(line);
                    p.logical.push(' ');
                    p.logical.push_str(t);
                } else {
                    doc.issue(n, "continuation line without an alias before it; skipped");
                    doc.slots.push(Slot::Text(line.to_string()));
                }
                continue;
            }
            if let Some(p) = current.take() {
                finish(&mut doc, p);
                doc.slots.extend(held.drain(..).map(Slot::Text));
            }
            current = Some(Pending {
                first_line: n,
                logical: t.to_string(),
                original: line.to_string(),
            });
        }
        if let Some(p) = current.take() {
            finish(&mut doc, p);
            doc.slots.extend(held.drain(..).map(Slot::Text));
        }
        AliasesFile { doc }
    }

    pub fn path(&self) -> &Path {
        &self.doc.path
    }

    pub fn issues(&self) -> &[LoadIssue] {
        &self.doc.issues
    }

    pub fn entries(&self) -> impl Iterator<Item = &AliasEntry> {
        self.doc.entries()
    }

    pub fn get(&self, name: &str) -> Option<&AliasEntry> {
        normalize_key(name).ok().and_then(|k| self.doc.get(&k))
    }

    /// Creates the alias or replaces its targets.
    pub fn set(&mut self, name: &str, targets: Vec<AliasTarget>) -> Result<(), EditError> {
        let entry = AliasEntry::new(name, targets)?;
        match self.doc.get_mut(&entry.name) {
            Some(existing) => {
                *existing = entry;
                Ok(())
            }
            None => self.doc.insert(entry),
        }
    }

    pub fn remove(&mut self, name: &str) -> Result<AliasEntry, EditError> {
        let key = normalize_key(name).map_err(EditError::Invalid)?;
        self.doc.remove(&key)
    }

    pub fn render(&self) -> String {
        self.doc.render()
    }

    /// Writes the file atomically (new files get mode 0644).
    pub fn save(&mut self) -> Result<(), EditError> {
        self.doc.save(0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_would_read_back_as_a_comment_is_refused() {
        let t = vec![AliasTarget::parse("joe@a.test").unwrap()];
        assert!(AliasEntry::new("#postmaster", t.clone()).is_err());
        assert!(AliasEntry::new("@#a.test", t.clone()).is_err());
        assert!(AliasEntry::new("post#master", t).is_ok());
    }

    #[test]
    fn target_kinds() {
        let ts = parse_targets(
            r#"Joe, sales@A.test "|/usr/bin/x --a b", /var/mail/f, :include:list, \Root"#,
        )
        .unwrap();
        assert_eq!(
            ts,
            vec![
                AliasTarget::Local("joe".into()),
                AliasTarget::Address("sales@a.test".into()),
                AliasTarget::Pipe("/usr/bin/x --a b".into()),
                AliasTarget::File("/var/mail/f".into()),
                AliasTarget::Include("list".into()),
                AliasTarget::NoExpand("root".into()),
            ]
        );
        for t in &ts {
            let again = parse_targets(&t.to_string()).unwrap();
            assert_eq!(again, vec![t.clone()], "{t}");
        }
    }

    #[test]
    fn bad_targets() {
        assert!(parse_targets("\"unterminated").is_err());
        assert!(parse_targets("|").is_err());
        assert!(parse_targets("a@").is_err());
        assert!(parse_targets("\"\"").is_err());
    }
}
