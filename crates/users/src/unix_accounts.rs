//! Classic Unix accounts from passwd(5) and shadow(5) files, for sites that
//! deliver to and authenticate system users.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::LoadIssue;
use crate::files::numbered_lines;
use crate::password::StoredPassword;

/// Where the Unix account files are and which accounts count as mail users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixAccountsConfig {
    /// Default `/etc/passwd`.
    pub passwd_file: PathBuf,
    /// Default `/etc/shadow`. Usually readable only by root: when it cannot
    /// be read, accounts still receive mail but cannot log in.
    pub shadow_file: PathBuf,
    /// Accounts below this uid (system accounts) are ignored. Default 1000.
    pub min_uid: u32,
    /// Accounts above this uid are ignored; the default 60000 (Debian's
    /// UID_MAX) keeps out `nobody` (65534).
    pub max_uid: u32,
}

impl Default for UnixAccountsConfig {
    fn default() -> Self {
        UnixAccountsConfig {
            passwd_file: PathBuf::from("/etc/passwd"),
            shadow_file: PathBuf::from("/etc/shadow"),
            min_uid: 1000,
            max_uid: 60000,
        }
    }
}

/// A Unix account that can receive mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixAccount {
    /// Lowercased account name.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// Whether and how a Unix account can log in.
#[derive(Debug, Clone)]
pub(crate) enum UnixCredential {
    Hash {
        hash: StoredPassword,
        /// shadow(5) expiry, in days since 1970-01-01.
        expires_day: Option<i64>,
    },
    /// Locked (`!`, `*`), empty, unreadable or unsupported.
    Disabled,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct UnixAccounts {
    accounts: HashMap<String, (UnixAccount, UnixCredential)>,
}

impl UnixAccounts {
    pub(crate) fn get(&self, name: &str) -> Option<&(UnixAccount, UnixCredential)> {
        self.accounts.get(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.accounts.len()
    }
}

/// The password field of passwd or shadow, interpreted. Hash text never
/// reaches the load warnings.
fn credential(
    field: &str,
    expires_day: Option<i64>,
    file: &Path,
    line: usize,
    issues: &mut Vec<LoadIssue>,
) -> UnixCredential {
    if field.is_empty() || field.starts_with('!') || field.starts_with('*') {
        // Empty means "no password" to login(1); for a network service that
        // must mean "cannot log in", never "any password".
        return UnixCredential::Disabled;
    }
    if field.starts_with('{') {
        issues.push(LoadIssue::new(
            file,
            Some(line),
            "password hash has a {SCHEME} prefix, which crypt(3) files never use; login disabled",
        ));
        return UnixCredential::Disabled;
    }
    match StoredPassword::parse(field) {
        Ok(hash) => UnixCredential::Hash { hash, expires_day },
        Err(e) => {
            issues.push(LoadIssue::new(
                file,
                Some(line),
                format!("{e}; the account can receive mail but not log in"),
            ));
            UnixCredential::Disabled
        }
    }
}

/// Parses the passwd text and, when available, the shadow text.
/// `shadow` is `None` when the shadow file could not be read.
pub(crate) fn parse(
    config: &UnixAccountsConfig,
    passwd: &str,
    shadow: Option<&str>,
    issues: &mut Vec<LoadIssue>,
) -> UnixAccounts {
    // name -> (password field, expiry day, line)
    let mut shadow_map: HashMap<String, (String, Option<i64>, usize)> = HashMap::new();
    if let Some(text) = shadow {
        for (n, line) in numbered_lines(text) {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let (Some(name), Some(pw)) = (fields.first(), fields.get(1)) else {
                issues.push(LoadIssue::new(
                    &config.shadow_file,
                    Some(n),
                    "line skipped: expected name:password:...",
                ));
                continue;
            };
            let expires = fields.get(7).and_then(|e| e.trim().parse::<i64>().ok());
            shadow_map
                .entry(name.to_lowercase())
                .or_insert_with(|| (pw.to_string(), expires, n));
        }
    }

    let mut accounts = HashMap::new();
    let mut needs_shadow = false;
    for (n, line) in numbered_lines(passwd) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let [name, pw, uid, gid, _gecos, home, shell] = fields.as_slice() else {
            issues.push(LoadIssue::new(
                &config.passwd_file,
                Some(n),
                "line skipped: expected 7 ':'-separated fields",
            ));
            continue;
        };
        if name.starts_with(['+', '-']) {
            issues.push(LoadIssue::new(
                &config.passwd_file,
                Some(n),
                "NIS compat entries are not supported; skipped",
            ));
            continue;
        }
        let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
            issues.push(LoadIssue::new(
                &config.passwd_file,
                Some(n),
                "line skipped: uid and gid must be numbers",
            ));
            continue;
        };
        if uid < config.min_uid || uid > config.max_uid {
            continue;
        }
        let lname = name.to_lowercase();
        if lname.is_empty()
            || lname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            issues.push(LoadIssue::new(
                &config.passwd_file,
                Some(n),
                "line skipped: invalid account name",
            ));
            continue;
        }
        if accounts.contains_key(&lname) {
            issues.push(LoadIssue::new(
                &config.passwd_file,
                Some(n),
                format!("duplicate account {lname} (names are compared case-insensitively); the first one is used"),
            ));
            continue;
        }
        let cred = if *pw == "x" {
            match shadow_map.get(&lname) {
                Some((spw, expires, sline)) => {
                    credential(spw, *expires, &config.shadow_file, *sline, issues)
                }
                None => {
                    needs_shadow = true;
                    UnixCredential::Disabled
                }
            }
        } else {
            credential(pw, None, &config.passwd_file, n, issues)
        };
        let account = UnixAccount {
            name: lname.clone(),
            uid,
            gid,
            home: PathBuf::from(home),
            shell: shell.to_string(),
        };
        accounts.insert(lname, (account, cred));
    }
    if needs_shadow && shadow.is_some() {
        issues.push(LoadIssue::new(
            &config.shadow_file,
            None,
            "some accounts have no shadow entry; they can receive mail but not log in",
        ));
    }
    UnixAccounts { accounts }
}

/// Days since the epoch, for shadow expiry checks.
pub(crate) fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
