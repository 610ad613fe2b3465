//! Giving up root after binding, as every Postfix daemon does: a compromised session must not
//! own the machine.

use std::ffi::CString;
use std::path::Path;

use nix::unistd::{self, Gid, Uid, User};

#[derive(Debug, thiserror::Error)]
pub enum PrivDropError {
    #[error("user `{0}` does not exist")]
    NoSuchUser(String),
    #[error("cannot look up user `{0}`: {1}")]
    Lookup(String, nix::Error),
    #[error("{step}: {source}")]
    Syscall {
        step: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("still able to regain root after dropping to `{0}`")]
    Regained(String),
    #[error("refusing to run as root on behalf of an account")]
    RootAccount,
}

/// What happened, for the start-up log line.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Dropped {
        uid: u32,
        gid: u32,
    },
    /// Not running as root: nothing to drop (development, tests, or systemd's `User=`).
    NotRoot,
}

/// Switches to `user` (its primary group plus supplementary groups), optionally chrooting
/// first. Skipped, with a warning, when not started as root.
pub fn drop_to(user: &str, chroot: Option<&Path>) -> Result<Outcome, PrivDropError> {
    if !Uid::effective().is_root() {
        if Uid::current().as_raw() != lookup(user).map(|u| u.uid.as_raw()).unwrap_or(u32::MAX) {
            tracing::warn!(
                user,
                "not started as root: keeping the current user instead of dropping privileges"
            );
        }
        return Ok(Outcome::NotRoot);
    }
    let u = lookup(user)?;
    let name = CString::new(user).map_err(|_| PrivDropError::NoSuchUser(user.into()))?;
    unistd::initgroups(&name, u.gid).map_err(|source| PrivDropError::Syscall {
        step: "initgroups",
        source,
    })?;
    if let Some(dir) = chroot {
        unistd::chroot(dir).map_err(|source| PrivDropError::Syscall {
            step: "chroot",
            source,
        })?;
        unistd::chdir("/").map_err(|source| PrivDropError::Syscall {
            step: "chdir",
            source,
        })?;
    }
    // Group first: after setuid we could no longer change it.
    unistd::setgid(u.gid).map_err(|source| PrivDropError::Syscall {
        step: "setgid",
        source,
    })?;
    unistd::setuid(u.uid).map_err(|source| PrivDropError::Syscall {
        step: "setuid",
        source,
    })?;
    if !u.uid.is_root() && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivDropError::Regained(user.into()));
    }
    Ok(Outcome::Dropped {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    })
}

/// Switches this process to a mail account's `uid`/`gid` for good, with the supplementary
/// groups of the user owning `uid` (none besides `gid` if the uid has no passwd entry).
/// For freshly exec'd, single-threaded helpers (local-delivery's delivery helper, imapd's
/// per-login session child): set*id calls apply to the calling thread's process only
/// reliably before other threads exist. Refuses uid 0 and fails if root can be regained.
pub fn become_account(uid: u32, gid: u32) -> Result<(), PrivDropError> {
    become_account_with(uid, gid, &[])
}

/// [`become_account`], keeping `extra` groups besides the account's own: a helper that must
/// do one thing a setgid program would do for the account (local-delivery's helper handing
/// forwarded mail to the spool's maildrop, as sendmail does with its setgid group). Group 0
/// is never kept.
pub fn become_account_with(uid: u32, gid: u32, extra: &[u32]) -> Result<(), PrivDropError> {
    if uid == 0 {
        return Err(PrivDropError::RootAccount);
    }
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let mut groups = User::from_uid(u)
        .ok()
        .flatten()
        .and_then(|user| {
            let name = CString::new(user.name).ok()?;
            unistd::getgrouplist(&name, g).ok()
        })
        .unwrap_or_else(|| vec![g]);
    for &e in extra {
        let e = Gid::from_raw(e);
        if e.as_raw() != 0 && !groups.contains(&e) {
            groups.push(e);
        }
    }
    unistd::setgroups(&groups).map_err(|source| PrivDropError::Syscall {
        step: "setgroups",
        source,
    })?;
    // Group first: after setuid we could no longer change it.
    unistd::setgid(g).map_err(|source| PrivDropError::Syscall {
        step: "setgid",
        source,
    })?;
    unistd::setuid(u).map_err(|source| PrivDropError::Syscall {
        step: "setuid",
        source,
    })?;
    if unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivDropError::Regained(format!("uid {uid}")));
    }
    Ok(())
}

fn lookup(user: &str) -> Result<User, PrivDropError> {
    User::from_name(user)
        .map_err(|e| PrivDropError::Lookup(user.into(), e))?
        .ok_or_else(|| PrivDropError::NoSuchUser(user.into()))
}

/// uid/gid of a user, for chowning sockets and directories before the drop.
pub fn ids_of(user: &str) -> Result<(Uid, Gid), PrivDropError> {
    let u = lookup(user)?;
    Ok((u.uid, u.gid))
}

/// The name of the user this process runs as (for `mailctl dev`'s config).
pub fn current_user_name() -> String {
    User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| Uid::current().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_is_an_error_when_root_and_noop_otherwise() {
        let r = drop_to("no-such-user-ferrymail-test", None);
        if Uid::effective().is_root() {
            assert!(matches!(r, Err(PrivDropError::NoSuchUser(_))));
        } else {
            assert_eq!(r.unwrap(), Outcome::NotRoot);
        }
    }

    #[test]
    fn become_account_refuses_root() {
        assert!(matches!(
            become_account(0, 0),
            Err(PrivDropError::RootAccount)
        ));
    }

    #[test]
    fn current_user_has_a_name() {
        assert!(!current_user_name().is_empty());
    }
}
