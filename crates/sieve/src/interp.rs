//! Running a parsed script against one message: tests evaluated over the message's headers and
//! envelope, commands collected into the actions delivery performs (RFC 5228 §2.10, §4).

use std::cell::RefCell;

use super::ext::duplicate::DuplicateKey;
use super::ext::include::{Include, IncludeLimits};
use super::ext::reject::Reject;
use super::ext::vacation::Vacation;
use super::parser::{AddressPart, Command, Comparator, Match, MatchType, Test};
use super::SieveError;

/// What a script needs to know about the message.
pub trait MessageView {
    /// Unfolded values of every header field with this name (case-insensitive), in order.
    fn header(&self, name: &str) -> Vec<String>;
    /// Envelope sender; empty for the null sender.
    fn envelope_from(&self) -> &str;
    /// Envelope recipient this delivery is for.
    fn envelope_to(&self) -> &str;
    fn size(&self) -> u64;
    /// `duplicate`: was this key recorded within its period? Without a store, never.
    fn duplicate_seen(&self, _key: &DuplicateKey) -> bool {
        false
    }
    /// `include`: the text of the user's (or with `global`, the site's) script `name`;
    /// `Ok(None)` when it does not exist. Without a store, none exists.
    fn script(&self, _name: &str, _global: bool) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn include_limits(&self) -> IncludeLimits {
        IncludeLimits::default()
    }
}

/// A message as delivery knows it: its parsed header fields and its envelope.
pub struct Facts<'a> {
    /// Unfolded `(name, value)` pairs in message order.
    pub headers: &'a [(String, String)],
    pub from: &'a str,
    pub to: &'a str,
    pub size: u64,
}

impl MessageView for Facts<'_> {
    fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn envelope_from(&self) -> &str {
        self.from
    }
    fn envelope_to(&self) -> &str {
        self.to
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// One thing to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Keep,
    FileInto(String),
    Redirect(String),
    /// Send an auto-reply, if delivery's rules allow one (RFC 5230 §4).
    Vacation(Box<Vacation>),
    /// Refuse the message; it is stored nowhere.
    Reject(Reject),
}

/// Most redirects one script may make (RFC 5228 §4.2 asks for a limit).
pub const MAX_REDIRECTS: usize = 10;
/// Most actions one script may make, so a loop-free but huge script stays cheap.
pub const MAX_ACTIONS: usize = 64;

struct Run<'a, M: MessageView> {
    msg: &'a M,
    actions: Vec<Action>,
    /// An explicit action that cancels the implicit keep was taken.
    cancelled_keep: bool,
    redirects: usize,
    /// Keys the `duplicate` tests asked about, recorded by delivery once the message is in.
    duplicates: RefCell<Vec<DuplicateKey>>,
    /// Scripts being included, innermost last, and every one included so far.
    include_stack: Vec<(bool, String)>,
    included: Vec<(bool, String)>,
}

enum Flow {
    Continue,
    Stop,
    /// `return`: end the current script, continue the one that included it.
    Return,
}

/// Everything a run produced.
pub struct RunResult {
    pub actions: Vec<Action>,
    pub implicit_keep: bool,
    pub duplicates: Vec<DuplicateKey>,
}

/// Runs the script. The result is deduplicated; an empty list means discard. With `true`, its
/// `Keep` is the implicit keep (RFC 5228 §2.10.2: no action cancelled it), not the script's.
pub fn run<M: MessageView>(script: &[Command], msg: &M) -> Result<RunResult, SieveError> {
    let mut r = Run {
        msg,
        actions: Vec::new(),
        cancelled_keep: false,
        redirects: 0,
        duplicates: RefCell::new(Vec::new()),
        include_stack: Vec::new(),
        included: Vec::new(),
    };
    r.block(script)?;
    if !r.cancelled_keep {
        r.push(Action::Keep)?;
    }
    check_conflicts(&r.actions)?;
    Ok(RunResult {
        actions: r.actions,
        implicit_keep: !r.cancelled_keep,
        duplicates: r.duplicates.into_inner(),
    })
}

/// RFC 5429 §2.1 and RFC 5230 §4.7: a refused message is not also kept, filed or answered,
/// and one message gets one vacation reply.
fn check_conflicts(actions: &[Action]) -> Result<(), SieveError> {
    let count = |f: fn(&Action) -> bool| actions.iter().filter(|a| f(a)).count();
    let rejects = count(|a| matches!(a, Action::Reject(_)));
    if count(|a| matches!(a, Action::Vacation(_))) > 1 {
        return Err(SieveError::Runtime("more than one vacation action".into()));
    }
    if rejects > 1 {
        return Err(SieveError::Runtime("more than one reject action".into()));
    }
    if rejects == 1
        && count(|a| matches!(a, Action::Keep | Action::FileInto(_) | Action::Vacation(_))) > 0
    {
        return Err(SieveError::Runtime(
            "reject cannot be combined with keep, fileinto or vacation".into(),
        ));
    }
    Ok(())
}

impl<M: MessageView> Run<'_, M> {
    fn push(&mut self, a: Action) -> Result<(), SieveError> {
        if self.actions.contains(&a) {
            return Ok(());
        }
        if self.actions.len() >= MAX_ACTIONS {
            return Err(SieveError::Runtime("too many actions".into()));
        }
        self.actions.push(a);
        Ok(())
    }

    fn block(&mut self, cmds: &[Command]) -> Result<Flow, SieveError> {
        for c in cmds {
            match self.command(c)? {
                Flow::Continue => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Continue)
    }

    fn command(&mut self, c: &Command) -> Result<Flow, SieveError> {
        match c {
            Command::If {
                branches,
                otherwise,
            } => {
                for (test, body) in branches {
                    if self.test(test) {
                        return self.block(body);
                    }
                }
                if let Some(body) = otherwise {
                    return self.block(body);
                }
            }
            Command::Keep => {
                self.cancelled_keep = true;
                self.push(Action::Keep)?;
            }
            Command::Discard => self.cancelled_keep = true,
            Command::Stop => return Ok(Flow::Stop),
            Command::FileInto(f) => {
                self.cancelled_keep = true;
                self.push(Action::FileInto(f.clone()))?;
            }
            Command::Redirect(a) => {
                self.redirects += 1;
                if self.redirects > MAX_REDIRECTS {
                    return Err(SieveError::Runtime("too many redirects".into()));
                }
                if !plausible_address(a) {
                    return Err(SieveError::Runtime(format!(
                        "redirect to invalid address {a:?}"
                    )));
                }
                self.cancelled_keep = true;
                self.push(Action::Redirect(a.clone()))?;
            }
            Command::Vacation(v) => {
                if self
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::Vacation(_)))
                {
                    return Err(SieveError::Runtime("more than one vacation action".into()));
                }
                self.push(Action::Vacation(v.clone()))?;
            }
            Command::Reject(r) => {
                self.cancelled_keep = true;
                self.push(Action::Reject(r.clone()))?;
            }
            Command::Return => return Ok(Flow::Return),
            Command::Include(inc) => return self.include(inc),
        }
        Ok(Flow::Continue)
    }

    /// RFC 6609 §3.2: the included script runs in place; its `return` ends only itself, its
    /// `stop` ends everything; including a script that is already running is an error.
    fn include(&mut self, inc: &Include) -> Result<Flow, SieveError> {
        let key = (inc.global, inc.name.clone());
        if inc.once && self.included.contains(&key) {
            return Ok(Flow::Continue);
        }
        if self.include_stack.contains(&key) {
            return Err(SieveError::Runtime(format!(
                "include of {:?} loops back to itself",
                inc.name
            )));
        }
        let limits = self.msg.include_limits();
        if self.include_stack.len() >= limits.max_depth {
            return Err(SieveError::Runtime("includes nested too deep".into()));
        }
        if self.included.len() >= limits.max_scripts {
            return Err(SieveError::Runtime("too many included scripts".into()));
        }
        let text = match self.msg.script(&inc.name, inc.global) {
            Ok(Some(t)) => t,
            Ok(None) if inc.optional => return Ok(Flow::Continue),
            Ok(None) => {
                return Err(SieveError::Runtime(format!(
                    "included script {:?} does not exist",
                    inc.name
                )))
            }
            Err(e) => return Err(SieveError::Runtime(format!("include {:?}: {e}", inc.name))),
        };
        let script = crate::Script::parse(&text)
            .map_err(|e| SieveError::Runtime(format!("included script {:?}: {e}", inc.name)))?;
        self.included.push(key.clone());
        self.include_stack.push(key);
        let flow = self.block(&script.commands)?;
        self.include_stack.pop();
        Ok(match flow {
            Flow::Stop => Flow::Stop,
            Flow::Continue | Flow::Return => Flow::Continue,
        })
    }

    fn test(&self, t: &Test) -> bool {
        match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t),
            Test::AllOf(ts) => ts.iter().all(|t| self.test(t)),
            Test::AnyOf(ts) => ts.iter().any(|t| self.test(t)),
            Test::Exists(names) => names.iter().all(|n| !self.msg.header(n).is_empty()),
            Test::Duplicate(d) => match crate::ext::duplicate::key(d, |h| self.msg.header(h)) {
                Some(key) => {
                    let seen = self.msg.duplicate_seen(&key);
                    let mut keys = self.duplicates.borrow_mut();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                    seen
                }
                None => false,
            },
            Test::Size { over, limit } => {
                if *over {
                    self.msg.size() > *limit
                } else {
                    self.msg.size() < *limit
                }
            }
            Test::Header { m, headers, keys } => headers.iter().any(|h| {
                self.msg
                    .header(h)
                    .iter()
                    .any(|v| keys.iter().any(|k| matches(m, v, k)))
            }),
            Test::Address {
                m,
                part,
                headers,
                keys,
            } => headers.iter().any(|h| {
                self.msg.header(h).iter().any(|v| {
                    addresses(v)
                        .iter()
                        .any(|a| keys.iter().any(|k| matches(m, address_part(a, *part), k)))
                })
            }),
            Test::Envelope {
                m,
                part,
                parts,
                keys,
            } => parts.iter().any(|p| {
                let a = if p.eq_ignore_ascii_case("from") {
                    self.msg.envelope_from()
                } else {
                    self.msg.envelope_to()
                };
                // RFC 5228 §5.4: the null reverse-path matches as "" with :all only.
                let value = if a.is_empty() && *part != AddressPart::All {
                    return false;
                } else {
                    address_part(a, *part)
                };
                keys.iter().any(|k| matches(m, value, k))
            }),
        }
    }
}

fn plausible_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.is_empty()
                && a.len() <= 320
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
        }
        None => false,
    }
}

fn address_part(a: &str, part: AddressPart) -> &str {
    match part {
        AddressPart::All => a,
        AddressPart::LocalPart => a.rsplit_once('@').map(|(l, _)| l).unwrap_or(a),
        AddressPart::Domain => a.rsplit_once('@').map(|(_, d)| d).unwrap_or(""),
    }
}

/// The addresses in a header value such as `"Joe, Jr." <joe@a.test>, bob@b.test (Bob)`.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut angle: Option<String> = None;
    let mut depth = 0usize;
    let mut chars = value.chars();
    let finish = |cur: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let a = match angle.take() {
            Some(a) => a,
            None => cur.trim().to_string(),
        };
        let a = a.trim().to_string();
        if !a.is_empty() {
            out.push(a);
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '<' => angle = Some(String::new()),
            '>' => {}
            ',' | ';' => finish(&mut cur, &mut angle, &mut out),
            // A group name `undisclosed-recipients:` is not an address.
            ':' if angle.is_none() => cur.clear(),
            _ => match &mut angle {
                Some(a) => a.push(c),
                None => cur.push(c),
            },
        }
    }
    finish(&mut cur, &mut angle, &mut out);
    out
}

fn fold(s: &str, c: Comparator) -> String {
    match c {
        Comparator::AsciiCasemap => s.to_ascii_lowercase(),
        Comparator::Octet => s.to_string(),
    }
}

fn matches(m: &Match, value: &str, key: &str) -> bool {
    let v = fold(value, m.comparator);
    let k = fold(key, m.comparator);
    match m.match_type {
        MatchType::Is => v == k,
        MatchType::Contains => v.contains(&k),
        MatchType::Matches => wildcard(&k, &v),
    }
}

/// `*` and `?` with `\` escaping (RFC 5228 §2.7.1), iterative with one backtrack point, so
/// the time stays O(len(pattern) * len(value)). `?` is one character, not one byte.
fn wildcard(pat: &str, val: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Star,
        One,
        Lit(char),
    }
    let mut items = Vec::with_capacity(pat.len());
    let mut it = pat.chars();
    while let Some(c) = it.next() {
        match c {
            '*' => items.push(P::Star),
            '?' => items.push(P::One),
            '\\' => {
                if let Some(n) = it.next() {
                    items.push(P::Lit(n));
                }
            }
            c => items.push(P::Lit(c)),
        }
    }
    let val: Vec<char> = val.chars().collect();
    let (mut p, mut v) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        match (items.get(p), val.get(v)) {
            (Some(P::Star), _) => {
                back = Some((p, v));
                p += 1;
            }
            (Some(P::One), Some(_)) => {
                p += 1;
                v += 1;
            }
            (Some(P::Lit(c)), Some(ch)) if c == ch => {
                p += 1;
                v += 1;
            }
            (None, None) => return true,
            _ => match back {
                Some((bp, bv)) if bv < val.len() => {
                    p = bp + 1;
                    v = bv + 1;
                    back = Some((bp, bv + 1));
                }
                _ => return false,
            },
        }
    }
}
