//! `mailctl user|domain|alias|quota`: edits the user-database files the daemons read.
//!
//! Every change goes through the users crate's editable models, which write atomically (temp
//! file, fsync, rename, fsync dir) and refuse to overwrite a file that changed since it was read,
//! so a crash or a concurrent edit never leaves a half-written passwd file. The daemons notice the
//! change on their own (they re-read files whose stamp changed). Passwords come from a prompt
//! without echo or from stdin, never from argv (which every local user can read in /proc).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferrymail_config::Config;
use ferrymail_users::{
    hash_password, AliasTarget, AliasesFile, DomainsFile, EditError, PasswdEntry, PasswdFile,
    Quota, StoredPassword,
};
use serde_json::json;

/// Exit codes scripts can rely on (sysexits.h).
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOUSER: u8 = 67;
    pub const CANTCREAT: u8 = 73;
    pub const CONFIG: u8 = 78;
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a virtual user; the password is asked for (or read from stdin with --password-stdin).
    Add {
        login: String,
        #[command(flatten)]
        password: PasswordSource,
        /// Home directory (mail goes to <home>/Maildir); default <mail_root>/<domain>/<user>.
        #[arg(long)]
        home: Option<PathBuf>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    /// Delete a virtual user (its mailbox is left on disk).
    Del { login: String },
    /// Set a new password.
    Passwd {
        login: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        login: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PasswordSource {
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args, Default)]
pub struct QuotaArgs {
    /// Storage limit, e.g. 500M or 2G (0 = unlimited).
    #[arg(long, value_name = "SIZE")]
    quota_storage: Option<String>,
    /// Message-count limit (0 = unlimited).
    #[arg(long, value_name = "N")]
    quota_messages: Option<u64>,
}

#[derive(Subcommand)]
pub enum DomainCmd {
    /// Add a local domain.
    Add { domain: String },
    /// Remove a local domain (refused while users or aliases of it exist, unless --force).
    Del {
        domain: String,
        #[arg(long)]
        force: bool,
    },
    /// List local domains (config and domains file).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum AliasCmd {
    /// Add targets to an alias (creating it): `mailctl alias add sales@a.test joe@a.test ann@b.test`.
    Add {
        name: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Delete an alias, or only the given targets of it.
    Del { name: String, targets: Vec<String> },
    /// List aliases.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum QuotaCmd {
    /// Set a user's quota: `mailctl quota set joe@a.test --storage 1G --messages 10000`.
    Set {
        login: String,
        /// Storage limit, e.g. 500M or 2G (0 = unlimited).
        #[arg(long, value_name = "SIZE")]
        storage: Option<String>,
        /// Message-count limit (0 = unlimited).
        #[arg(long, value_name = "N")]
        messages: Option<u64>,
    },
}

/// A failed command: message and exit code.
pub struct Failure(pub u8, pub String);

impl From<EditError> for Failure {
    fn from(e: EditError) -> Failure {
        let code = match &e {
            EditError::NotFound(_) => exit::NOUSER,
            EditError::AlreadyExists(_) | EditError::Invalid(_) => exit::DATAERR,
            EditError::Io { .. } | EditError::ChangedOnDisk { .. } => exit::CANTCREAT,
        };
        Failure(code, e.to_string())
    }
}

pub fn finish(r: Result<(), Failure>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("mailctl: {msg}");
            ExitCode::from(code)
        }
    }
}

pub fn load_config(path: &std::path::Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure(exit::CONFIG, e.to_string()))
}

fn read_password(src: &PasswordSource, prompt: &str) -> Result<String, Failure> {
    let pw = if src.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure(exit::USAGE, format!("reading the password: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(prompt)
            .map_err(|e| Failure(exit::USAGE, format!("reading the password: {e}")))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| Failure(exit::USAGE, format!("reading the password: {e}")))?;
        if first != again {
            return Err(Failure(exit::USAGE, "the passwords differ".into()));
        }
        first
    };
    if pw.is_empty() {
        return Err(Failure(exit::USAGE, "empty password refused".into()));
    }
    Ok(pw)
}

fn stored(pw: &str) -> Result<StoredPassword, Failure> {
    let hash = hash_password(pw).map_err(|e| Failure(exit::DATAERR, e.to_string()))?;
    StoredPassword::parse(&hash).map_err(|e| Failure(exit::DATAERR, e.to_string()))
}

/// `500M` / `2G` / `1048576` → bytes; 0 means unlimited.
fn parse_size(s: &str) -> Result<Option<u64>, Failure> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(Failure(exit::USAGE, format!("bad size `{s}`"))),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| Failure(exit::USAGE, format!("bad size `{s}`")))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| Failure(exit::USAGE, format!("size `{s}` too large")))?;
    Ok((bytes > 0).then_some(bytes))
}

fn quota_from(storage: Option<&str>, messages: Option<u64>, base: Quota) -> Result<Quota, Failure> {
    let mut q = base;
    if let Some(s) = storage {
        q.storage_bytes = parse_size(s)?;
    }
    if let Some(m) = messages {
        q.messages = (m > 0).then_some(m);
    }
    Ok(q)
}

fn local_domains(c: &Config) -> Result<Vec<String>, Failure> {
    let df = DomainsFile::load(&c.userdb.domains_file)?;
    let mut v = c.general.local_domains.clone();
    for d in df.domains() {
        if !v.iter().any(|x| x == d) {
            v.push(d.to_owned());
        }
    }
    Ok(v)
}

fn user_json(e: &PasswdEntry) -> serde_json::Value {
    let q = e.quota();
    json!({
        "login": e.login,
        "can_login": e.password.is_some(),
        "scheme": e.password.as_ref().map(|p| p.scheme().name()),
        "uid": e.uid,
        "gid": e.gid,
        "home": e.home.as_ref().map(|h| h.display().to_string()),
        "quota_storage_bytes": q.storage_bytes,
        "quota_messages": q.messages,
    })
}

pub fn user(config_path: &std::path::Path, cmd: UserCmd) -> Result<(), Failure> {
    let c = load_config(config_path)?;
    let mut pf = PasswdFile::load(&c.userdb.passwd_file)?;
    match cmd {
        UserCmd::Add {
            login,
            password,
            home,
            quota,
        } => {
            let login = login.to_ascii_lowercase();
            let domain = login
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned())
                .ok_or_else(|| {
                    Failure(exit::DATAERR, format!("`{login}`: expected user@domain"))
                })?;
            if !local_domains(&c)?.contains(&domain) {
                return Err(Failure(
                    exit::DATAERR,
                    format!("{domain} is not a local domain (add it with `mailctl domain add {domain}`)"),
                ));
            }
            if pf.get(&login).is_some() {
                return Err(Failure(exit::DATAERR, format!("{login} already exists")));
            }
            let pw = read_password(&password, &format!("Password for {login}: "))?;
            let mut entry = PasswdEntry::new(&login, Some(stored(&pw)?))?;
            entry.home = home;
            entry.set_quota(quota_from(
                quota.quota_storage.as_deref(),
                quota.quota_messages,
                Quota::default(),
            )?);
            entry.validate()?;
            pf.add(entry)?;
            pf.save()?;
            println!("added {login}");
        }
        UserCmd::Del { login } => {
            let e = pf.remove(&login)?;
            pf.save()?;
            println!("deleted {} (mailbox left on disk)", e.login);
        }
        UserCmd::Passwd { login, password } => {
            if pf.get(&login).is_none() {
                return Err(Failure(exit::NOUSER, format!("{login} not found")));
            }
            let pw = read_password(&password, &format!("New password for {login}: "))?;
            pf.set_password(&login, Some(stored(&pw)?))?;
            pf.save()?;
            println!("password changed for {}", login.to_ascii_lowercase());
        }
        UserCmd::List { json } => {
            if json {
                let v: Vec<_> = pf.entries().map(user_json).collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for e in pf.entries() {
                    println!("{}", e.login);
                }
            }
        }
        UserCmd::Show { login, json } => {
            let e = pf
                .get(&login)
                .ok_or_else(|| Failure(exit::NOUSER, format!("{login} not found")))?;
            let account = ferrymail_users::Account::Virtual(ferrymail_users::VirtualUser {
                login: e.login.clone(),
                uid: e.uid,
                gid: e.gid,
                home: e.home.clone(),
                quota: e.quota(),
                extra: Vec::new(),
            });
            let mailbox = match account.mailbox(&c) {
                ferrymail_users::MailboxLocation::Maildir(p)
                | ferrymail_users::MailboxLocation::Mbox(p) => p,
            };
            if json {
                let mut v = user_json(e);
                v["mailbox"] = json!(mailbox.display().to_string());
                println!("{v}");
            } else {
                println!("login:    {}", e.login);
                println!(
                    "password: {}",
                    e.password
                        .as_ref()
                        .map(|p| p.scheme().name())
                        .unwrap_or("none (cannot log in)")
                );
                println!("mailbox:  {}", mailbox.display());
                println!("quota:    {}", e.quota());
            }
        }
    }
    Ok(())
}

pub fn domain(config_path: &std::path::Path, cmd: DomainCmd) -> Result<(), Failure> {
    let c = load_config(config_path)?;
    let mut df = DomainsFile::load(&c.userdb.domains_file)?;
    match cmd {
        DomainCmd::Add { domain } => {
            let d = ferrymail_users::normalize_domain(&domain)
                .map_err(|e| Failure(exit::DATAERR, e))?;
            if c.general.local_domains.contains(&d) || df.contains(&d) {
                return Err(Failure(exit::DATAERR, format!("{d} already exists")));
            }
            df.add(&d)?;
            df.save()?;
            println!("added {d}");
        }
        DomainCmd::Del { domain, force } => {
            let d = ferrymail_users::normalize_domain(&domain)
                .map_err(|e| Failure(exit::DATAERR, e))?;
            if c.general.local_domains.contains(&d) {
                return Err(Failure(
                    exit::DATAERR,
                    format!(
                        "{d} is listed in the config file (general.local_domains); remove it there"
                    ),
                ));
            }
            let pf = PasswdFile::load(&c.userdb.passwd_file)?;
            let users = pf
                .entries()
                .filter(|e| e.login.ends_with(&format!("@{d}")))
                .count();
            if users > 0 && !force {
                return Err(Failure(
                    exit::DATAERR,
                    format!("{d} still has {users} user(s); delete them first or use --force"),
                ));
            }
            df.remove(&d)?;
            df.save()?;
            println!("deleted {d}");
        }
        DomainCmd::List { json } => {
            let all = local_domains(&c)?;
            if json {
                println!("{}", json!(all));
            } else {
                for d in all {
                    println!("{d}");
                }
            }
        }
    }
    Ok(())
}

pub fn alias(config_path: &std::path::Path, cmd: AliasCmd) -> Result<(), Failure> {
    let c = load_config(config_path)?;
    let mut af = AliasesFile::load(&c.userdb.aliases_file)?;
    let parse =
        |t: &str| AliasTarget::parse(t).map_err(|e| Failure(exit::DATAERR, format!("`{t}`: {e}")));
    match cmd {
        AliasCmd::Add { name, targets } => {
            let mut all = af.get(&name).map(|e| e.targets.clone()).unwrap_or_default();
            for t in &targets {
                let t = parse(t)?;
                if !all.contains(&t) {
                    all.push(t);
                }
            }
            af.set(&name, all)?;
            af.save()?;
            println!("alias {} updated", name.to_ascii_lowercase());
        }
        AliasCmd::Del { name, targets } => {
            if targets.is_empty() {
                af.remove(&name)?;
            } else {
                let entry = af
                    .get(&name)
                    .ok_or_else(|| Failure(exit::NOUSER, format!("{name} not found")))?;
                let remove: Vec<AliasTarget> =
                    targets.iter().map(|t| parse(t)).collect::<Result<_, _>>()?;
                let left: Vec<AliasTarget> = entry
                    .targets
                    .iter()
                    .filter(|t| !remove.contains(t))
                    .cloned()
                    .collect();
                if left.len() == entry.targets.len() {
                    return Err(Failure(
                        exit::NOUSER,
                        format!("{name} has none of those targets"),
                    ));
                }
                if left.is_empty() {
                    af.remove(&name)?;
                } else {
                    af.set(&name, left)?;
                }
            }
            af.save()?;
            println!("alias {} updated", name.to_ascii_lowercase());
        }
        AliasCmd::List { json } => {
            if json {
                let v: Vec<_> = af
                    .entries()
                    .map(|e| {
                        json!({
                            "name": e.name,
                            "targets": e.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for e in af.entries() {
                    let t: Vec<String> = e.targets.iter().map(|t| t.to_string()).collect();
                    println!("{}: {}", e.name, t.join(", "));
                }
            }
        }
    }
    Ok(())
}

pub fn quota(config_path: &std::path::Path, cmd: QuotaCmd) -> Result<(), Failure> {
    let QuotaCmd::Set {
        login,
        storage,
        messages,
    } = cmd;
    if storage.is_none() && messages.is_none() {
        return Err(Failure(
            exit::USAGE,
            "give --storage and/or --messages".into(),
        ));
    }
    let c = load_config(config_path)?;
    let mut pf = PasswdFile::load(&c.userdb.passwd_file)?;
    let current = pf
        .get(&login)
        .ok_or_else(|| Failure(exit::NOUSER, format!("{login} not found")))?
        .quota();
    let q = quota_from(storage.as_deref(), messages, current)?;
    pf.set_quota(&login, q)?;
    pf.save()?;
    println!("{}: {q}", login.to_ascii_lowercase());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500M").ok().flatten(), Some(500 << 20));
        assert_eq!(parse_size("2g").ok().flatten(), Some(2 << 30));
        assert_eq!(parse_size("1024").ok().flatten(), Some(1024));
        assert_eq!(parse_size("0").ok().flatten(), None);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
