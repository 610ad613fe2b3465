//! From an envelope recipient to delivery jobs: the user database says where the address
//! goes (aliases, `:include:`, virtual users, Unix accounts, remote targets); each mailbox
//! becomes a [`Job`] run with the owner's identity, remote targets are handed back to the
//! queue together, and the outcomes are folded into the recipient's one LMTP reply.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferrymail_config::Config;
use ferrymail_smtp::Reply;
use ferrymail_users::{Account, Destination, MailboxLocation, ResolveError, UserDb};

use crate::deliver::{Job, Settings, Target};
use crate::error::DeliveryError;
use crate::helper::{self, JobError};
use crate::message;
use crate::metrics;
use crate::requeue::Requeue;

/// How long an mbox delivery waits for other lockers.
pub const MBOX_LOCK_TIMEOUT_MS: u64 =
    ferrymail_maildir::mbox::DEFAULT_LOCK_TIMEOUT.as_millis() as u64;

pub struct Router {
    config: Config,
    userdb: UserDb,
    /// Owner of virtual mailboxes (`delivery.user`).
    vmail: (u32, u32),
}

/// One recipient's outcome, for the log.
#[derive(Debug)]
pub struct Outcome {
    pub reply: Reply,
    pub detail: String,
}

fn resolve_reply(addr: &str, e: &ResolveError) -> DeliveryError {
    match e {
        ResolveError::UnknownUser(_) | ResolveError::EmptyExpansion(_) => {
            DeliveryError::UnknownUser(addr.to_string())
        }
        ResolveError::InvalidAddress(_) => DeliveryError::InvalidAddress(addr.to_string()),
        ResolveError::AliasLoop(_) => DeliveryError::AliasLoop(addr.to_string()),
    }
}

impl Router {
    pub fn new(config: Config, userdb: UserDb, vmail: (u32, u32)) -> Router {
        Router {
            config,
            userdb,
            vmail,
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            create_maildirs: self.config.delivery.create_maildirs,
            quota_action: self.config.delivery.quota_action,
            allow_forward_commands: self.config.delivery.allow_forward_commands,
            spool_dir: self.config.paths.spool_dir.clone(),
            wake_socket: self.config.wake_socket(),
            lock_timeout_ms: MBOX_LOCK_TIMEOUT_MS,
            spam_folder: Some(self.config.delivery.spam_folder.clone()).filter(|f| !f.is_empty()),
            spam_rules: crate::spam::rules(&self.config.delivery.spam_headers),
            sieve: crate::sieve_env::SieveSettings::from_config(&self.config.delivery),
        }
    }

    /// RCPT time: is this an address we deliver for?
    pub fn check_rcpt(&self, addr: &str) -> Result<(), Reply> {
        match self.userdb.resolve_detailed(addr) {
            Ok(_) => Ok(()),
            Err(ResolveError::InvalidAddress(_)) => Err(Reply::new(
                501,
                "5.1.3",
                format!("<{addr}>: bad address syntax"),
            )),
            Err(e) => Err(resolve_reply(addr, &e).reply()),
        }
    }

    fn sieve_path(&self, base: &Path) -> Option<PathBuf> {
        let s = &self.config.delivery.sieve_script;
        (!s.is_empty()).then(|| base.join(s))
    }

    fn account_job(&self, account: &Account, sender: Option<&str>, rcpt: &str) -> Job {
        let location = account.mailbox(&self.config);
        let target = match &location {
            MailboxLocation::Maildir(p) => Target::Maildir(p.clone()),
            MailboxLocation::Mbox(p) => Target::Mbox(p.clone()),
        };
        let quota = account.quota();
        let (uid, gid, base, forward) = match account {
            Account::Virtual(_) => (
                self.vmail.0,
                self.vmail.1,
                account.sieve_home(&self.config),
                None,
            ),
            Account::Unix(u) => (u.uid, u.gid, u.home.clone(), Some(u.home.join(".forward"))),
        };
        Job {
            owner: account.login().to_string(),
            uid,
            gid,
            target,
            quota_bytes: quota.storage_bytes,
            quota_messages: quota.messages,
            sieve: self.sieve_path(&base),
            sieve_home: self.sieve_path(&base).map(|_| base.clone()),
            forward,
            sender: sender.map(str::to_owned),
            recipient: rcpt.to_string(),
            settings: self.settings(),
        }
    }

    fn command_job(&self, target: Target, owner: String, sender: Option<&str>, rcpt: &str) -> Job {
        Job {
            owner,
            uid: self.vmail.0,
            gid: self.vmail.1,
            target,
            quota_bytes: None,
            quota_messages: None,
            sieve: None,
            sieve_home: None,
            forward: None,
            sender: sender.map(str::to_owned),
            recipient: rcpt.to_string(),
            settings: self.settings(),
        }
    }

    /// Delivers `msg` for one recipient and says what to answer.
    pub fn deliver(
        &self,
        sender: Option<&str>,
        rcpt: &str,
        msg: &[u8],
        headers: &[(String, String)],
    ) -> Outcome {
        let started = Instant::now();
        let outcome = match self.deliver_inner(sender, rcpt, msg, headers) {
            Ok(o) => o,
            Err(e) => Outcome {
                reply: e.reply(),
                detail: e.to_string(),
            },
        };
        metrics::recipient(&outcome.reply, started.elapsed());
        outcome
    }

    fn deliver_inner(
        &self,
        sender: Option<&str>,
        rcpt: &str,
        msg: &[u8],
        headers: &[(String, String)],
    ) -> Result<Outcome, JobError> {
        if msg.contains(&0) {
            return Err(DeliveryError::Nul.into());
        }
        let max = self.config.delivery.max_delivered_to;
        if max > 0 && message::delivered_to_count(headers, rcpt) >= max {
            return Err(DeliveryError::MailLoop(rcpt.to_string()).into());
        }
        let resolution = self
            .userdb
            .resolve_detailed(rcpt)
            .map_err(|e| resolve_reply(rcpt, &e))?;
        for (target, e) in &resolution.failures {
            tracing::warn!(recipient = rcpt, target = %target, error = %e, "alias target did not resolve");
        }
        let mut remote = Vec::new();
        let mut results: Vec<(String, Result<String, JobError>)> = Vec::new();
        for d in &resolution.destinations {
            let job = match &d.destination {
                Destination::Virtual(v) => {
                    self.account_job(&Account::Virtual(v.clone()), sender, rcpt)
                }
                Destination::Unix(u) => self.account_job(&Account::Unix(u.clone()), sender, rcpt),
                Destination::Remote(a) => {
                    remote.push(a.clone());
                    continue;
                }
                Destination::File(p) => self.command_job(
                    Target::File(p.clone()),
                    format!("file {}", p.display()),
                    sender,
                    rcpt,
                ),
                Destination::Pipe(c) => {
                    self.command_job(Target::Pipe(c.clone()), format!("pipe {c}"), sender, rcpt)
                }
            };
            let what = job.owner.clone();
            let r = helper::execute(&job, msg).map(|d| {
                if d.rejected {
                    "rejected by Sieve".to_string()
                } else if d.discarded {
                    "discarded by Sieve".to_string()
                } else {
                    let mut s = d.stored.join(",");
                    if !d.forwarded.is_empty() {
                        s.push_str(&format!(" forwarded to {}", d.forwarded.join(",")));
                    }
                    s
                }
            });
            metrics::copy(Some(&job.target), &r);
            results.push((what, r));
        }
        if !remote.is_empty() {
            let rq = Requeue::new(&self.config.paths.spool_dir, &self.config.wake_socket());
            let r = rq
                .submit(sender, &remote, rcpt, msg)
                .map(|id| format!("relayed as maildrop {id}"))
                .map_err(JobError::from);
            metrics::copy(None, &r);
            results.push((remote.join(","), r));
        }
        Ok(combine(rcpt, results))
    }
}

/// One reply for several destinations: a temporary failure anywhere means 4xx (the retry may
/// duplicate the copies that worked, but loses nothing); all permanent failures mean 5xx; a mix
/// of successes and permanent failures is a success with the failures logged.
fn combine(rcpt: &str, results: Vec<(String, Result<String, JobError>)>) -> Outcome {
    let mut detail = Vec::new();
    let mut temp: Option<Reply> = None;
    let mut perm: Option<Reply> = None;
    let mut ok = 0;
    for (what, r) in results {
        match r {
            Ok(d) => {
                ok += 1;
                detail.push(format!("{what}: {d}"));
            }
            Err(e) => {
                let reply = e.reply();
                detail.push(format!("{what}: {e}"));
                if reply.is_transient() {
                    temp.get_or_insert(reply);
                } else {
                    perm.get_or_insert(reply);
                }
            }
        }
    }
    let detail = detail.join("; ");
    if let Some(reply) = temp {
        return Outcome { reply, detail };
    }
    match (ok, perm) {
        (0, Some(reply)) => Outcome { reply, detail },
        (_, p) => {
            if p.is_some() {
                tracing::error!(recipient = rcpt, %detail, "some alias targets failed permanently");
            }
            Outcome {
                reply: Reply::new(250, "2.0.0", format!("<{rcpt}> delivered")),
                detail,
            }
        }
    }
}
