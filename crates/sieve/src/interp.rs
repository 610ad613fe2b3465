//! Running a parsed script against one message: tests evaluated over the message's headers and
//! envelope, commands collected into the actions delivery performs (RFC 5228 §2.10, §4).

mod date;
mod editheader;

use super::ext::body;
use super::ext::duplicate::DuplicateKey;
use super::ext::editheader::HeaderEdit;
use super::ext::imap4flags;
use super::ext::include::Include;
use super::ext::reject::Reject;
use super::ext::relational::{relation_holds, Relation};
use super::ext::spamtest;
use super::ext::subaddress;
use super::ext::vacation::Vacation;
use super::ext::variables::{self, Variables};
use super::parser::{AddressPart, Command, Comparator, Match, MatchType, Test};
use super::{Limits, Outcome, SieveError};

/// What a script needs to know about the message.
pub trait MessageView {
    /// Unfolded values of every header field with this name (case-insensitive), in order.
    fn header(&self, name: &str) -> Vec<String>;
    /// Envelope sender; empty for the null sender.
    fn envelope_from(&self) -> &str;
    /// Envelope recipient this delivery is for.
    fn envelope_to(&self) -> &str;
    fn size(&self) -> u64;
    /// Whether the recipient's mailbox (folder) `name` exists (RFC 5490 `mailboxexists`).
    /// The default knows only INBOX, which always exists.
    fn mailbox_exists(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX")
    }
    /// The whole message (header and body) for the `body` test (RFC 5173); the default
    /// offers none, and then no body test matches.
    fn message(&self) -> &[u8] {
        &[]
    }
    /// How likely the message is spam, in percent, from the scanners' header fields;
    /// `None` when no scanner looked at it (RFC 5235 "untested").
    fn spam_score(&self) -> Option<u8> {
        None
    }
    /// The current time (Unix seconds) and the local zone (minutes east of UTC), for
    /// `currentdate` and `date` without `:zone` (RFC 5260); the default knows no clock, and
    /// then `currentdate` is false and dates are shown in UTC.
    fn now(&self) -> Option<(i64, i32)> {
        None
    }
    /// RFC 5235 virustest value: 0 untested, 1 clean … 5 infected.
    fn virus_score(&self) -> u8 {
        0
    }
    /// `duplicate`: was this key recorded within its period? Without a store, never.
    fn duplicate_seen(&self, _key: &DuplicateKey) -> bool {
        false
    }
    /// `include`: the text of the user's (or with `global`, the site's) script `name`;
    /// `Ok(None)` when it does not exist. Without a store, none exists.
    fn script(&self, _name: &str, _global: bool) -> Result<Option<String>, String> {
        Ok(None)
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
    /// Store in INBOX with these IMAP flags (RFC 5232), as given in the script.
    Keep {
        flags: Vec<String>,
    },
    FileInto {
        mailbox: String,
        flags: Vec<String>,
    },
    Redirect(String),
    /// Send an auto-reply, if delivery's rules allow one (RFC 5230 §4).
    Vacation(Box<Vacation>),
    /// Refuse the message; it is stored nowhere.
    Reject(Reject),
}

impl Action {
    /// A keep without flags.
    pub fn keep() -> Action {
        Action::Keep { flags: Vec::new() }
    }

    /// A fileinto without flags.
    pub fn fileinto(mailbox: &str) -> Action {
        Action::FileInto {
            mailbox: mailbox.to_string(),
            flags: Vec::new(),
        }
    }

    /// Two stores into the same place are one (RFC 5228 §2.10.3); the first one's flags win.
    fn same_target(&self, other: &Action) -> bool {
        match (self, other) {
            (Action::Keep { .. }, Action::Keep { .. }) => true,
            (Action::FileInto { mailbox: a, .. }, Action::FileInto { mailbox: b, .. }) => a == b,
            (Action::Redirect(a), Action::Redirect(b)) => a == b,
            _ => false,
        }
    }
}

struct Run<'a, M: MessageView> {
    msg: &'a M,
    limits: &'a Limits,
    /// Commands and tests evaluated so far.
    steps: usize,
    actions: Vec<Action>,
    /// An explicit action that cancels the implicit keep was taken.
    cancelled_keep: bool,
    redirects: usize,
    /// `Some` when the script requires "variables".
    vars: Option<Variables>,
    /// Folders `fileinto :create` asked for.
    create: Vec<String>,
    /// The imap4flags internal variable (RFC 5232 §3).
    flags: Vec<String>,
    /// editheader changes so far (RFC 5293).
    edits: Vec<HeaderEdit>,
    /// Keys the `duplicate` tests asked about, recorded by delivery once the message is in.
    duplicates: Vec<DuplicateKey>,
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

/// Runs the script. The actions are deduplicated; an empty list means discard.
pub fn run<M: MessageView>(
    script: &[Command],
    variables: bool,
    msg: &M,
    limits: &Limits,
) -> Result<Outcome, SieveError> {
    let mut r = Run {
        msg,
        limits,
        steps: 0,
        actions: Vec::new(),
        cancelled_keep: false,
        redirects: 0,
        vars: variables.then(|| Variables::new(limits.max_variables, limits.max_variable_len)),
        create: Vec::new(),
        flags: Vec::new(),
        edits: Vec::new(),
        duplicates: Vec::new(),
        include_stack: Vec::new(),
        included: Vec::new(),
    };
    r.block(script)?;
    if !r.cancelled_keep {
        let flags = r.flags.clone();
        r.push(Action::Keep { flags })?;
    }
    check_conflicts(&r.actions)?;
    Ok(Outcome {
        actions: r.actions,
        implicit_keep: !r.cancelled_keep,
        create: r.create,
        header_edits: r.edits,
        duplicates: r.duplicates,
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
        && count(|a| {
            matches!(
                a,
                Action::Keep { .. } | Action::FileInto { .. } | Action::Vacation(_)
            )
        }) > 0
    {
        return Err(SieveError::Runtime(
            "reject cannot be combined with keep, fileinto or vacation".into(),
        ));
    }
    Ok(())
}

impl<M: MessageView> Run<'_, M> {
    fn push(&mut self, a: Action) -> Result<(), SieveError> {
        if self.actions.iter().any(|b| b.same_target(&a)) {
            return Ok(());
        }
        if self.actions.len() >= self.limits.max_actions {
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

    /// Counts one command or test against `max_instructions`.
    fn step(&mut self) -> Result<(), SieveError> {
        self.steps += 1;
        if self.steps > self.limits.max_instructions {
            return Err(SieveError::Runtime("too many instructions".into()));
        }
        Ok(())
    }

    fn command(&mut self, c: &Command) -> Result<Flow, SieveError> {
        self.step()?;
        match c {
            Command::If {
                branches,
                otherwise,
            } => {
                for (test, body) in branches {
                    let hit = self.test(test);
                    // Tests count as they run; the total is checked once the test is done.
                    self.step()?;
                    if hit {
                        return self.block(body);
                    }
                }
                if let Some(body) = otherwise {
                    return self.block(body);
                }
            }
            Command::Keep { flags } => {
                self.cancelled_keep = true;
                let flags = self.flags_for(flags.as_deref());
                self.push(Action::Keep { flags })?;
            }
            Command::Flags {
                op,
                variable,
                flags,
            } => {
                let flags = self.expand_all(flags);
                match (variable, &mut self.vars) {
                    (Some(name), Some(vars)) => {
                        let cur = imap4flags::parse(&[vars.expand(&format!("${{{name}}}"))]);
                        vars.set(name, imap4flags::apply(*op, &cur, &flags).join(" "))?;
                    }
                    _ => self.flags = imap4flags::apply(*op, &self.flags, &flags),
                }
            }
            Command::Discard => self.cancelled_keep = true,
            Command::Stop => return Ok(Flow::Stop),
            Command::FileInto {
                mailbox,
                copy,
                create,
                flags,
            } => {
                self.cancelled_keep |= !copy;
                let f = self.expand(mailbox);
                if *create && !self.create.contains(&f) {
                    self.create.push(f.clone());
                }
                let flags = self.flags_for(flags.as_deref());
                self.push(Action::FileInto { mailbox: f, flags })?;
            }
            Command::AddHeader { last, name, value } => self.add_header(*last, name, value)?,
            Command::DeleteHeader { m, name, patterns } => {
                self.delete_header(m, name, patterns.as_deref())
            }
            Command::Set {
                modifiers,
                name,
                value,
            } => {
                let v = variables::modify(self.expand(value), modifiers);
                if let Some(vars) = &mut self.vars {
                    vars.set(name, v)?;
                }
            }
            Command::Redirect { address, copy } => {
                let a = &self.expand(address);
                self.redirects += 1;
                // RFC 5228 §4.2 asks for a limit.
                if self.redirects > self.limits.max_redirects {
                    return Err(SieveError::Runtime("too many redirects".into()));
                }
                if !plausible_address(a) {
                    return Err(SieveError::Runtime(format!(
                        "redirect to invalid address {a:?}"
                    )));
                }
                self.cancelled_keep |= !copy;
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
                let mut v = v.clone();
                v.subject = v.subject.map(|s| self.expand(&s));
                v.from = v.from.map(|s| self.expand(&s));
                v.addresses = self.expand_all(&v.addresses);
                v.handle = self.expand(&v.handle);
                v.reason = self.expand(&v.reason);
                self.push(Action::Vacation(v))?;
            }
            Command::Reject(r) => {
                self.cancelled_keep = true;
                self.push(Action::Reject(Reject {
                    reason: self.expand(&r.reason),
                    extended: r.extended,
                }))?;
            }
            Command::Return => return Ok(Flow::Return),
            Command::Global(names) => {
                if let Some(v) = &mut self.vars {
                    v.declare_global(names);
                }
            }
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
        if self.include_stack.len() >= self.limits.max_include_depth {
            return Err(SieveError::Runtime("includes nested too deep".into()));
        }
        if self.included.len() >= self.limits.max_includes {
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
        let script = crate::Script::parse_limited(&text, self.limits)
            .map_err(|e| SieveError::Runtime(format!("included script {:?}: {e}", inc.name)))?;
        self.included.push(key.clone());
        self.include_stack.push(key);
        // Each script has its own variables, only the `global` ones are shared (RFC 6609 §3.3).
        let mut own = script
            .variables
            .then(|| Variables::new(self.limits.max_variables, self.limits.max_variable_len));
        if let (Some(inner), Some(outer)) = (&mut own, &mut self.vars) {
            inner.put_globals(outer.take_globals());
        }
        let mut inner = std::mem::replace(&mut self.vars, own);
        let flow = self.block(&script.commands);
        std::mem::swap(&mut self.vars, &mut inner);
        if let (Some(outer), Some(inner)) = (&mut self.vars, &mut inner) {
            outer.put_globals(inner.take_globals());
        }
        let flow = flow?;
        self.include_stack.pop();
        Ok(match flow {
            Flow::Stop => Flow::Stop,
            Flow::Continue | Flow::Return => Flow::Continue,
        })
    }

    /// The values of header `name` as the script's edits so far left them (RFC 5293 §5).
    fn header(&self, name: &str) -> Vec<String> {
        crate::ext::editheader::replay(name, self.msg.header(name), &self.edits)
    }

    /// `s` with its variables expanded, when the script uses variables.
    fn expand(&self, s: &str) -> String {
        match &self.vars {
            Some(v) => v.expand(s),
            None => s.to_string(),
        }
    }

    /// The flags a store gets: its own `:flags`, else the internal variable's.
    fn flags_for(&self, explicit: Option<&[String]>) -> Vec<String> {
        match explicit {
            Some(f) => imap4flags::parse(&self.expand_all(f)),
            None => self.flags.clone(),
        }
    }

    fn expand_all(&self, l: &[String]) -> Vec<String> {
        l.iter().map(|s| self.expand(s)).collect()
    }

    fn test(&mut self, t: &Test) -> bool {
        self.steps += 1;
        match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t),
            Test::AllOf(ts) => ts.iter().all(|t| self.test(t)),
            Test::AnyOf(ts) => ts.iter().any(|t| self.test(t)),
            Test::MailboxExists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| self.msg.mailbox_exists(n)),
            Test::Body { m, transform, keys } => {
                let texts = body::texts(self.msg.message(), transform, self.limits.max_body_bytes);
                self.match_values(m, &texts, keys)
            }
            Test::Spam { m, percent, keys } => {
                let v = spamtest::spam_value(self.msg.spam_score(), *percent);
                self.match_values(m, &[v], keys)
            }
            Test::Virus { m, keys } => {
                let v = self.msg.virus_score().min(5).to_string();
                self.match_values(m, &[v], keys)
            }
            Test::Date {
                m,
                zone,
                header,
                part,
                keys,
            } => self.date(m, zone, header, part, keys),
            Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            } => self.current_date(m, zone, part, keys),
            Test::HasFlag { m, variables, keys } => {
                let values = match (variables, &self.vars) {
                    (Some(names), Some(vars)) => {
                        let vals: Vec<String> = names
                            .iter()
                            .map(|n| vars.expand(&format!("${{{n}}}")))
                            .collect();
                        imap4flags::parse(&vals)
                    }
                    _ => self.flags.clone(),
                };
                let mut keys = self.expand_all(keys);
                if !matches!(m.match_type, MatchType::Count(_)) {
                    keys = imap4flags::parse(&keys);
                }
                self.match_expanded(m, &values, &keys)
            }
            Test::Exists(names) => self
                .expand_all(names)
                .iter()
                .all(|n| !self.header(n).is_empty()),
            Test::Duplicate(d) => match crate::ext::duplicate::key(d, |h| self.header(h)) {
                Some(key) => {
                    let seen = self.msg.duplicate_seen(&key);
                    if !self.duplicates.contains(&key) {
                        self.duplicates.push(key);
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
            Test::Header { m, headers, keys } => {
                let values: Vec<String> = self
                    .expand_all(headers)
                    .iter()
                    .flat_map(|h| pick(self.header(h), m.index))
                    .map(decoded)
                    .collect();
                self.match_values(m, &values, keys)
            }
            Test::Str { m, sources, keys } => {
                let mut values = self.expand_all(sources);
                // RFC 5229 §5: empty strings are not counted.
                if matches!(m.match_type, MatchType::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.match_values(m, &values, keys)
            }
            Test::Address {
                m,
                part,
                headers,
                keys,
            } => {
                let addrs: Vec<String> = self
                    .expand_all(headers)
                    .iter()
                    .flat_map(|h| pick(self.header(h), m.index))
                    .flat_map(|v| addresses(&v))
                    .collect();
                self.match_parts(m, *part, &addrs, keys)
            }
            Test::Envelope {
                m,
                part,
                parts,
                keys,
            } => {
                let addrs: Vec<String> = self
                    .expand_all(parts)
                    .iter()
                    .map(|p| {
                        if p.eq_ignore_ascii_case("from") {
                            self.msg.envelope_from().to_string()
                        } else {
                            self.msg.envelope_to().to_string()
                        }
                    })
                    // RFC 5228 §5.4: the null reverse-path matches as "" with :all only.
                    .filter(|a| !a.is_empty() || *part == AddressPart::All)
                    .collect();
                self.match_parts(m, *part, &addrs, keys)
            }
        }
    }

    /// Address tests: the chosen part of each address, skipping those without it.
    fn match_parts(
        &mut self,
        m: &Match,
        part: AddressPart,
        addrs: &[String],
        keys: &[String],
    ) -> bool {
        if let MatchType::Count(_) = m.match_type {
            // RFC 5231 §4.1: :count counts addresses, whatever the part.
            return self.match_values(m, addrs, keys);
        }
        let values: Vec<String> = addrs
            .iter()
            .filter_map(|a| address_part(a, part).map(str::to_string))
            .collect();
        self.match_values(m, &values, keys)
    }

    /// Whether any value matches any key; a `:matches` hit sets the match variables.
    fn match_values(&mut self, m: &Match, values: &[String], keys: &[String]) -> bool {
        let keys = self.expand_all(keys);
        self.match_expanded(m, values, &keys)
    }

    /// [`Run::match_values`] with keys whose variables are already expanded.
    fn match_expanded(&mut self, m: &Match, values: &[String], keys: &[String]) -> bool {
        if let MatchType::Count(rel) = m.match_type {
            let n = values.len().to_string();
            return keys
                .iter()
                .any(|k| relation_holds(rel, m.comparator, &n, k));
        }
        for v in values {
            for k in keys {
                if !matches(m, v, k) {
                    continue;
                }
                if m.match_type == MatchType::Matches {
                    if let Some(vars) = &mut self.vars {
                        let caps =
                            variables::captures(&fold(k, m.comparator), &fold(v, m.comparator), v);
                        vars.set_matches(caps.flatten().unwrap_or_default());
                    }
                }
                return true;
            }
        }
        false
    }
}

/// A header value with its RFC 2047 encoded words decoded, as the header test compares it
/// (RFC 5228 §2.7.2).
fn decoded(v: String) -> String {
    if !v.contains("=?") {
        return v;
    }
    match mailparse::parse_header(format!("X: {v}").as_bytes()) {
        Ok((h, _)) => h.get_value(),
        Err(_) => v,
    }
}

/// The position `:index n [:last]` (RFC 5260 §6) names among `len` fields, if any.
fn index_position(len: usize, (n, last): (usize, bool)) -> Option<usize> {
    let i = if last {
        len.checked_sub(n)
    } else {
        n.checked_sub(1)
    };
    i.filter(|&i| i < len)
}

/// The `:index` field of `values`, or all of them.
fn pick(mut values: Vec<String>, index: Option<(usize, bool)>) -> Vec<String> {
    let Some(index) = index else {
        return values;
    };
    match index_position(values.len(), index) {
        Some(i) => vec![values.swap_remove(i)],
        None => Vec::new(),
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

fn address_part(a: &str, part: AddressPart) -> Option<&str> {
    let local = a.rsplit_once('@').map(|(l, _)| l).unwrap_or(a);
    Some(match part {
        AddressPart::All => a,
        AddressPart::LocalPart => local,
        AddressPart::Domain => a.rsplit_once('@').map(|(_, d)| d).unwrap_or(""),
        AddressPart::User => subaddress::user(local),
        AddressPart::Detail => subaddress::detail(local)?,
    })
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
        Comparator::Octet | Comparator::AsciiNumeric => s.to_string(),
    }
}

fn matches(m: &Match, value: &str, key: &str) -> bool {
    let v = fold(value, m.comparator);
    let k = fold(key, m.comparator);
    match m.match_type {
        MatchType::Is if m.comparator == Comparator::AsciiNumeric => {
            relation_holds(Relation::Eq, m.comparator, value, key)
        }
        MatchType::Is => v == k,
        MatchType::Contains => v.contains(&k),
        MatchType::Matches => wildcard(&k, &v),
        MatchType::Value(rel) => relation_holds(rel, m.comparator, value, key),
        MatchType::Count(_) => false,
    }
}

/// `*` and `?` with `\` escaping (RFC 5228 §2.7.1), iterative with one backtrack point, so
/// the time stays O(len(pattern) * len(value)). `?` is one character, not one byte.
fn wildcard(pat: &str, val: &str) -> bool {
    use variables::P;
    let items = variables::pattern(pat);
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
