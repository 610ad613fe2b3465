//! Dovecot passwd-file format, for virtual users:
//!
//! ```text
//! user@domain:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields
//! ```
//!
//! Fields after the password are optional, uid/gid may be empty, and the
//! extra fields are space-separated `key=value` (or bare `key`) words; they
//! may themselves contain colons (`userdb_quota_rule=*:storage=100M`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::document::{Document, Record};
use crate::error::{EditError, LoadIssue};
use crate::files::load_for_edit;
use crate::password::StoredPassword;
use crate::quota::{self, Quota, QuotaField};

/// One `key=value` (or valueless `key`) word of the extra fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraField {
    pub key: String,
    pub value: Option<String>,
}

impl ExtraField {
    fn render(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={}", self.key, v),
            None => self.key.clone(),
        }
    }
}

/// A password field that is present but cannot be checked (unknown scheme,
/// malformed or unsupported hash). The user still receives mail but cannot
/// log in; the text is kept so that saving the file does not lose it.
/// `Debug` hides the text.
#[derive(Clone, PartialEq, Eq)]
pub struct UnusablePassword {
    raw: String,
    reason: String,
}

impl UnusablePassword {
    /// Why the field cannot be used (never contains the hash).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Debug for UnusablePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnusablePassword")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// One line of a passwd-file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Lowercased login, normally `user@domain`.
    pub login: String,
    /// `None` when the field is empty or unusable: the user receives mail
    /// but cannot log in.
    pub password: Option<StoredPassword>,
    /// Set when the field held something that is not a usable hash; written
    /// back unchanged unless `password` is set.
    pub unusable_password: Option<UnusablePassword>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub gecos: String,
    /// Absolute when present.
    pub home: Option<PathBuf>,
    pub shell: String,
    pub extra: Vec<ExtraField>,
}

impl PasswdEntry {
    /// A new entry with only login and password; other fields empty.
    pub fn new(login: &str, password: Option<StoredPassword>) -> Result<PasswdEntry, EditError> {
        let login = normalize_login(login).map_err(EditError::Invalid)?;
        Ok(PasswdEntry {
            login,
            password,
            unusable_password: None,
            uid: None,
            gid: None,
            gecos: String::new(),
            home: None,
            shell: String::new(),
            extra: Vec::new(),
        })
    }

    /// The account-wide quota described by the extra fields (later fields
    /// override earlier ones; fields that do not parse are ignored).
    pub fn quota(&self) -> Quota {
        let mut q = Quota::default();
        for f in &self.extra {
            if let QuotaField::Applies {
                storage_bytes,
                messages,
            } = quota::classify(&f.key, f.value.as_deref())
            {
                if let Some(s) = storage_bytes {
                    q.storage_bytes = s;
                }
                if let Some(m) = messages {
                    q.messages = m;
                }
            }
        }
        q
    }

    /// Replaces the account-wide quota fields with one
    /// `userdb_quota_rule=*:storage=..:messages=..` field (none if unlimited),
    /// keeping every other extra field.
    pub fn set_quota(&mut self, quota: Quota) {
        self.extra
            .retain(|f| !quota::is_account_quota_field(&f.key, f.value.as_deref()));
        if let Some(rule) = quota::render_rule(&quota) {
            self.extra.push(ExtraField {
                key: "userdb_quota_rule".to_string(),
                value: Some(rule),
            });
        }
    }

    /// Checks that the entry can be written as one well-formed line.
    pub fn validate(&self) -> Result<(), EditError> {
        let bad = |what: &str| Err(EditError::Invalid(format!("{}: {what}", self.login)));
        if normalize_login(&self.login).as_deref() != Ok(self.login.as_str()) {
            return bad("login must be lowercase, without spaces or ':'");
        }
        let plain_field = |s: &str| !s.contains(':') && !s.chars().any(char::is_control);
        if !plain_field(&self.gecos) || !plain_field(&self.shell) {
            return bad("gecos and shell must not contain ':' or control characters");
        }
        if let Some(home) = &self.home {
            let h = home.to_str().unwrap_or(":");
            if !home.is_absolute() || !plain_field(h) {
                return bad("home must be an absolute path without ':'");
            }
        }
        if let Some(p) = &self.password {
            if p.as_field().contains(':') {
                return bad("password field must not contain ':'");
            }
        }
        for f in &self.extra {
            let word =
                |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if !word(&f.key) || f.key.contains('=') || f.value.as_deref().is_some_and(|v| !word(v))
            {
                return bad("extra fields must be key=value words without spaces");
            }
        }
        Ok(())
    }
}

impl Record for PasswdEntry {
    fn key(&self) -> &str {
        &self.login
    }

    fn render(&self) -> String {
        let extra: Vec<String> = self.extra.iter().map(ExtraField::render).collect();
        let mut fields = vec![
            self.login.clone(),
            match (&self.password, &self.unusable_password) {
                (Some(p), _) => p.as_field().to_string(),
                (None, Some(u)) => u.raw.clone(),
                (None, None) => String::new(),
            },
            self.uid.map(|u| u.to_string()).unwrap_or_default(),
            self.gid.map(|g| g.to_string()).unwrap_or_default(),
            self.gecos.clone(),
            self.home
                .as_ref()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.shell.clone(),
            extra.join(" "),
        ];
        // Drop empty trailing fields, but never so far that a field ending in
        // '\r' ends the line: line reading strips trailing '\r's, so that
        // field would lose it (an unusable password is kept byte for byte).
        while fields.len() > 2
            && fields.last().is_some_and(|f| f.is_empty())
            && !fields
                .get(fields.len() - 2)
                .is_some_and(|f| f.ends_with('\r'))
        {
            fields.pop();
        }
        fields.join(":")
    }
}

/// How logins compare, everywhere a login is matched (the passwd-file's keys, a login
/// attempt, a SASL authorization identity): surrounding space ignored, local part and domain
/// both case-insensitive.
pub fn login_key(login: &str) -> String {
    login.trim().to_lowercase()
}

/// Lowercases and checks a login (`user@domain` or a bare name).
pub(crate) fn normalize_login(login: &str) -> Result<String, String> {
    let login = login_key(login);
    if login.is_empty() {
        return Err("empty login".into());
    }
    if login.len() > 320 {
        return Err("login too long".into());
    }
    if login.starts_with('#') {
        return Err("login must not start with '#'".into());
    }
    if login
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | ',' | '"' | '<' | '>'))
    {
        return Err("login contains whitespace or one of : , \" < >".into());
    }
    if login.contains('@') {
        match login.split_once('@') {
            Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => {}
            _ => return Err("login must be user@domain with one '@'".into()),
        }
    }
    Ok(login)
}

fn parse_id(s: &str, what: &str) -> Result<Option<u32>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("{what} must be a number (names are not supported)"))
}

/// Parses one non-comment line. Errors make the line unusable; the warnings
/// describe parts that were ignored.
pub(crate) fn parse_line(line: &str) -> Result<(PasswdEntry, Vec<String>), String> {
    let fields: Vec<&str> = line.splitn(8, ':').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    if fields.len() < 2 {
        return Err("expected at least login:password".into());
    }
    let login = normalize_login(field(0))?;
    let mut warnings = Vec::new();
    let (password, unusable_password) = match field(1) {
        "" => (None, None),
        p => match StoredPassword::parse(p) {
            Ok(sp) => (Some(sp), None),
            Err(e) => {
                // Keep the user: a hash this server cannot check must not
                // turn into bounced mail, only into a refused login.
                warnings.push(format!(
                    "password: {e}; the user receives mail but cannot log in"
                ));
                (
                    None,
                    Some(UnusablePassword {
                        raw: p.to_string(),
                        reason: e.to_string(),
                    }),
                )
            }
        },
    };
    let uid = parse_id(field(2), "uid")?;
    let gid = parse_id(field(3), "gid")?;
    let home = match field(5) {
        "" => None,
        h if h.starts_with('/') => Some(PathBuf::from(h)),
        _ => return Err("home must be an absolute path".into()),
    };
    let mut extra = Vec::new();
    for word in field(7).split_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (word, None),
        };
        if key.is_empty() {
            warnings.push(format!("ignored extra field {word:?} with empty key"));
            continue;
        }
        if let QuotaField::Bad(why) = quota::classify(key, value.as_deref()) {
            warnings.push(format!("ignored quota field: {why}"));
        }
        extra.push(ExtraField {
            key: key.to_string(),
            value,
        });
    }
    Ok((
        PasswdEntry {
            login,
            password,
            unusable_password,
            uid,
            gid,
            gecos: field(4).to_string(),
            home,
            shell: field(6).to_string(),
            extra,
        },
        warnings,
    ))
}

/// Editable passwd-file: load, change, [`save`](PasswdFile::save).
#[derive(Clone)]
pub struct PasswdFile {
    doc: Document<PasswdEntry>,
}

/// Shows no line text: kept lines can contain hashes.
impl fmt::Debug for PasswdFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdFile")
            .field("path", &self.doc.path)
            .field("entries", &self.doc.entries().count())
            .field("issues", &self.doc.issues.len())
            .finish()
    }
}

impl PasswdFile {
    /// Loads `path`; a missing file is an empty one (created on save).
    /// Malformed lines are reported by [`issues`](PasswdFile::issues) and
    /// kept verbatim.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswdFile, EditError> {
        let path = path.as_ref();
        let (text, stamp) = load_for_edit(path)?;
        let mut file = PasswdFile::parse(path, &text);
        file.doc.stamp = stamp;
        Ok(file)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> PasswdFile {
        let doc = Document::from_lines(path, text, parse_line);
        PasswdFile { doc }
    }

    pub fn path(&self) -> &Path {
        &self.doc.path
    }

    /// Problems found while loading.
    pub fn issues(&self) -> &[LoadIssue] {
        &self.doc.issues
    }

    pub fn entries(&self) -> impl Iterator<Item = &PasswdEntry> {
        self.doc.entries()
    }

    /// Looks up a login case-insensitively.
    pub fn get(&self, login: &str) -> Option<&PasswdEntry> {
        self.doc.get(&login.trim().to_lowercase())
    }

    /// Appends a new user; fails if the login exists.
    pub fn add(&mut self, entry: PasswdEntry) -> Result<(), EditError> {
        entry.validate()?;
        self.doc.insert(entry)
    }

    pub fn remove(&mut self, login: &str) -> Result<PasswdEntry, EditError> {
        self.doc.remove(&login.trim().to_lowercase())
    }

    /// Applies `f` to an existing entry, refusing results that would not
    /// write back as a valid line.
    pub fn update(
        &mut self,
        login: &str,
        f: impl FnOnce(&mut PasswdEntry),
    ) -> Result<(), EditError> {
        let key = login.trim().to_lowercase();
        let current = self
            .doc
            .get(&key)
            .cloned()
            .ok_or_else(|| EditError::NotFound(key.clone()))?;
        let mut changed = current;
        f(&mut changed);
        changed.validate()?;
        if changed.login != key && self.doc.get(&changed.login).is_some() {
            return Err(EditError::AlreadyExists(changed.login));
        }
        if let Some(slot) = self.doc.get_mut(&key) {
            *slot = changed;
        }
        Ok(())
    }

    /// Sets (or with `None` clears, disabling login) the password; either
    /// way an unusable old field is dropped.
    pub fn set_password(
        &mut self,
        login: &str,
        password: Option<StoredPassword>,
    ) -> Result<(), EditError> {
        self.update(login, |e| {
            e.password = password;
            e.unusable_password = None;
        })
    }

    pub fn set_quota(&mut self, login: &str, quota: Quota) -> Result<(), EditError> {
        self.update(login, |e| e.set_quota(quota))
    }

    /// The file text that [`save`](PasswdFile::save) would write.
    pub fn render(&self) -> String {
        self.doc.render()
    }

    /// Writes the file atomically (new files get mode 0640: it holds hashes).
    /// Fails with [`EditError::ChangedOnDisk`] if the file changed since load.
    pub fn save(&mut self) -> Result<(), EditError> {
        self.doc.save(0o640)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_rendered_line_keeps_a_field_that_ends_in_cr() {
        // Found by the passwd_file fuzz target: after any edit of this user
        // the unusable password field was written as the last thing on the
        // line and read back without its '\r'.
        let path = Path::new("/test/passwd");
        let mut file = PasswdFile::parse(
            path,
            "ann@a.test:{PLA%N}y\r:\njoe@a.test:{PLAIN}x:::::sh\r:\n",
        );
        let before: Vec<PasswdEntry> = file.entries().cloned().collect();
        assert_eq!(before.len(), 2);
        file.update("ann@a.test", |_| {}).unwrap();
        // joe's shell has a control character: not editable, kept verbatim.
        assert!(file.update("joe@a.test", |_| {}).is_err());
        let text = file.render();
        let again: Vec<PasswdEntry> = PasswdFile::parse(path, &text).entries().cloned().collect();
        assert_eq!(again, before, "{text:?}");
        assert_eq!(
            again[0].unusable_password.as_ref().map(|u| u.raw.as_str()),
            Some("{PLA%N}y\r")
        );
    }
}
