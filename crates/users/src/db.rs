//! [`UserDb`]: the shared, self-reloading handle the daemons query.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::auth_cache::{AuthCache, AuthCacheConfig};
use crate::domains::normalize_domain;
use crate::error::{AuthError, LoadIssue, ResolveError, UserDbError};
use crate::files::FileStamp;
use crate::passwd_file::{ExtraField, PasswdEntry};
use crate::password::{dummy_verify, StoredPassword, MAX_PASSWORD_LEN};
use crate::quota::Quota;
use crate::resolve::{self, Destination, Resolution};
use crate::snapshot::{self, Snapshot};
use crate::unix_accounts::{today, UnixAccount, UnixAccountsConfig, UnixCredential};

/// How often, at most, the files are checked for changes.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Which files make up the user database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDbConfig {
    /// Dovecot-format passwd-file of virtual users.
    pub passwd_file: PathBuf,
    /// `/etc/aliases`-format file.
    pub aliases_file: Option<PathBuf>,
    /// One local domain per line, added to `local_domains`.
    pub domains_file: Option<PathBuf>,
    /// Domains delivered locally, besides those in `domains_file`.
    pub local_domains: Vec<String>,
    /// Also deliver to / authenticate classic Unix accounts.
    pub unix_accounts: Option<UnixAccountsConfig>,
    /// Separator of address extensions, e.g. `+` for `joe+tag@a.test`.
    pub recipient_delimiter: Option<char>,
    /// How long and how many successful password checks are remembered.
    pub auth_cache: AuthCacheConfig,
}

/// A virtual (passwd-file) user, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualUser {
    /// Lowercased login, normally `user@domain`.
    pub login: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: Option<PathBuf>,
    pub quota: Quota,
    /// All extra fields, including the quota ones, in file order.
    pub extra: Vec<ExtraField>,
}

impl VirtualUser {
    pub(crate) fn from_entry(e: &PasswdEntry) -> VirtualUser {
        VirtualUser {
            login: e.login.clone(),
            uid: e.uid,
            gid: e.gid,
            home: e.home.clone(),
            quota: e.quota(),
            extra: e.extra.clone(),
        }
    }

    /// The part before `@` (the whole login if there is none).
    pub fn local_part(&self) -> &str {
        self.login
            .rsplit_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&self.login)
    }

    pub fn domain(&self) -> Option<&str> {
        self.login.rsplit_once('@').map(|(_, d)| d)
    }

    /// Value of an extra field, e.g. `userdb_mail`.
    pub fn extra_field(&self, key: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.value.as_deref())
    }
}

/// An account that can own a mailbox and log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Virtual(VirtualUser),
    Unix(UnixAccount),
}

impl Account {
    /// The canonical login name (lowercase).
    pub fn login(&self) -> &str {
        match self {
            Account::Virtual(v) => &v.login,
            Account::Unix(u) => &u.name,
        }
    }

    pub fn uid(&self) -> Option<u32> {
        match self {
            Account::Virtual(v) => v.uid,
            Account::Unix(u) => Some(u.uid),
        }
    }

    pub fn gid(&self) -> Option<u32> {
        match self {
            Account::Virtual(v) => v.gid,
            Account::Unix(u) => Some(u.gid),
        }
    }

    pub fn home(&self) -> Option<&Path> {
        match self {
            Account::Virtual(v) => v.home.as_deref(),
            Account::Unix(u) => Some(&u.home),
        }
    }

    /// Unix accounts have no quota here (the filesystem may have one).
    pub fn quota(&self) -> Quota {
        match self {
            Account::Virtual(v) => v.quota,
            Account::Unix(_) => Quota::default(),
        }
    }
}

struct Inner {
    config: UserDbConfig,
    current: RwLock<Arc<Snapshot>>,
    last_check: Mutex<Instant>,
    /// Held while reloading so concurrent callers keep using the current
    /// snapshot instead of queueing up to read the same files.
    reloading: Mutex<()>,
    /// Stamps of the files when a reload last failed: the same broken state
    /// is not re-read and re-logged every second.
    failed_at: Mutex<Option<Vec<Option<FileStamp>>>>,
    auth_cache: AuthCache,
    /// Password hashes computed so far (real and dummy): what the cache saves shows here.
    hashes_computed: AtomicU64,
}

/// The user database. Cheap to clone (shared state), `Send + Sync`.
///
/// Every query first checks, at most once per second, whether any file
/// changed (device, inode, size, mtime) and reloads if so. A reload that
/// fails keeps the previous data.
#[derive(Clone)]
pub struct UserDb {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for UserDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDb")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn check_config(config: &UserDbConfig) -> Result<(), UserDbError> {
    for d in &config.local_domains {
        normalize_domain(d).map_err(UserDbError::InvalidConfig)?;
    }
    if let Some(c) = config.recipient_delimiter {
        if c.is_alphanumeric()
            || c.is_whitespace()
            || c.is_control()
            || matches!(c, '@' | ':' | ',' | '"' | '<' | '>' | '.')
        {
            return Err(UserDbError::InvalidConfig(format!(
                "recipient delimiter {c:?} is not usable (try '+' or '-')"
            )));
        }
    }
    if let Some(u) = &config.unix_accounts {
        if u.min_uid > u.max_uid {
            return Err(UserDbError::InvalidConfig(
                "unix min_uid is above max_uid".into(),
            ));
        }
    }
    Ok(())
}

fn log_issues(issues: &[LoadIssue]) {
    for i in issues {
        tracing::warn!(issue = %i, "user database");
    }
}

impl UserDb {
    /// Loads every configured file. Missing files are empty (reported by
    /// [`load_issues`](UserDb::load_issues)); a file that exists but cannot be
    /// read is an error, except the shadow file and include files.
    pub fn open(config: UserDbConfig) -> Result<UserDb, UserDbError> {
        check_config(&config)?;
        let snap = snapshot::load(&config, None).map_err(|f| UserDbError::Read {
            path: f.path,
            source: f.source,
        })?;
        log_issues(&snap.issues);
        tracing::info!(
            users = snap.users.len(),
            aliases = snap.aliases.len(),
            domains = snap.domains.len(),
            unix_accounts = snap.unix.as_ref().map(|u| u.len()),
            "user database loaded"
        );
        let auth_cache = AuthCache::new(config.auth_cache);
        Ok(UserDb {
            inner: Arc::new(Inner {
                config,
                current: RwLock::new(Arc::new(snap)),
                last_check: Mutex::new(Instant::now()),
                reloading: Mutex::new(()),
                failed_at: Mutex::new(None),
                auth_cache,
                hashes_computed: AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &UserDbConfig {
        &self.inner.config
    }

    fn loaded(&self) -> Arc<Snapshot> {
        let guard = self
            .inner
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&guard)
    }

    /// The current data, after the rate-limited change check.
    fn snapshot(&self) -> Arc<Snapshot> {
        let due = {
            let mut last = self
                .inner
                .last_check
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.elapsed() >= CHECK_INTERVAL {
                *last = Instant::now();
                true
            } else {
                false
            }
        };
        if due {
            if let Ok(_guard) = self.inner.reloading.try_lock() {
                self.reload_locked();
            }
        }
        self.loaded()
    }

    /// Checks the files now, ignoring the once-per-second limit, and reloads
    /// if any changed (e.g. on SIGHUP, or right after mailctl saved).
    /// Returns whether new data is now in use.
    pub fn reload_if_changed(&self) -> bool {
        let _guard = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.reload_locked()
    }

    fn reload_locked(&self) -> bool {
        let cur = self.loaded();
        if !cur.changed_on_disk() {
            return false;
        }
        let stamps = cur.stamps_on_disk();
        {
            let failed = self
                .inner
                .failed_at
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if stamps.is_some() && *failed == stamps {
                return false;
            }
        }
        match snapshot::load(&self.inner.config, Some(&cur)) {
            Ok(snap) => {
                log_issues(&snap.issues);
                tracing::info!(
                    users = snap.users.len(),
                    aliases = snap.aliases.len(),
                    domains = snap.domains.len(),
                    "user database reloaded"
                );
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(snap);
                *self
                    .inner
                    .failed_at
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                true
            }
            Err(f) => {
                tracing::warn!(
                    path = %f.path.display(),
                    error = %f.source,
                    "user database reload failed; keeping the previous data"
                );
                *self
                    .inner
                    .failed_at
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = stamps;
                false
            }
        }
    }

    /// Problems found in the files currently loaded.
    pub fn load_issues(&self) -> Vec<LoadIssue> {
        self.snapshot().issues.clone()
    }

    /// Whether mail for `domain` is delivered here.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.snapshot().is_local_domain(domain)
    }

    /// All local domains, sorted.
    pub fn local_domains(&self) -> Vec<String> {
        let mut d: Vec<String> = self.snapshot().domains.iter().cloned().collect();
        d.sort();
        d
    }

    /// Where mail for `address` goes. Alias targets that fail are skipped
    /// (and logged) as long as something else resolves; use
    /// [`resolve_detailed`](UserDb::resolve_detailed) to bounce them.
    pub fn resolve(&self, address: &str) -> Result<Vec<Destination>, ResolveError> {
        let r = self.resolve_detailed(address)?;
        for (target, e) in &r.failures {
            tracing::warn!(recipient = address, target = %target, error = %e, "alias target did not resolve");
        }
        Ok(r.destinations.into_iter().map(|d| d.destination).collect())
    }

    /// Like [`resolve`](UserDb::resolve), with the alias chain of each
    /// destination and the targets that failed.
    pub fn resolve_detailed(&self, address: &str) -> Result<Resolution, ResolveError> {
        resolve::resolve(&self.snapshot(), address)
    }

    /// Finds an account by login: a virtual user (`user@domain`, or a bare
    /// login if the passwd-file has one), else a Unix account by bare name or
    /// by `name@local-domain`.
    pub fn lookup(&self, login: &str) -> Option<Account> {
        let snap = self.snapshot();
        find_account(&snap, login).map(|(a, _)| a)
    }

    /// Checks a login and password. Unknown users, disabled accounts and
    /// wrong passwords cost the same Argon2 work (for accounts with default
    /// hashes), so timing does not reveal which logins exist; callers must
    /// answer all failures identically. CPU-bound for tens of milliseconds:
    /// run it on a blocking thread. A success is remembered (see
    /// [`verify_cached`](UserDb::verify_cached)), and a remembered one is
    /// answered without computing the hash.
    pub fn verify(&self, login: &str, password: impl AsRef<[u8]>) -> Result<Account, AuthError> {
        let password = password.as_ref();
        if password.len() > MAX_PASSWORD_LEN {
            return Err(AuthError::PasswordTooLong);
        }
        let snap = self.snapshot();
        let found = find_account(&snap, login);
        if password.is_empty() {
            self.dummy_verify(password);
            return Err(AuthError::EmptyPassword);
        }
        match found {
            None => {
                self.dummy_verify(password);
                Err(AuthError::UnknownUser)
            }
            Some((_, None)) => {
                self.dummy_verify(password);
                Err(AuthError::LoginDisabled)
            }
            Some((account, Some(hash))) => {
                let key = self.inner.auth_cache.key(account.login(), password);
                if key
                    .as_ref()
                    .is_some_and(|k| self.inner.auth_cache.hit(k, &hash))
                {
                    return Ok(account);
                }
                self.inner.hashes_computed.fetch_add(1, Ordering::Relaxed);
                if hash.verify(password) {
                    if let Some(k) = key {
                        self.inner.auth_cache.insert(k, &hash);
                    }
                    Ok(account)
                } else {
                    Err(AuthError::WrongPassword)
                }
            }
        }
    }

    /// Answers only from the memory of recent successes: the account when
    /// `login` logged in with this very `password` within
    /// `userdb.auth_cache_ttl` and its stored hash has not changed since;
    /// `None` otherwise (then [`verify`](UserDb::verify) decides). Computes no
    /// password hash, so it may run before any throttling; it still checks
    /// the files for changes like every query.
    pub fn verify_cached(&self, login: &str, password: impl AsRef<[u8]>) -> Option<Account> {
        let password = password.as_ref();
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
            return None;
        }
        let snap = self.snapshot();
        let (account, hash) = find_account(&snap, login)?;
        let hash = hash?;
        let key = self.inner.auth_cache.key(account.login(), password)?;
        self.inner.auth_cache.hit(&key, &hash).then_some(account)
    }

    /// How many password hashes this database has computed, including the
    /// dummy ones that hide unknown users.
    pub fn hashes_computed(&self) -> u64 {
        self.inner.hashes_computed.load(Ordering::Relaxed)
    }

    fn dummy_verify(&self, password: &[u8]) {
        self.inner.hashes_computed.fetch_add(1, Ordering::Relaxed);
        dummy_verify(password);
    }

    /// Every virtual user, in passwd-file order.
    pub fn users(&self) -> Vec<VirtualUser> {
        let snap = self.snapshot();
        snap.user_order
            .iter()
            .filter_map(|l| snap.users.get(l))
            .map(VirtualUser::from_entry)
            .collect()
    }
}

/// The account for `login` and the hash to check, if it may log in.
fn find_account(snap: &Snapshot, login: &str) -> Option<(Account, Option<StoredPassword>)> {
    let login = crate::passwd_file::login_key(login);
    if let Some(e) = snap.users.get(&login) {
        return Some((
            Account::Virtual(VirtualUser::from_entry(e)),
            e.password.clone(),
        ));
    }
    let unix = snap.unix.as_ref()?;
    let name = match login.rsplit_once('@') {
        Some((l, d)) if snap.is_local_domain(d) => l,
        Some(_) => return None,
        None => login.as_str(),
    };
    let (account, cred) = unix.get(name)?;
    let hash = match cred {
        UnixCredential::Hash { hash, expires_day } => match expires_day {
            Some(day) if today() >= *day => None,
            _ => Some(hash.clone()),
        },
        UnixCredential::Disabled => None,
    };
    Some((Account::Unix(account.clone()), hash))
}
