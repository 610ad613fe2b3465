//! Recipient resolution: from an envelope address to the places a message
//! must go, following aliases, includes and catch-alls.
//!
//! Lookup order for `local@domain` in a local domain:
//! alias `local@domain` → virtual user `local@domain` → alias `local` →
//! Unix account `local` → (the same four for the address without its
//! `+detail`, when a recipient delimiter is configured) → catch-all alias
//! `@domain` → unknown user.
//!
//! An alias being expanded is never expanded again inside itself: a target
//! naming it (`root: root, admin`) falls through to the next step, i.e. the
//! underlying user. A chain that comes back to itself with no such user is an
//! [`ResolveError::AliasLoop`], as is nesting deeper than [`MAX_ALIAS_DEPTH`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::aliases::AliasTarget;
use crate::error::ResolveError;
use crate::snapshot::Snapshot;
use crate::unix_accounts::UnixAccount;
use crate::VirtualUser;

/// Deepest alias nesting followed.
pub const MAX_ALIAS_DEPTH: usize = 20;

/// Where a message for a recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A passwd-file user's mailbox.
    Virtual(VirtualUser),
    /// A Unix account's mailbox.
    Unix(UnixAccount),
    /// Relay to this address.
    Remote(String),
    /// Append to this file (from an alias).
    File(PathBuf),
    /// Pipe to this shell command (from an alias).
    Pipe(String),
}

impl Destination {
    fn dedup_key(&self) -> String {
        match self {
            Destination::Virtual(v) => format!("v:{}", v.login),
            Destination::Unix(u) => format!("u:{}", u.name),
            Destination::Remote(a) => format!("r:{}", a.to_lowercase()),
            Destination::File(p) => format!("f:{}", p.display()),
            Destination::Pipe(c) => format!("p:{c}"),
        }
    }
}

/// A destination with the chain of aliases (and `:include:` files) that led
/// to it, outermost first; empty for a direct match. Delivery uses this to
/// decide whether a file or pipe target is allowed and whose rights it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDestination {
    pub destination: Destination,
    pub via: Vec<String>,
}

/// The full outcome of resolving one address: what resolved, and which alias
/// targets failed (so they can be bounced individually while the rest is
/// delivered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub destinations: Vec<ResolvedDestination>,
    pub failures: Vec<(String, ResolveError)>,
}

/// A parsed, lowercased address.
struct Addr {
    local: String,
    domain: Option<String>,
}

fn parse_address(address: &str) -> Result<Addr, ResolveError> {
    let invalid = || ResolveError::InvalidAddress(address.chars().take(320).collect());
    let a = address.trim();
    let a = a
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(a)
        .to_lowercase();
    if a.is_empty() || a.len() > 320 || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid());
    }
    match a.rsplit_once('@') {
        Some((l, d)) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            if l.is_empty() || d.is_empty() {
                return Err(invalid());
            }
            Ok(Addr {
                local: l.to_string(),
                domain: Some(d.to_string()),
            })
        }
        None => Ok(Addr {
            local: a,
            domain: None,
        }),
    }
}

fn display(local: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) => format!("{local}@{d}"),
        None => local.to_string(),
    }
}

/// Outcome of one expansion step.
enum Step {
    /// Delivered somewhere (or already expanded earlier in this resolution).
    Delivered,
    /// Nothing to deliver, but nothing wrong either (an empty include).
    Nothing,
}

struct Resolver<'a> {
    snap: &'a Snapshot,
    in_progress: HashSet<String>,
    /// Aliases/includes already expanded in this resolution, and whether they
    /// delivered anything: expanding again would only add duplicates.
    done: HashMap<String, bool>,
    seen: HashSet<String>,
    out: Vec<ResolvedDestination>,
    failures: Vec<(String, ResolveError)>,
}

impl<'a> Resolver<'a> {
    fn push(&mut self, destination: Destination, via: &[String]) {
        if self.seen.insert(destination.dedup_key()) {
            self.out.push(ResolvedDestination {
                destination,
                via: via.to_vec(),
            });
        }
    }

    fn virtual_user(&self, login: &str) -> Option<VirtualUser> {
        self.snap.users.get(login).map(VirtualUser::from_entry)
    }

    fn unix_account(&self, name: &str) -> Option<UnixAccount> {
        self.snap
            .unix
            .as_ref()
            .and_then(|u| u.get(name))
            .map(|(a, _)| a.clone())
    }

    /// Expands an alias unless it is in progress. `Ok(None)` = not applicable
    /// (no such alias, or it is being expanded: fall through to the next step).
    fn try_alias(
        &mut self,
        key: &str,
        ctx_domain: Option<&str>,
        via: &mut Vec<String>,
        depth: usize,
        looped: &mut bool,
    ) -> Result<Option<Step>, ResolveError> {
        let snap = self.snap;
        let Some(targets) = snap.aliases.get(key) else {
            return Ok(None);
        };
        if self.in_progress.contains(key) {
            *looped = true;
            return Ok(None);
        }
        if let Some(&delivered) = self.done.get(key) {
            return Ok(Some(if delivered {
                Step::Delivered
            } else {
                Step::Nothing
            }));
        }
        self.expand_list(key, targets, ctx_domain, via, depth)
            .map(Some)
    }

    /// Expands the targets of an alias or include named `key`.
    fn expand_list(
        &mut self,
        key: &str,
        targets: &[AliasTarget],
        ctx_domain: Option<&str>,
        via: &mut Vec<String>,
        depth: usize,
    ) -> Result<Step, ResolveError> {
        if depth >= MAX_ALIAS_DEPTH {
            let e = ResolveError::AliasLoop(key.to_string());
            self.failures.push((key.to_string(), e.clone()));
            return Err(e);
        }
        self.in_progress.insert(key.to_string());
        via.push(key.to_string());
        let mut delivered = false;
        let mut first_err = None;
        for t in targets {
            match self.expand_target(t, ctx_domain, via, depth + 1) {
                Ok(Step::Delivered) => delivered = true,
                Ok(Step::Nothing) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        via.pop();
        self.in_progress.remove(key);
        self.done.insert(key.to_string(), delivered);
        match (delivered, first_err) {
            (true, _) => Ok(Step::Delivered),
            (false, Some(e)) => Err(e),
            (false, None) => Ok(Step::Nothing),
        }
    }

    /// The per-local-part steps (exact alias, virtual user, bare alias, Unix
    /// account). `Ok(None)` when none applies.
    fn user_steps(
        &mut self,
        local: &str,
        domain: Option<&str>,
        via: &mut Vec<String>,
        depth: usize,
        looped: &mut bool,
    ) -> Result<Option<Step>, ResolveError> {
        if let Some(d) = domain {
            let full = format!("{local}@{d}");
            if let Some(step) = self.try_alias(&full, domain, via, depth, looped)? {
                return Ok(Some(step));
            }
            if let Some(v) = self.virtual_user(&full) {
                self.push(Destination::Virtual(v), via);
                return Ok(Some(Step::Delivered));
            }
        }
        if let Some(step) = self.try_alias(local, domain, via, depth, looped)? {
            return Ok(Some(step));
        }
        if domain.is_none() {
            if let Some(v) = self.virtual_user(local) {
                self.push(Destination::Virtual(v), via);
                return Ok(Some(Step::Delivered));
            }
        }
        if let Some(u) = self.unix_account(local) {
            self.push(Destination::Unix(u), via);
            return Ok(Some(Step::Delivered));
        }
        Ok(None)
    }

    /// Resolves a local part in a local domain (or with no domain at all).
    fn resolve_local(
        &mut self,
        local: &str,
        domain: Option<&str>,
        via: &mut Vec<String>,
        depth: usize,
    ) -> Result<Step, ResolveError> {
        let mut looped = false;
        if let Some(step) = self.user_steps(local, domain, via, depth, &mut looped)? {
            return Ok(step);
        }
        if let Some(base) = self.strip_detail(local) {
            if let Some(step) = self.user_steps(base, domain, via, depth, &mut looped)? {
                return Ok(step);
            }
        }
        if let Some(d) = domain {
            let catch_all = format!("@{d}");
            if let Some(step) = self.try_alias(&catch_all, domain, via, depth, &mut looped)? {
                return Ok(step);
            }
        }
        let addr = display(local, domain);
        let e = if looped {
            ResolveError::AliasLoop(addr.clone())
        } else {
            ResolveError::UnknownUser(addr.clone())
        };
        self.failures.push((addr, e.clone()));
        Err(e)
    }

    /// `joe+tag` → `joe` when a delimiter is configured and present (not as
    /// the first character).
    fn strip_detail<'l>(&self, local: &'l str) -> Option<&'l str> {
        let delim = self.snap.delimiter?;
        match local.find(delim) {
            Some(i) if i > 0 => local.get(..i),
            _ => None,
        }
    }

    fn resolve_address(
        &mut self,
        local: &str,
        domain: Option<&str>,
        original: &str,
        via: &mut Vec<String>,
        depth: usize,
    ) -> Result<Step, ResolveError> {
        match domain {
            Some(d) if !self.snap.is_local_domain(d) => {
                self.push(Destination::Remote(original.to_string()), via);
                Ok(Step::Delivered)
            }
            _ => self.resolve_local(local, domain, via, depth),
        }
    }

    fn expand_target(
        &mut self,
        target: &AliasTarget,
        ctx_domain: Option<&str>,
        via: &mut Vec<String>,
        depth: usize,
    ) -> Result<Step, ResolveError> {
        match target {
            AliasTarget::Address(a) => {
                let (l, d) = a.rsplit_once('@').unwrap_or((a.as_str(), ""));
                self.resolve_address(l, Some(d), a, via, depth)
            }
            AliasTarget::Local(name) => self.resolve_local(name, ctx_domain, via, depth),
            AliasTarget::NoExpand(name) => self.no_expand(name, ctx_domain, via),
            AliasTarget::Pipe(cmd) => {
                self.push(Destination::Pipe(cmd.clone()), via);
                Ok(Step::Delivered)
            }
            AliasTarget::File(p) => {
                self.push(Destination::File(p.clone()), via);
                Ok(Step::Delivered)
            }
            AliasTarget::Include(path) => {
                let key = format!(":include:{}", path.display());
                if self.in_progress.contains(&key) {
                    let e = ResolveError::AliasLoop(key.clone());
                    self.failures.push((key, e.clone()));
                    return Err(e);
                }
                if let Some(&delivered) = self.done.get(&key) {
                    return Ok(if delivered {
                        Step::Delivered
                    } else {
                        Step::Nothing
                    });
                }
                let snap = self.snap;
                // An include that failed to load was reported as a load issue
                // and contributes nothing.
                let targets = snap
                    .includes
                    .get(path)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                self.expand_list(&key, targets, ctx_domain, via, depth)
            }
        }
    }

    /// `\name`: the user itself, never its aliases.
    fn no_expand(
        &mut self,
        name: &str,
        ctx_domain: Option<&str>,
        via: &[String],
    ) -> Result<Step, ResolveError> {
        let (local, domain) = match name.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (name, ctx_domain),
        };
        if let Some(d) = domain {
            if !self.snap.is_local_domain(d) {
                self.push(Destination::Remote(name.to_string()), via);
                return Ok(Step::Delivered);
            }
            if let Some(v) = self.virtual_user(&format!("{local}@{d}")) {
                self.push(Destination::Virtual(v), via);
                return Ok(Step::Delivered);
            }
        } else if let Some(v) = self.virtual_user(local) {
            self.push(Destination::Virtual(v), via);
            return Ok(Step::Delivered);
        }
        if let Some(u) = self.unix_account(local) {
            self.push(Destination::Unix(u), via);
            return Ok(Step::Delivered);
        }
        let addr = display(local, domain);
        let e = ResolveError::UnknownUser(addr.clone());
        self.failures.push((addr, e.clone()));
        Err(e)
    }
}

/// Resolves `address` against `snap`; see the module docs for the order.
pub(crate) fn resolve(snap: &Snapshot, address: &str) -> Result<Resolution, ResolveError> {
    let addr = parse_address(address)?;
    let mut r = Resolver {
        snap,
        in_progress: HashSet::new(),
        done: HashMap::new(),
        seen: HashSet::new(),
        out: Vec::new(),
        failures: Vec::new(),
    };
    let original = address.trim();
    let original = original
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(original);
    let mut via = Vec::new();
    let result = r.resolve_address(&addr.local, addr.domain.as_deref(), original, &mut via, 0);
    let who = display(&addr.local, addr.domain.as_deref());
    match result {
        Ok(_) if !r.out.is_empty() => Ok(Resolution {
            destinations: r.out,
            failures: r.failures,
        }),
        Ok(_) => Err(ResolveError::EmptyExpansion(who)),
        Err(e) => {
            if r.out.is_empty() {
                Err(e)
            } else {
                Ok(Resolution {
                    destinations: r.out,
                    failures: r.failures,
                })
            }
        }
    }
}
