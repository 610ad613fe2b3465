//! One consistent, immutable view of all user database files, built in full
//! before it replaces the previous one.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::aliases::{parse_include, AliasTarget, AliasesFile};
use crate::domains::{normalize_domain, DomainsFile};
use crate::error::LoadIssue;
use crate::files::{read_text, FileStamp, ReadOutcome};
use crate::passwd_file::{PasswdEntry, PasswdFile};
use crate::unix_accounts::{self, UnixAccounts};
use crate::UserDbConfig;

/// Deepest chain of `:include:` files inside `:include:` files.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 4;

#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) users: HashMap<String, PasswdEntry>,
    /// In file order, for listing.
    pub(crate) user_order: Vec<String>,
    pub(crate) aliases: HashMap<String, Vec<AliasTarget>>,
    /// Keyed by the absolute path that alias targets were rewritten to.
    pub(crate) includes: HashMap<PathBuf, Vec<AliasTarget>>,
    pub(crate) domains: HashSet<String>,
    pub(crate) unix: Option<UnixAccounts>,
    pub(crate) delimiter: Option<char>,
    pub(crate) issues: Vec<LoadIssue>,
    /// Every file this snapshot depends on, with its version when read
    /// (`None` = absent). A difference on disk triggers a reload.
    pub(crate) watched: Vec<(PathBuf, Option<FileStamp>)>,
}

/// A reload that must not replace the current data.
#[derive(Debug)]
pub(crate) struct LoadFailure {
    pub(crate) path: PathBuf,
    pub(crate) source: io::Error,
}

impl Snapshot {
    pub(crate) fn is_local_domain(&self, domain: &str) -> bool {
        normalize_domain(domain).is_ok_and(|d| self.domains.contains(&d))
    }

    /// The watched files' current stamps; `None` if a stat failed (which is
    /// then treated as a change).
    pub(crate) fn stamps_on_disk(&self) -> Option<Vec<Option<FileStamp>>> {
        self.watched
            .iter()
            .map(|(p, _)| FileStamp::of(p).ok())
            .collect()
    }

    pub(crate) fn changed_on_disk(&self) -> bool {
        match self.stamps_on_disk() {
            Some(now) => now.iter().zip(&self.watched).any(|(n, (_, old))| n != old),
            None => true,
        }
    }
}

/// How the loader reads a file: [`read_text`] in production; the fuzz harness
/// passes a reader confined to its scratch directory.
pub(crate) type ReadFn<'a> = &'a dyn Fn(&Path) -> io::Result<ReadOutcome>;

struct Loader<'a> {
    prev: Option<&'a Snapshot>,
    read: ReadFn<'a>,
    issues: Vec<LoadIssue>,
    watched: Vec<(PathBuf, Option<FileStamp>)>,
}

impl Loader<'_> {
    fn was_present(&self, path: &Path) -> bool {
        self.prev.is_some_and(|p| {
            p.watched
                .iter()
                .any(|(wp, stamp)| wp == path && stamp.is_some())
        })
    }

    /// Reads a file the database cannot do without. Missing is empty (with
    /// an issue) unless it existed before, which makes a reload fail: a
    /// vanished passwd file is far more likely an accident than a wish to
    /// reject every recipient.
    fn primary(&mut self, path: &Path) -> Result<String, LoadFailure> {
        match (self.read)(path) {
            Ok(ReadOutcome::Present { text, stamp }) => {
                self.watched.push((path.to_path_buf(), Some(stamp)));
                Ok(text)
            }
            Ok(ReadOutcome::Missing) if self.was_present(path) => Err(LoadFailure {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "file disappeared"),
            }),
            Ok(ReadOutcome::Missing) => {
                self.issues.push(LoadIssue::new(
                    path,
                    None,
                    "file not found; treated as empty",
                ));
                self.watched.push((path.to_path_buf(), None));
                Ok(String::new())
            }
            Err(source) => Err(LoadFailure {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Reads a file whose absence or unreadability only degrades service
    /// (include files, shadow): problems become issues.
    fn secondary(&mut self, path: &Path, what: &str) -> Option<String> {
        match (self.read)(path) {
            Ok(ReadOutcome::Present { text, stamp }) => {
                self.watched.push((path.to_path_buf(), Some(stamp)));
                Some(text)
            }
            Ok(ReadOutcome::Missing) => {
                self.issues
                    .push(LoadIssue::new(path, None, format!("{what} not found")));
                self.watched.push((path.to_path_buf(), None));
                None
            }
            Err(e) => {
                self.issues.push(LoadIssue::new(
                    path,
                    None,
                    format!("cannot read {what}: {e}"),
                ));
                self.watched
                    .push((path.to_path_buf(), FileStamp::of(path).ok().flatten()));
                None
            }
        }
    }

    /// Loads one include file and, recursively, the includes it names;
    /// rewrites relative include paths to absolute ones.
    fn load_include(
        &mut self,
        path: &Path,
        depth: usize,
        includes: &mut HashMap<PathBuf, Vec<AliasTarget>>,
        named_at: (&Path, Option<usize>),
    ) {
        if includes.contains_key(path) {
            return;
        }
        if depth > MAX_INCLUDE_DEPTH {
            self.issues.push(LoadIssue::new(
                named_at.0,
                named_at.1,
                format!(
                    "include {} nested deeper than {MAX_INCLUDE_DEPTH} levels; ignored",
                    path.display()
                ),
            ));
            return;
        }
        // Reserve the key first so an include cycle stops here.
        includes.insert(path.to_path_buf(), Vec::new());
        let Some(text) = self.secondary(path, "include file") else {
            return;
        };
        let (mut targets, problems) = parse_include(&text);
        for (line, reason) in problems {
            self.issues.push(LoadIssue::new(path, Some(line), reason));
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for t in &mut targets {
            if let AliasTarget::Include(p) = t {
                *p = dir.join(&*p);
                let inner = p.clone();
                self.load_include(&inner, depth + 1, includes, (path, None));
            }
        }
        includes.insert(path.to_path_buf(), targets);
    }
}

/// Builds a snapshot from the configured files. `prev` is the snapshot being
/// replaced, if any.
pub(crate) fn load(
    config: &UserDbConfig,
    prev: Option<&Snapshot>,
) -> Result<Snapshot, LoadFailure> {
    load_with(config, prev, &read_text)
}

/// [`load`] with every file read through `read`.
pub(crate) fn load_with(
    config: &UserDbConfig,
    prev: Option<&Snapshot>,
    read: ReadFn<'_>,
) -> Result<Snapshot, LoadFailure> {
    let mut loader = Loader {
        prev,
        read,
        issues: Vec::new(),
        watched: Vec::new(),
    };

    // Domains first: the other files are checked against them.
    let mut domains = HashSet::new();
    for d in &config.local_domains {
        // Validated by UserDb::open.
        if let Ok(d) = normalize_domain(d) {
            domains.insert(d);
        }
    }
    if let Some(path) = &config.domains_file {
        let text = loader.primary(path)?;
        let file = DomainsFile::parse(path, &text);
        loader.issues.extend(file.issues().iter().cloned());
        domains.extend(file.domains().map(str::to_string));
    }

    let text = loader.primary(&config.passwd_file)?;
    let passwd = PasswdFile::parse(&config.passwd_file, &text);
    loader.issues.extend(passwd.issues().iter().cloned());
    let mut users = HashMap::new();
    let mut user_order = Vec::new();
    for e in passwd.entries() {
        if let Some((_, d)) = e.login.rsplit_once('@') {
            if !domains.contains(d) {
                loader.issues.push(LoadIssue::new(
                    &config.passwd_file,
                    None,
                    format!("user {}: domain {d} is not a local domain, so mail for it is not delivered locally", e.login),
                ));
            }
        }
        user_order.push(e.login.clone());
        users.insert(e.login.clone(), e.clone());
    }

    let mut aliases = HashMap::new();
    let mut includes = HashMap::new();
    if let Some(path) = &config.aliases_file {
        let text = loader.primary(path)?;
        let file = AliasesFile::parse(path, &text);
        loader.issues.extend(file.issues().iter().cloned());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for entry in file.entries() {
            if let Some((_, d)) = entry.name.rsplit_once('@') {
                if !domains.contains(d) {
                    loader.issues.push(LoadIssue::new(
                        path,
                        None,
                        format!(
                            "alias {}: domain {d} is not a local domain; the alias is never used",
                            entry.name
                        ),
                    ));
                }
            }
            let mut targets = entry.targets.clone();
            for t in &mut targets {
                if let AliasTarget::Include(p) = t {
                    *p = dir.join(&*p);
                    let inc = p.clone();
                    loader.load_include(&inc, 1, &mut includes, (path, None));
                }
            }
            aliases.insert(entry.name.clone(), targets);
        }
    }

    let unix = match &config.unix_accounts {
        None => None,
        Some(ucfg) => {
            let passwd_text = loader.primary(&ucfg.passwd_file)?;
            let shadow_text = loader.secondary(&ucfg.shadow_file, "shadow file");
            if shadow_text.is_none() {
                loader.issues.push(LoadIssue::new(
                    &ucfg.shadow_file,
                    None,
                    "Unix accounts can receive mail but cannot log in without the shadow file",
                ));
            }
            Some(unix_accounts::parse(
                ucfg,
                &passwd_text,
                shadow_text.as_deref(),
                &mut loader.issues,
            ))
        }
    };

    Ok(Snapshot {
        users,
        user_order,
        aliases,
        includes,
        domains,
        unix,
        delimiter: config.recipient_delimiter,
        issues: loader.issues,
        watched: loader.watched,
    })
}
