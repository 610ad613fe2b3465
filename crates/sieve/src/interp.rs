//! Running a parsed script against one message: tests evaluated over the message's headers and
//! envelope ([`view`] is what is asked of the message, `test` the evaluation, `matching` the
//! comparators and match types), commands collected here into the actions delivery performs
//! (RFC 5228 §2.10, §4).

mod date;
mod editheader;
mod matching;
mod test;
mod view;

pub use matching::addresses;
use matching::{index_position, pick, plausible_address};
pub use view::{Facts, MessageView};

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
}
