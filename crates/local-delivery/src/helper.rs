//! Running a delivery as the mailbox owner. When the daemon already is that uid the job runs
//! in-process; when it is root, the binary re-executes itself as a short-lived helper
//! (`--delivery-helper`) that switches to the account's uid/gid (and its groups) *before*
//! touching any of its files, like Postfix's local(8) per-delivery setuid. A fresh exec rather
//! than a bare fork because the daemon is multi-threaded (tokio). Root never writes a user's
//! files.
//!
//! Wire format on the helper's stdin: a 4-byte big-endian length, the [`Job`] as JSON, then the
//! message bytes to EOF. On stdout: one JSON [`HelperResult`].

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use ferrymail_smtp::Reply;
use ferrymail_spool::Maildrop;
use nix::unistd::Uid;
use serde::{Deserialize, Serialize};

use crate::deliver::{self, Delivered, Job};
use crate::error::DeliveryError;

/// Largest job description accepted by the helper.
const MAX_JOB: u32 = 1024 * 1024;
/// Bytes of the message accepted by the helper (the daemon's own limit applies before).
const MAX_MESSAGE: u64 = 1 << 32;

/// A failure as it crosses the process boundary: the reply it maps to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireFailure {
    pub code: u16,
    pub enhanced: Option<String>,
    pub text: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HelperResult {
    Ok(Delivered),
    Failed(WireFailure),
}

/// A delivery error reported by a helper, carrying the reply it chose.
#[derive(Debug)]
pub struct RemoteFailure(pub WireFailure);

impl RemoteFailure {
    pub fn reply(&self) -> Reply {
        Reply::new(
            self.0.code,
            self.0.enhanced.as_deref().unwrap_or(""),
            self.0.text.clone(),
        )
    }
}

/// Either a local typed error or one reported by a helper.
#[derive(Debug)]
pub enum JobError {
    Local(DeliveryError),
    Helper(RemoteFailure),
}

impl JobError {
    pub fn reply(&self) -> Reply {
        match self {
            JobError::Local(e) => e.reply(),
            JobError::Helper(f) => f.reply(),
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Local(e) => write!(f, "{e}"),
            JobError::Helper(r) => write!(f, "{} (in helper)", r.0.detail),
        }
    }
}

impl From<DeliveryError> for JobError {
    fn from(e: DeliveryError) -> Self {
        JobError::Local(e)
    }
}

/// Runs `job` with the job's identity.
pub fn execute(job: &Job, msg: &[u8]) -> Result<Delivered, JobError> {
    let euid = Uid::effective().as_raw();
    if euid == job.uid {
        return Ok(deliver::run(job, msg)?);
    }
    if euid != 0 {
        return Err(DeliveryError::Privilege {
            uid: job.uid,
            why: format!("running as uid {euid}, not root"),
        }
        .into());
    }
    spawn_helper(job, msg)
}

fn spawn_helper(job: &Job, msg: &[u8]) -> Result<Delivered, JobError> {
    let exe =
        std::env::current_exe().map_err(|e| DeliveryError::io("locating our own binary", e))?;
    let spec = serde_json::to_vec(job).map_err(|e| DeliveryError::Internal(e.to_string()))?;
    let len =
        u32::try_from(spec.len()).map_err(|_| DeliveryError::Internal("job too large".into()))?;
    let mut child = Command::new(&exe)
        .arg("--delivery-helper")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| DeliveryError::io(format!("spawn {}", exe.display()), e))?;
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin
            .write_all(&len.to_be_bytes())
            .and_then(|()| stdin.write_all(&spec))
            .and_then(|()| stdin.write_all(msg)),
        None => Err(std::io::Error::other("no stdin")),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| DeliveryError::io("waiting for the delivery helper", e))?;
    if let Err(e) = written {
        return Err(DeliveryError::io("writing to the delivery helper", e).into());
    }
    match serde_json::from_slice::<HelperResult>(&out.stdout) {
        Ok(HelperResult::Ok(d)) => Ok(d),
        Ok(HelperResult::Failed(f)) => Err(JobError::Helper(RemoteFailure(f))),
        Err(_) => Err(DeliveryError::Internal(format!(
            "delivery helper died without a result ({})",
            out.status
        ))
        .into()),
    }
}

/// Switches this (single-threaded, freshly exec'd) process to `uid`/`gid` for good; the
/// mechanism is shared with imapd's per-login session child. Forwards go back to the queue
/// through `maildrop/`, which only sendmail's setgid group may write, so the helper keeps
/// that group (the directory's) as sendmail would have it.
fn become_user(uid: u32, gid: u32, spool_dir: &Path) -> Result<(), DeliveryError> {
    let drop_group = Maildrop::open(spool_dir).and_then(|m| m.submit_group());
    let extra: Vec<u32> = drop_group.into_iter().collect();
    ferrymail_net::privdrop::become_account_with(uid, gid, &extra).map_err(|e| {
        DeliveryError::Privilege {
            uid,
            why: e.to_string(),
        }
    })
}

fn read_job(input: &mut impl Read) -> Result<(Job, Vec<u8>), DeliveryError> {
    let bad = |why: &str| DeliveryError::Internal(format!("helper input: {why}"));
    let mut len = [0u8; 4];
    input
        .read_exact(&mut len)
        .map_err(|e| DeliveryError::io("reading job", e))?;
    let len = u32::from_be_bytes(len);
    if len > MAX_JOB {
        return Err(bad("job too large"));
    }
    let mut spec = vec![0u8; len as usize];
    input
        .read_exact(&mut spec)
        .map_err(|e| DeliveryError::io("reading job", e))?;
    let job: Job = serde_json::from_slice(&spec).map_err(|e| bad(&e.to_string()))?;
    let mut msg = Vec::new();
    input
        .take(MAX_MESSAGE)
        .read_to_end(&mut msg)
        .map_err(|e| DeliveryError::io("reading message", e))?;
    Ok((job, msg))
}

/// The helper's whole life: read the job, become the user, deliver, report. Returns the
/// process exit code.
pub fn helper_main() -> i32 {
    let result = (|| -> Result<Delivered, DeliveryError> {
        let (job, msg) = read_job(&mut std::io::stdin().lock())?;
        become_user(job.uid, job.gid, &job.settings.spool_dir)?;
        let span = tracing::info_span!("helper", owner = %job.owner, uid = job.uid);
        let _g = span.enter();
        deliver::run(&job, &msg)
    })();
    let out = match result {
        Ok(d) => HelperResult::Ok(d),
        Err(e) => {
            let r = e.reply();
            HelperResult::Failed(WireFailure {
                code: r.code,
                enhanced: r.enhanced.map(|c| c.to_string()),
                text: r.text(),
                detail: e.to_string(),
            })
        }
    };
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
