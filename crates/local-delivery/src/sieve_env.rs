//! Running Sieve for one delivery: finding the scripts in Pigeonhole's layout, the site's
//! before-scripts and the user's active script run as one sequence, answering the scripts'
//! questions (`include`, `duplicate`) from the user's Sieve home, and after the message is
//! stored, the vacation reply and the tracking records.
//!
//! Layout (Pigeonhole's, so Dovecot users' scripts keep working): the user's scripts are
//! `<sieve home>/sieve/<name>.sieve`; the active one is the symlink `delivery.sieve_script`
//! (`.dovecot.sieve`) pointing at one of them; without it a legacy `.sieve` file is read.
//!
//! Sequence (Pigeonhole's `sieve_before`): each script runs with the actions of the ones
//! before it already taken, and sees the message with their header edits; the next one runs
//! only while the message is still kept (the implicit keep not cancelled, or an explicit
//! `keep`). So a site script that files spam into Junk ends the sequence, and the user's
//! script never sees that message.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrymail_sieve::{Action, DuplicateKey, Facts, HeaderEdit, Script};
use serde::{Deserialize, Serialize};

use crate::deliver::{read_user_file, Job, Target};
use crate::error::DeliveryError;
use crate::header_edit;
use crate::message;
use crate::requeue::Requeue;
use crate::sieve_view::{self, DeliveryView};
use crate::tracking::{Kind, Tracking};
use crate::vacation;

/// The legacy single-script file, read when the active-script link is absent.
pub const LEGACY_SCRIPT: &str = ".sieve";
/// Where a user's scripts are, beside the active link (the store's layout).
pub const SCRIPTS_DIR: &str = ferrymail_sieve::store::SCRIPT_DIR;
/// `duplicate` without `:seconds` (Pigeonhole's `sieve_duplicate_default_period`).
pub const DUPLICATE_DEFAULT_PERIOD: u64 = 14 * 86_400;

/// The Sieve settings of `[delivery]` a job carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SieveSettings {
    /// `[delivery.sieve]`: the bounds of a script run and the spam score header.
    pub language: ferrymail_config::Sieve,
    pub vacation_max_replies_per_day: u32,
    pub vacation_min_period: u64,
    pub vacation_max_period: u64,
    pub max_tracking_entries: usize,
    pub before: Vec<PathBuf>,
    pub global_dir: Option<PathBuf>,
}

impl SieveSettings {
    pub fn from_config(d: &ferrymail_config::Delivery) -> SieveSettings {
        SieveSettings {
            language: d.sieve.clone(),
            vacation_max_replies_per_day: d.vacation_max_replies_per_day,
            vacation_min_period: d.vacation_min_period.as_secs(),
            vacation_max_period: d.vacation_max_period.as_secs(),
            max_tracking_entries: d.duplicate_max_entries,
            before: d.sieve_before.clone(),
            global_dir: Some(d.sieve_global_dir.clone()).filter(|p| !p.as_os_str().is_empty()),
        }
    }
}

impl Default for SieveSettings {
    fn default() -> Self {
        SieveSettings::from_config(&ferrymail_config::Delivery::default())
    }
}

/// What the sequence decided.
pub struct Decision {
    pub actions: Vec<Action>,
    /// The keep among `actions` is nobody's explicit choice (a spam verdict may move it).
    pub implicit_keep: bool,
    /// Folders `fileinto :create` asked for, all scripts together.
    pub create: Vec<String>,
    /// Header edits for every delivered copy, in the order the scripts made them.
    pub header_edits: Vec<HeaderEdit>,
    duplicates: Vec<DuplicateKey>,
}

pub(crate) fn duplicate_key(k: &DuplicateKey) -> String {
    format!("{}\0{}", k.handle, k.id)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The active script: Pigeonhole's link followed only to a file in `sieve/` next to it (a
/// link elsewhere is refused), a plain file read as it is, and when neither exists the
/// legacy `.sieve` beside it.
fn active_script(path: &Path, owner: &str) -> Result<Option<String>, DeliveryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            // The link's reading is the script store's: the one place that knows its shape.
            let target = ferrymail_sieve::store::follow_active_link(path);
            if target == path {
                return Err(DeliveryError::Internal(format!(
                    "{} points outside {SCRIPTS_DIR}/",
                    path.display()
                )));
            }
            read_user_file(&target)
        }
        Ok(_) => read_user_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if path.file_name().is_some_and(|n| n == LEGACY_SCRIPT) {
                return Ok(None);
            }
            let legacy = dir.join(LEGACY_SCRIPT);
            let text = read_user_file(&legacy)?;
            if text.is_some() {
                tracing::info!(owner, script = %legacy.display(), "no active-script link; reading the legacy script");
            }
            Ok(text)
        }
        Err(e) => Err(DeliveryError::io(format!("stat {}", path.display()), e)),
    }
}

/// Runs the before-scripts and the user's script. Any failure of a script means that
/// script kept the message (RFC 5228 §2.10.6): mail is never lost to a broken filter.
pub fn decide(job: &Job, msg: &[u8], tracking: Option<&Tracking>) -> Decision {
    let s = &job.settings.sieve;
    let now = now();
    let limits = sieve_view::limits(&s.language);
    let mut scripts: Vec<(String, Option<String>)> = Vec::new();
    if job.sieve_home.is_some() {
        for p in &s.before {
            let text = std::fs::read_to_string(p)
                .map(Some)
                .map_err(|e| DeliveryError::io(format!("read {}", p.display()), e));
            scripts.push((p.display().to_string(), log_read(job, p, text)));
        }
    }
    if let Some(p) = &job.sieve {
        scripts.push((
            p.display().to_string(),
            log_read(job, p, active_script(p, &job.owner)),
        ));
    }
    let mut d = Decision {
        actions: Vec::new(),
        implicit_keep: true,
        create: Vec::new(),
        header_edits: Vec::new(),
        duplicates: Vec::new(),
    };
    // The keep the last script took (with its flags), if it kept the message.
    let mut keep = Some(Action::keep());
    // Each script sees the message as the header edits of the ones before it left it.
    let mut current = Cow::Borrowed(msg);
    for (name, text) in scripts {
        let Some(text) = text else { continue };
        let headers = message::headers(&current);
        let view = DeliveryView {
            facts: Facts {
                headers: &headers,
                from: job.sender.as_deref().unwrap_or(""),
                to: &job.recipient,
                size: current.len() as u64,
            },
            maildir: match &job.target {
                Target::Maildir(root) => Some(root),
                _ => None,
            },
            message: &current,
            spam_score: sieve_view::spam_score(&headers, &job.settings),
            home: job.sieve_home.as_deref(),
            global_dir: s.global_dir.as_deref(),
            tracking,
            now,
        };
        let outcome = Script::parse_limited(&text, &limits)
            .and_then(|sc| sc.evaluate_limited(&view, &limits));
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(owner = %job.owner, script = %name, error = %e, "Sieve script failed; keeping the message");
                continue;
            }
        };
        keep = None;
        d.implicit_keep = o.implicit_keep;
        for a in o.actions {
            if matches!(a, Action::Keep { .. }) {
                keep = Some(a);
            } else if !d.actions.contains(&a) {
                d.actions.push(a);
            }
        }
        d.create.extend(o.create);
        if !o.header_edits.is_empty() {
            current = Cow::Owned(header_edit::apply(&current, &o.header_edits));
        }
        d.header_edits.extend(o.header_edits);
        d.duplicates.extend(o.duplicates);
        if keep.is_none() {
            break;
        }
    }
    d.actions.extend(keep);
    d
}

fn log_read(job: &Job, path: &Path, r: Result<Option<String>, DeliveryError>) -> Option<String> {
    match r {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(owner = %job.owner, script = %path.display(), error = %e, "cannot read Sieve script; keeping the message");
            None
        }
    }
}

/// Opens the user's tracking store; without one (no Sieve home, an unwritable one) vacation
/// does not reply and `duplicate` sees nothing, and delivery goes on.
pub fn open_tracking(job: &Job) -> Option<Tracking> {
    let home = job.sieve_home.as_deref()?;
    match Tracking::open(home, job.settings.sieve.max_tracking_entries) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(owner = %job.owner, home = %home.display(), error = %e, "cannot open the Sieve tracking file; no vacation replies or duplicate tracking");
            None
        }
    }
}

fn generated_id(recipient: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let domain = recipient
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    format!(
        "<sieve.{nanos}.{}.{}@{domain}>",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// `reject`: the rejection message to the envelope sender, never to `<>`.
pub fn send_rejection(job: &Job, msg: &[u8], reason: &str) -> Result<(), DeliveryError> {
    let Some(sender) = job.sender.as_deref().filter(|s| !s.is_empty()) else {
        tracing::info!(owner = %job.owner, "Sieve reject of a message from <>: discarded without a rejection message");
        return Ok(());
    };
    let headers = message::headers(msg);
    let id = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("message-id"))
        .map(|(_, v)| v.as_str());
    let end = message::layout(msg).header_len.min(msg.len());
    let mdn = crate::reject::compose(
        reason,
        sender,
        &job.recipient,
        id,
        &msg[..end],
        now() as i64,
        &generated_id(&job.recipient),
    );
    Requeue::new(&job.settings.spool_dir, &job.settings.wake_socket)
        .submit_generated(sender, &mdn)?;
    Ok(())
}

/// After the message is in: the vacation reply if the rules allow one, and the duplicate
/// records (RFC 7352 §3: only a delivered message counts as seen). Failures are logged, never
/// the delivery's: the message is already stored, and a retry would store it twice.
pub fn after_delivery(job: &Job, msg: &[u8], d: &Decision, tracking: Option<Tracking>) {
    let Some(mut t) = tracking else { return };
    let now = now();
    for k in &d.duplicates {
        let period = k.seconds.unwrap_or(DUPLICATE_DEFAULT_PERIOD);
        t.record(Kind::Duplicate, &duplicate_key(k), now, period, k.last);
    }
    for a in &d.actions {
        if let Action::Vacation(v) = a {
            if let Err(e) = reply(job, msg, v, &mut t, now) {
                tracing::warn!(owner = %job.owner, error = %e, "vacation reply not sent");
            }
        }
    }
    if let Err(e) = t.save(now) {
        tracing::warn!(owner = %job.owner, error = %e, "cannot write the Sieve tracking file");
    }
}

fn reply(
    job: &Job,
    msg: &[u8],
    v: &ferrymail_sieve::Vacation,
    t: &mut Tracking,
    now: u64,
) -> Result<(), DeliveryError> {
    let headers = message::headers(msg);
    let mut own = vec![job.recipient.clone()];
    if job.owner.contains('@') {
        own.push(job.owner.clone());
    }
    own.extend(v.addresses.iter().cloned());
    let inc = vacation::Incoming {
        sender: job.sender.as_deref(),
        headers: &headers,
        own: &own,
    };
    let to = match vacation::decide(&inc) {
        Ok(to) => to,
        Err(why) => {
            tracing::info!(owner = %job.owner, why, "no vacation reply");
            return Ok(());
        }
    };
    let key = vacation::tracking_key(&to, v);
    if t.seen(Kind::Vacation, &key, now) {
        tracing::info!(owner = %job.owner, to, "no vacation reply: already answered within the period");
        return Ok(());
    }
    let s = &job.settings.sieve;
    if t.created_since(Kind::Vacation, now.saturating_sub(86_400))
        >= s.vacation_max_replies_per_day as usize
    {
        tracing::warn!(owner = %job.owner, to, "no vacation reply: delivery.vacation_max_replies_per_day reached");
        return Ok(());
    }
    let period = vacation::period(v, s.vacation_min_period, s.vacation_max_period);
    let text = vacation::compose(
        v,
        &inc,
        &to,
        &job.recipient,
        now as i64,
        &generated_id(&job.recipient),
    );
    Requeue::new(&job.settings.spool_dir, &job.settings.wake_socket)
        .submit_generated(&to, &text)?;
    t.record(Kind::Vacation, &key, now, period, false);
    tracing::info!(owner = %job.owner, to, "vacation reply queued");
    Ok(())
}
