//! Line-preserving editable model shared by the passwd, aliases and domains
//! files: records that were not touched, comments, blank lines and lines that
//! could not be parsed are written back byte for byte.

use std::path::{Path, PathBuf};

use crate::error::{EditError, LoadIssue};
use crate::files::{numbered_lines, save_checked, FileStamp};

/// A parsed record of one of the files.
pub(crate) trait Record {
    /// The lookup key (login, alias name, domain), already normalised.
    fn key(&self) -> &str;
    /// The record as file text, without a trailing newline.
    fn render(&self) -> String;
}

#[derive(Debug, Clone)]
pub(crate) enum Slot<T> {
    /// Comment, blank, malformed or duplicate text, kept verbatim.
    Text(String),
    /// A record; `original` is its text while unmodified.
    Entry { entry: T, original: Option<String> },
}

#[derive(Debug, Clone)]
pub(crate) struct Document<T> {
    pub(crate) path: PathBuf,
    pub(crate) stamp: Option<FileStamp>,
    pub(crate) slots: Vec<Slot<T>>,
    pub(crate) issues: Vec<LoadIssue>,
}

impl<T: Record> Document<T> {
    pub(crate) fn new(path: &Path, stamp: Option<FileStamp>) -> Self {
        Document {
            path: path.to_path_buf(),
            stamp,
            slots: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Reads a file of one record per line. Blank and comment lines stay as text; `parse`
    /// turns any other line into a record (plus warnings) or says why it cannot. Bad lines
    /// and repeated keys are reported as load issues and kept verbatim, so a save changes
    /// nothing the administrator wrote.
    pub(crate) fn from_lines(
        path: &Path,
        text: &str,
        parse: impl Fn(&str) -> Result<(T, Vec<String>), String>,
    ) -> Self {
        let mut doc = Document::new(path, None);
        for (n, line) in numbered_lines(text) {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                doc.slots.push(Slot::Text(line.to_string()));
                continue;
            }
            match parse(line) {
                Ok((entry, warnings)) => {
                    for w in warnings {
                        doc.issue(n, w);
                    }
                    doc.push_loaded(n, entry, line.to_string());
                }
                Err(reason) => {
                    doc.issue(n, format!("line skipped: {reason}"));
                    doc.slots.push(Slot::Text(line.to_string()));
                }
            }
        }
        doc
    }

    /// Adds a record read from line `n`, unless its key came earlier in the file: the
    /// first one wins and the repeat is reported and kept as text.
    pub(crate) fn push_loaded(&mut self, n: usize, entry: T, original: String) {
        if self.get(entry.key()).is_some() {
            self.issue(
                n,
                format!("duplicate entry {}; the first one is used", entry.key()),
            );
            self.slots.push(Slot::Text(original));
        } else {
            self.slots.push(Slot::Entry {
                entry,
                original: Some(original),
            });
        }
    }

    pub(crate) fn issue(&mut self, line: usize, reason: impl Into<String>) {
        self.issues
            .push(LoadIssue::new(self.path.clone(), Some(line), reason));
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Entry { entry, .. } => Some(entry),
            Slot::Text(_) => None,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&T> {
        self.entries().find(|e| e.key() == key)
    }

    /// Mutable access; the record will be re-rendered on save.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.slots.iter_mut().find_map(|s| match s {
            Slot::Entry { entry, original } if entry.key() == key => {
                *original = None;
                Some(entry)
            }
            _ => None,
        })
    }

    pub(crate) fn insert(&mut self, entry: T) -> Result<(), EditError> {
        if self.get(entry.key()).is_some() {
            return Err(EditError::AlreadyExists(entry.key().to_string()));
        }
        self.slots.push(Slot::Entry {
            entry,
            original: None,
        });
        Ok(())
    }

    pub(crate) fn remove(&mut self, key: &str) -> Result<T, EditError> {
        let idx = self
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Entry { entry, .. } if entry.key() == key))
            .ok_or_else(|| EditError::NotFound(key.to_string()))?;
        match self.slots.remove(idx) {
            Slot::Entry { entry, .. } => Ok(entry),
            Slot::Text(_) => Err(EditError::NotFound(key.to_string())),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for slot in &self.slots {
            match slot {
                Slot::Text(t) => out.push_str(t),
                Slot::Entry {
                    original: Some(o), ..
                } => out.push_str(o),
                Slot::Entry {
                    entry,
                    original: None,
                } => out.push_str(&entry.render()),
            }
            out.push('\n');
        }
        out
    }

    pub(crate) fn save(&mut self, new_mode: u32) -> Result<(), EditError> {
        let text = self.render();
        let stamp = save_checked(&self.path, self.stamp, &text, new_mode)?;
        self.stamp = Some(stamp);
        for slot in &mut self.slots {
            if let Slot::Entry { entry, original } = slot {
                if original.is_none() {
                    *original = Some(entry.render());
                }
            }
        }
        Ok(())
    }
}
