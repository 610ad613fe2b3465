//! Delivering one message into one account's mailboxes: `.forward`, Sieve, quota, Maildir or
//! mbox. A [`Job`] carries everything this needs and nothing else, so it can run in this
//! process or, serialised, in a child that has switched to the account's uid ([`crate::helper`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferrymail_config::QuotaAction;
use ferrymail_maildir::{DeliverOptions, MailboxName, Maildir, Store};
use serde::{Deserialize, Serialize};

use crate::error::DeliveryError;
use crate::header_edit;
use crate::mbox;
use crate::message;
use crate::requeue::Requeue;
use crate::sieve_env::{self, SieveSettings};
use crate::sieve_flags;
use crate::spam;
use ferrymail_sieve::Action;

/// Largest Sieve script or `.forward` file read.
pub const MAX_USER_FILE: u64 = 256 * 1024;
/// Longest a `|command` delivery may run.
pub const PIPE_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the message is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// A Maildir++ store (INBOX at this path).
    Maildir(PathBuf),
    /// An mbox file.
    Mbox(PathBuf),
    /// `/file` from an alias or `.forward`: appended in mbox format.
    File(PathBuf),
    /// `|command` from an alias or `.forward`: the message on its stdin.
    Pipe(String),
}

/// Settings from the config that a delivery needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub create_maildirs: bool,
    pub quota_action: QuotaAction,
    pub allow_forward_commands: bool,
    pub spool_dir: PathBuf,
    pub wake_socket: PathBuf,
    pub lock_timeout_ms: u64,
    /// Where the implicit keep of a message with a spam verdict goes (`None`: INBOX).
    pub spam_folder: Option<String>,
    pub spam_rules: Vec<spam::Rule>,
    pub sieve: SieveSettings,
}

/// One delivery to one account (or alias file/pipe target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// For logs: the account login or the alias target.
    pub owner: String,
    pub uid: u32,
    pub gid: u32,
    pub target: Target,
    pub quota_bytes: Option<u64>,
    pub quota_messages: Option<u64>,
    /// The user's active Sieve script, if they may have one.
    pub sieve: Option<PathBuf>,
    /// Where the user's scripts (`sieve/`) and Sieve tracking live; `None` for alias targets.
    pub sieve_home: Option<PathBuf>,
    /// The user's `.forward` (Unix accounts).
    pub forward: Option<PathBuf>,
    /// Envelope sender; `None` is `<>`.
    pub sender: Option<String>,
    /// The RCPT address, written as `Delivered-To:`.
    pub recipient: String,
    pub settings: Settings,
}

/// What a successful delivery did, for the log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub stored: Vec<String>,
    pub forwarded: Vec<String>,
    pub discarded: bool,
    /// Refused by Sieve `reject` (a rejection message went to the sender).
    pub rejected: bool,
}

/// Reads a small user-owned file without following a final symlink; `None` when absent.
pub(crate) fn read_user_file(path: &Path) -> Result<Option<String>, DeliveryError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeliveryError::io(format!("open {}", path.display()), e)),
    };
    let mut text = String::new();
    f.take(MAX_USER_FILE)
        .read_to_string(&mut text)
        .map_err(|e| DeliveryError::io(format!("read {}", path.display()), e))?;
    Ok(Some(text))
}

/// One `.forward` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardEntry {
    Address(String),
    /// `\user` or the account's own name: keep a copy in the mailbox.
    KeepSelf,
    Pipe(String),
    File(PathBuf),
}

/// Parses a `.forward`: entries separated by commas or newlines, `#` comments, quoted
/// `"|command"`.
pub fn parse_forward(text: &str, own_login: &str) -> Vec<ForwardEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(cmd) = line
            .strip_prefix('|')
            .or_else(|| line.strip_prefix("\"|").and_then(|l| l.strip_suffix('"')))
        {
            out.push(ForwardEntry::Pipe(cmd.trim().to_string()));
            continue;
        }
        for item in line.split(',') {
            let item = item.trim().trim_matches('"');
            if item.is_empty() {
                continue;
            }
            if let Some(me) = item.strip_prefix('\\') {
                if me.eq_ignore_ascii_case(own_login)
                    || me.split('@').next() == own_login.split('@').next()
                {
                    out.push(ForwardEntry::KeepSelf);
                } else {
                    out.push(ForwardEntry::Address(me.to_string()));
                }
            } else if item.starts_with('/') {
                out.push(ForwardEntry::File(PathBuf::from(item)));
            } else if item.eq_ignore_ascii_case(own_login) {
                out.push(ForwardEntry::KeepSelf);
            } else {
                let a = item.trim_start_matches('<').trim_end_matches('>');
                out.push(ForwardEntry::Address(a.to_string()));
            }
        }
    }
    out
}

/// Runs a job in the current process (which must already be the job's uid).
pub fn run(job: &Job, msg: &[u8]) -> Result<Delivered, DeliveryError> {
    let lay = message::layout(msg);
    let trace = message::trace_headers(job.sender.as_deref(), &job.recipient, lay);
    let mut done = Delivered::default();
    let lock = mbox::LockOptions {
        timeout: Duration::from_millis(job.settings.lock_timeout_ms),
        ..mbox::LockOptions::default()
    };
    match &job.target {
        Target::Pipe(cmd) => {
            if !job.settings.allow_forward_commands {
                return Err(DeliveryError::TargetDisabled("pipe"));
            }
            pipe(cmd, job, &trace, msg)?;
            done.stored.push(format!("|{cmd}"));
            return Ok(done);
        }
        Target::File(path) => {
            if !job.settings.allow_forward_commands {
                return Err(DeliveryError::TargetDisabled("file"));
            }
            mbox::append(path, job.sender.as_deref(), &[&trace, msg], &lock)?;
            done.stored.push(path.display().to_string());
            return Ok(done);
        }
        Target::Maildir(_) | Target::Mbox(_) => {}
    }

    // .forward first: it decides whether the mailbox gets the message at all.
    let mut forwards: Vec<String> = Vec::new();
    let mut keep_local = true;
    if let Some(fwd) = &job.forward {
        if let Some(text) = read_user_file(fwd)? {
            let entries = parse_forward(&text, &job.owner);
            if !entries.is_empty() {
                keep_local = false;
                for e in entries {
                    match e {
                        ForwardEntry::KeepSelf => keep_local = true,
                        ForwardEntry::Address(a) => forwards.push(a),
                        ForwardEntry::Pipe(cmd) if job.settings.allow_forward_commands => {
                            pipe(&cmd, job, &trace, msg)?;
                            done.stored.push(format!("|{cmd}"));
                        }
                        ForwardEntry::File(p) if job.settings.allow_forward_commands => {
                            mbox::append(&p, job.sender.as_deref(), &[&trace, msg], &lock)?;
                            done.stored.push(p.display().to_string());
                        }
                        ForwardEntry::Pipe(_) | ForwardEntry::File(_) => {
                            tracing::warn!(forward = %fwd.display(), "ignoring a command or file target in .forward (delivery.allow_forward_commands is off)");
                        }
                    }
                }
                // Only ignored entries: deliver normally rather than drop the message.
                if forwards.is_empty() && done.stored.is_empty() {
                    keep_local = true;
                }
            }
        }
    }

    let tracking = keep_local.then(|| sieve_env::open_tracking(job)).flatten();
    let decision = keep_local.then(|| sieve_env::decide(job, msg, tracking.as_ref()));
    let (actions, implicit_keep, create, edits) = match &decision {
        Some(d) => (
            d.actions.clone(),
            d.implicit_keep,
            d.create.as_slice(),
            d.header_edits.as_slice(),
        ),
        None => (Vec::new(), true, &[][..], &[][..]),
    };
    // RFC 5429: a refused message goes nowhere; `ereject` becomes this recipient's 550.
    if let Some(r) = actions.iter().find_map(|a| match a {
        Action::Reject(r) => Some(r),
        _ => None,
    }) {
        if r.extended {
            return Err(DeliveryError::SieveRefused(r.reason.clone()));
        }
        sieve_env::send_rejection(job, msg, &r.reason)?;
        done.rejected = true;
        return Ok(done);
    }
    // Every copy, stored or redirected, carries the script's header edits.
    let edited;
    let msg = if edits.is_empty() {
        msg
    } else {
        edited = header_edit::apply(msg, edits);
        &edited[..]
    };
    // A spam verdict moves only the keep nobody asked for: the script's own keep or fileinto
    // stands.
    let keep_folder = job.settings.spam_folder.as_ref().filter(|_| {
        implicit_keep && spam::is_spam(&message::headers(msg), &job.settings.spam_rules)
    });
    for a in &actions {
        if let Action::Redirect(to) = a {
            forwards.push(to.clone());
        }
    }
    let stores: Vec<(Option<String>, &[String])> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Keep { flags } => Some((keep_folder.cloned(), flags.as_slice())),
            Action::FileInto { mailbox, flags } => Some((Some(mailbox.clone()), flags.as_slice())),
            Action::Redirect(_) | Action::Vacation(_) | Action::Reject(_) => None,
        })
        .collect();
    if !stores.is_empty() {
        check_quota(job, msg.len() as u64 + trace.len() as u64)?;
    }
    let mut stored_inbox = false;
    for (folder, flags) in &stores {
        match &job.target {
            Target::Maildir(root) => {
                let is_spam_folder = folder.is_some() && folder.as_ref() == keep_folder;
                // A folder that falls back to INBOX must not store a second INBOX copy.
                let (md, name) = if is_spam_folder {
                    open_spam_folder(root, folder.as_deref(), job)?
                } else {
                    // `fileinto :create` makes its folder even where folders are not made.
                    let create = job.settings.create_maildirs
                        || folder.as_ref().is_some_and(|f| create.contains(f));
                    open_folder(root, folder.as_deref(), job, create)?
                };
                if name == "INBOX" {
                    if stored_inbox {
                        continue;
                    }
                    stored_inbox = true;
                }
                let opts = match sieve_flags::maildir_flags(flags, &job.owner) {
                    Some(f) => DeliverOptions::default().with_flags(f),
                    None => DeliverOptions::default(),
                };
                md.deliver(&[&trace, msg], opts)?;
                done.stored.push(name);
            }
            Target::Mbox(path) => {
                if folder.is_some() && folder.as_ref() == keep_folder {
                    tracing::info!(owner = %job.owner, "spam verdict on an mbox account: kept in the mbox");
                } else if folder.is_some() {
                    tracing::info!(owner = %job.owner, "fileinto on an mbox account: kept in the mbox");
                }
                if stored_inbox {
                    continue;
                }
                mbox::append(path, job.sender.as_deref(), &[&trace, msg], &lock)?;
                stored_inbox = true;
                done.stored.push(path.display().to_string());
            }
            Target::File(_) | Target::Pipe(_) => {}
        }
    }
    if !forwards.is_empty() {
        forwards.dedup();
        let requeue = Requeue::new(&job.settings.spool_dir, &job.settings.wake_socket);
        requeue.submit(job.sender.as_deref(), &forwards, &job.recipient, msg)?;
        done.forwarded = forwards;
    }
    if let Some(d) = &decision {
        sieve_env::after_delivery(job, msg, d, tracking);
    }
    done.discarded = done.stored.is_empty() && done.forwarded.is_empty();
    Ok(done)
}

fn check_quota(job: &Job, size: u64) -> Result<(), DeliveryError> {
    if job.quota_bytes.is_none() && job.quota_messages.is_none() {
        return Ok(());
    }
    let (bytes, messages) = match &job.target {
        Target::Maildir(root) => match Store::new(root).usage() {
            Ok(u) => (u.bytes, u.messages),
            Err(e) if e.is_not_found() => (0, 0),
            Err(e) => return Err(e.into()),
        },
        Target::Mbox(p) => (mbox::size(p)?, 0),
        Target::File(_) | Target::Pipe(_) => return Ok(()),
    };
    let over_bytes = job
        .quota_bytes
        .is_some_and(|q| bytes.saturating_add(size) > q);
    let over_msgs = job
        .quota_messages
        .is_some_and(|q| messages.saturating_add(1) > q);
    if over_bytes || over_msgs {
        let q = ferrymail_users::Quota {
            storage_bytes: job.quota_bytes,
            messages: job.quota_messages,
        };
        return Err(DeliveryError::OverQuota(
            q.to_string(),
            job.settings.quota_action,
        ));
    }
    Ok(())
}

/// The spam folder, created if missing whatever `create_maildirs` says (imapd gives every
/// store one). One that cannot be opened — a symlink or file in its place — means INBOX: a
/// verdict never defers or loses mail, and a store's real trouble shows in that write.
fn open_spam_folder(
    root: &Path,
    folder: Option<&str>,
    job: &Job,
) -> Result<(Maildir, String), DeliveryError> {
    match open_folder(root, folder, job, true) {
        Ok(opened) => Ok(opened),
        Err(e) => {
            tracing::warn!(owner = %job.owner, folder, error = %e, "cannot use the spam folder; kept in INBOX");
            open_folder(root, None, job, false)
        }
    }
}

/// INBOX or a folder, and the name used. A folder that cannot be used (bad name, missing and
/// not `create`d) means INBOX instead.
fn open_folder(
    root: &Path,
    folder: Option<&str>,
    job: &Job,
    create: bool,
) -> Result<(Maildir, String), DeliveryError> {
    let store = Store::new(root);
    let inbox = || -> Result<Maildir, DeliveryError> {
        match store.inbox() {
            Ok(m) => Ok(m),
            Err(e) if e.is_not_found() && job.settings.create_maildirs => Ok(store.ensure_inbox()?),
            Err(e) => Err(e.into()),
        }
    };
    Ok(match folder {
        None => (inbox()?, "INBOX".to_string()),
        Some(f) => match MailboxName::new(f) {
            Ok(n) if n.is_inbox() => (inbox()?, "INBOX".to_string()),
            Ok(n) => match store.folder(&n) {
                Ok(md) => (md, n.to_string()),
                Err(e) if e.is_not_found() && create => {
                    inbox()?;
                    match store.create_folder(&n) {
                        Ok(md) => (md, n.to_string()),
                        // Created by a concurrent delivery in between.
                        Err(ferrymail_maildir::Error::MailboxExists(_)) => {
                            (store.folder(&n)?, n.to_string())
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) if e.is_not_found() => {
                    tracing::warn!(owner = %job.owner, folder = f, "fileinto: folder does not exist; kept in INBOX");
                    (inbox()?, "INBOX".to_string())
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => {
                tracing::warn!(owner = %job.owner, folder = f, error = %e, "fileinto: bad folder name; kept in INBOX");
                (inbox()?, "INBOX".to_string())
            }
        },
    })
}

fn pipe(cmd: &str, job: &Job, trace: &[u8], msg: &[u8]) -> Result<(), DeliveryError> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("SENDER", job.sender.as_deref().unwrap_or(""))
        .env("RECIPIENT", &job.recipient)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| DeliveryError::io(format!("spawn {cmd}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading everything is its own business (EPIPE).
        let _ = stdin.write_all(trace).and_then(|()| stdin.write_all(msg));
    }
    let deadline = std::time::Instant::now() + PIPE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(DeliveryError::PipeFailed(format!("{cmd}: {status}"))),
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DeliveryError::PipeFailed(format!("{cmd}: timed out")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(DeliveryError::io(format!("wait {cmd}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(root: &Path, sieve: Option<PathBuf>) -> Job {
        Job {
            owner: "u@x.test".into(),
            uid: nix::unistd::Uid::effective().as_raw(),
            gid: nix::unistd::Gid::effective().as_raw(),
            target: Target::Maildir(root.join("Maildir")),
            quota_bytes: None,
            quota_messages: None,
            sieve,
            sieve_home: None,
            forward: None,
            sender: Some("s@y.test".into()),
            recipient: "u@x.test".into(),
            settings: Settings {
                create_maildirs: true,
                quota_action: QuotaAction::Defer,
                allow_forward_commands: false,
                spool_dir: root.join("spool"),
                wake_socket: root.join("wake.sock"),
                lock_timeout_ms: 1000,
                spam_folder: Some("Junk".into()),
                spam_rules: spam::rules(&["X-Spam: Yes".into()]),
                sieve: SieveSettings::default(),
            },
        }
    }

    #[test]
    fn keep_and_fileinto_inbox_store_one_copy() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sieve");
        std::fs::write(
            &script,
            "require \"fileinto\"; keep; fileinto \"INBOX\"; fileinto \"bad/../name\"; fileinto \"Sub\";",
        )
        .unwrap();
        let d = run(&job(dir.path(), Some(script)), b"Subject: x\r\n\r\nb\r\n").unwrap();
        assert_eq!(d.stored, vec!["INBOX".to_string(), "Sub".to_string()]);
        let store = Store::new(dir.path().join("Maildir"));
        assert_eq!(store.inbox().unwrap().list().unwrap().len(), 1);
        let sub = store.folder(&MailboxName::new("Sub").unwrap()).unwrap();
        assert_eq!(sub.list().unwrap().len(), 1);
    }

    #[test]
    fn fileinto_create_makes_a_missing_folder_where_folders_are_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sieve");
        std::fs::write(
            &script,
            "require [\"fileinto\", \"mailbox\"];\n\
             if mailboxexists \"New\" { fileinto \"Again\"; }\n\
             fileinto :create \"New\"; fileinto \"Missing\";",
        )
        .unwrap();
        let mut j = job(dir.path(), Some(script));
        j.settings.create_maildirs = false;
        Store::new(dir.path().join("Maildir"))
            .ensure_inbox()
            .unwrap();
        assert_eq!(
            run(&j, b"Subject: x\r\n\r\nb\r\n").unwrap().stored,
            ["New", "INBOX"]
        );
        // Now it exists: mailboxexists sees it, and :create leaves its message in place.
        let d = run(&j, b"Subject: y\r\n\r\nb\r\n").unwrap();
        assert_eq!(d.stored, ["INBOX", "New"]);
        assert_eq!(counts(dir.path(), "New"), (2, 2));
    }

    #[test]
    fn sieve_flags_are_stored_as_maildir_info() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sieve");
        std::fs::write(
            &script,
            "require [\"fileinto\", \"imap4flags\"]; addflag [\"\\\\Seen\", \"$label\"];\n\
             fileinto :flags \"\\\\Flagged \\\\Answered\" \"Sub\"; keep;",
        )
        .unwrap();
        let d = run(&job(dir.path(), Some(script)), b"Subject: x\r\n\r\nb\r\n").unwrap();
        assert_eq!(d.stored, ["Sub", "INBOX"]);
        let names = |sub: &str| -> Vec<String> {
            std::fs::read_dir(dir.path().join("Maildir").join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        let sub = names(".Sub/cur");
        assert!(sub.len() == 1 && sub[0].ends_with(":2,FR"), "{sub:?}");
        let inbox = names("cur");
        assert!(inbox.len() == 1 && inbox[0].ends_with(":2,S"), "{inbox:?}");
    }

    #[test]
    fn sieve_header_edits_are_in_the_stored_copy() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sieve");
        std::fs::write(
            &script,
            "require \"editheader\"; deleteheader \"x-drop\"; addheader \"X-Sieved\" \"1\";",
        )
        .unwrap();
        let j = job(dir.path(), Some(script));
        run(&j, b"X-Drop: a\r\nSubject: x\r\n\r\nX-Drop: body\r\n").unwrap();
        let (_, text) = only_message(&dir.path().join("Maildir/new"));
        assert!(
            text.ends_with("X-Sieved: 1\r\nSubject: x\r\n\r\nX-Drop: body\r\n"),
            "{text}"
        );
        assert!(!text.contains("X-Drop: a"));
    }

    #[test]
    fn before_and_user_scripts_edits_flags_and_created_folders_all_apply() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before.sieve");
        std::fs::write(
            &before,
            "require [\"editheader\", \"imap4flags\"]; addheader \"X-Site\" \"1\"; addflag \"\\\\Flagged\";",
        )
        .unwrap();
        let user = dir.path().join("s.sieve");
        std::fs::write(
            &user,
            "require [\"fileinto\", \"mailbox\", \"editheader\", \"imap4flags\"];\n\
             addheader \"X-User\" \"2\";\n\
             if header :is \"X-Site\" \"1\" { fileinto :create :flags \"\\\\Seen\" \"Made\"; }",
        )
        .unwrap();
        let mut j = job(dir.path(), Some(user));
        j.sieve_home = Some(dir.path().to_path_buf());
        j.settings.create_maildirs = false;
        j.settings.sieve.before = vec![before];
        Store::new(dir.path().join("Maildir"))
            .ensure_inbox()
            .unwrap();
        let d = run(&j, b"Subject: x\r\n\r\nb\r\n").unwrap();
        assert_eq!(d.stored, ["Made"]);
        assert_eq!(counts(dir.path(), "Made"), (0, 1));
        let (file, text) = only_message(&dir.path().join("Maildir/.Made/cur"));
        assert!(file.ends_with(":2,S"), "{file}");
        assert!(
            text.contains("X-User: 2\r\nX-Site: 1\r\nSubject: x\r\n"),
            "{text}"
        );
    }

    /// The name and text of the one message file in `dir`.
    fn only_message(dir: &Path) -> (String, String) {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let text = String::from_utf8(std::fs::read(&files[0]).unwrap()).unwrap();
        (files[0].to_string_lossy().into_owned(), text)
    }

    const SPAM: &[u8] = b"X-Spam: yes\r\nSubject: buy\r\n\r\nb\r\n";

    /// Messages in INBOX and in a folder of the store under `dir`.
    fn counts(dir: &Path, folder: &str) -> (usize, usize) {
        let store = Store::new(dir.join("Maildir"));
        let inbox = store.inbox().map_or(0, |m| m.list().unwrap().len());
        let other = store
            .folder(&MailboxName::new(folder).unwrap())
            .map_or(0, |m| m.list().unwrap().len());
        (inbox, other)
    }

    #[test]
    fn a_spam_verdict_sends_the_implicit_keep_to_junk_created_if_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job(dir.path(), None);
        // The spam folder is made even where fileinto folders are not.
        j.settings.create_maildirs = false;
        Store::new(dir.path().join("Maildir"))
            .ensure_inbox()
            .unwrap();
        let d = run(&j, SPAM).unwrap();
        assert_eq!(d.stored, ["Junk"]);
        assert_eq!(counts(dir.path(), "Junk"), (0, 1));
        run(&j, b"Subject: clean\r\n\r\nb\r\n").unwrap();
        assert_eq!(counts(dir.path(), "Junk"), (1, 1));
        // Off: spam stays in INBOX.
        j.settings.spam_folder = None;
        run(&j, SPAM).unwrap();
        assert_eq!(counts(dir.path(), "Junk"), (2, 1));
    }

    #[test]
    fn a_sieve_keep_or_fileinto_overrides_the_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sieve");
        let mut j = job(dir.path(), Some(script.clone()));
        std::fs::write(&script, "require \"fileinto\"; fileinto \"Work\";").unwrap();
        assert_eq!(run(&j, SPAM).unwrap().stored, ["Work"]);
        std::fs::write(&script, "if header :is \"x-spam\" \"yes\" { keep; }").unwrap();
        assert_eq!(run(&j, SPAM).unwrap().stored, ["INBOX"]);
        // A script that fails keeps the message implicitly: the verdict applies.
        std::fs::write(&script, "this is not sieve").unwrap();
        assert_eq!(run(&j, SPAM).unwrap().stored, ["Junk"]);
        std::fs::write(&script, "if false { keep; }").unwrap();
        assert_eq!(run(&j, SPAM).unwrap().stored, ["Junk"]);
        assert_eq!(counts(dir.path(), "Work"), (1, 1));
        assert_eq!(counts(dir.path(), "Junk"), (1, 2));
        // An mbox account keeps it in the mbox.
        j.target = Target::Mbox(dir.path().join("mbox"));
        j.sieve = None;
        let d = run(&j, SPAM).unwrap();
        assert_eq!(d.stored, [dir.path().join("mbox").display().to_string()]);
    }

    #[test]
    fn a_spam_folder_that_leads_out_of_the_store_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("new")).unwrap();
        std::fs::create_dir_all(outside.join("cur")).unwrap();
        std::fs::create_dir_all(outside.join("tmp")).unwrap();
        let store = Store::new(dir.path().join("Maildir"));
        store.ensure_inbox().unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("Maildir/.Junk")).unwrap();
        let d = run(&job(dir.path(), None), SPAM).unwrap();
        assert_eq!(d.stored, ["INBOX"]);
        assert_eq!(std::fs::read_dir(outside.join("new")).unwrap().count(), 0);
        assert_eq!(store.inbox().unwrap().list().unwrap().len(), 1);
    }

    #[test]
    fn quota_counts_existing_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job(dir.path(), None);
        j.quota_bytes = Some(120);
        run(&j, b"Subject: x\r\n\r\nb\r\n").unwrap();
        let e = run(&j, &[b'x'; 100]).unwrap_err();
        assert!(matches!(e, DeliveryError::OverQuota(..)), "{e}");
        assert_eq!(e.reply().code, 452);
    }

    #[test]
    fn forward_file_parsing() {
        let e = parse_forward(
            "# comment\njoe@a.test, \\me\n\"|/usr/bin/procmail\"\n/tmp/x, <b@c.test>\n",
            "me",
        );
        assert_eq!(
            e,
            vec![
                ForwardEntry::Address("joe@a.test".into()),
                ForwardEntry::KeepSelf,
                ForwardEntry::Pipe("/usr/bin/procmail".into()),
                ForwardEntry::File("/tmp/x".into()),
                ForwardEntry::Address("b@c.test".into()),
            ]
        );
        assert!(parse_forward("\n# only comments\n", "me").is_empty());
    }
}
