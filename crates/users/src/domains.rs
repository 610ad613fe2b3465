//! The local domains file: one domain per line, `#` comments.

use std::path::Path;

use crate::document::{Document, Record};
use crate::error::{EditError, LoadIssue};
use crate::files::load_for_edit;

/// Lowercases a domain, drops one trailing dot, and checks it is a plausible
/// host name (UTF-8 labels allowed, no empty labels, no address syntax).
pub fn normalize_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim().to_lowercase();
    let d = d.strip_suffix('.').unwrap_or(&d).to_string();
    if d.is_empty() || d.len() > 253 {
        return Err(format!("invalid domain {domain:?}"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    };
    if !d.split('.').all(label_ok) {
        return Err(format!("invalid domain {domain:?}"));
    }
    Ok(d)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainLine(pub(crate) String);

impl Record for DomainLine {
    fn key(&self) -> &str {
        &self.0
    }
    fn render(&self) -> String {
        self.0.clone()
    }
}

/// Editable domains file.
#[derive(Debug, Clone)]
pub struct DomainsFile {
    doc: Document<DomainLine>,
}

impl DomainsFile {
    /// Loads `path`; a missing file is an empty one (created on save).
    pub fn load(path: impl AsRef<Path>) -> Result<DomainsFile, EditError> {
        let path = path.as_ref();
        let (text, stamp) = load_for_edit(path)?;
        let mut file = DomainsFile::parse(path, &text);
        file.doc.stamp = stamp;
        Ok(file)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> DomainsFile {
        let doc = Document::from_lines(path, text, |line| {
            Ok((DomainLine(normalize_domain(line.trim())?), Vec::new()))
        });
        DomainsFile { doc }
    }

    pub fn path(&self) -> &Path {
        &self.doc.path
    }

    pub fn issues(&self) -> &[LoadIssue] {
        &self.doc.issues
    }

    /// The domains, normalised, in file order.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.doc.entries().map(|d| d.0.as_str())
    }

    pub fn contains(&self, domain: &str) -> bool {
        normalize_domain(domain).is_ok_and(|d| self.doc.get(&d).is_some())
    }

    pub fn add(&mut self, domain: &str) -> Result<(), EditError> {
        let d = normalize_domain(domain).map_err(EditError::Invalid)?;
        self.doc.insert(DomainLine(d))
    }

    pub fn remove(&mut self, domain: &str) -> Result<(), EditError> {
        let d = normalize_domain(domain).map_err(EditError::Invalid)?;
        self.doc.remove(&d).map(|_| ())
    }

    pub fn render(&self) -> String {
        self.doc.render()
    }

    /// Writes the file atomically (new files get mode 0644).
    pub fn save(&mut self) -> Result<(), EditError> {
        self.doc.save(0o644)
    }
}
