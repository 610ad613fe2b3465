//! Sieve grammar (RFC 5228 §8.2) into a typed tree, checking each command's and test's
//! arguments and that extensions are `require`d before use.

use super::ext;
use super::ext::body::Transform;
use super::ext::date::{self, Zone};
use super::ext::editheader;
use super::ext::imap4flags::FlagOp;
use super::ext::relational::Relation;
use super::ext::variables::{self, Modifier};
use super::lexer::{Spanned, Token};
use super::SieveError;

/// Extensions this implementation offers to `require`.
pub const CAPABILITIES: &[&str] = &[
    "fileinto",
    "envelope",
    "variables",
    "subaddress",
    "relational",
    "comparator-i;ascii-numeric",
    "copy",
    "mailbox",
    "imap4flags",
    "body",
    "spamtest",
    "spamtestplus",
    "virustest",
    "date",
    "index",
    "editheader",
    "vacation",
    "vacation-seconds",
    "reject",
    "ereject",
    "include",
    "duplicate",
];

mod args;

/// Deepest nesting of blocks and tests, so a hostile script cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    /// `flags`: `keep :flags` (RFC 5232), else the internal flags apply.
    Keep {
        flags: Option<Vec<String>>,
    },
    Discard,
    Stop,
    /// `:copy` (RFC 3894) keeps the implicit keep.
    /// `:create` (RFC 5490 §3.2) makes the folder when it is missing.
    FileInto {
        mailbox: String,
        copy: bool,
        create: bool,
        flags: Option<Vec<String>>,
    },
    /// RFC 5232 `setflag`/`addflag`/`removeflag`, on a named variable or the internal one.
    Flags {
        op: FlagOp,
        variable: Option<String>,
        flags: Vec<String>,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    /// RFC 5293 `addheader`.
    AddHeader {
        last: bool,
        name: String,
        value: String,
    },
    /// RFC 5293 `deleteheader`: the fields named `name` (with `:index`, only that one) whose
    /// value matches a pattern, or all of them without patterns.
    DeleteHeader {
        m: Match,
        name: String,
        patterns: Option<Vec<String>>,
    },
    /// RFC 5229 `set`.
    Set {
        modifiers: Vec<Modifier>,
        name: String,
        value: String,
    },
    Vacation(Box<ext::vacation::Vacation>),
    Reject(ext::reject::Reject),
    Include(ext::include::Include),
    Return,
    /// RFC 6609 §3.3: these names are the variables all scripts of the run share.
    Global(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
    /// RFC 5231
    Count(Relation),
    Value(Relation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `i;ascii-casemap`, the default.
    AsciiCasemap,
    /// `i;octet`
    Octet,
    /// `i;ascii-numeric` (RFC 4790)
    AsciiNumeric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPart {
    All,
    LocalPart,
    Domain,
    /// RFC 5233
    User,
    Detail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub match_type: MatchType,
    pub comparator: Comparator,
    /// RFC 5260 `:index` (1-based), counted from the end with `:last`.
    pub index: Option<(usize, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Address {
        m: Match,
        part: AddressPart,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    Envelope {
        m: Match,
        part: AddressPart,
        parts: Vec<String>,
        keys: Vec<String>,
    },
    Header {
        m: Match,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    /// RFC 5229 `string`.
    Str {
        m: Match,
        sources: Vec<String>,
        keys: Vec<String>,
    },
    Exists(Vec<String>),
    /// RFC 5490 `mailboxexists`.
    MailboxExists(Vec<String>),
    /// RFC 5173 `body`.
    Body {
        m: Match,
        transform: Transform,
        keys: Vec<String>,
    },
    /// RFC 5235 `spamtest` (`percent`: spamtestplus `:percent`).
    Spam {
        m: Match,
        percent: bool,
        keys: Vec<String>,
    },
    /// RFC 5235 `virustest`.
    Virus {
        m: Match,
        keys: Vec<String>,
    },
    /// RFC 5260 `date`.
    Date {
        m: Match,
        zone: Zone,
        header: String,
        part: String,
        keys: Vec<String>,
    },
    /// RFC 5260 `currentdate`.
    CurrentDate {
        m: Match,
        zone: Zone,
        part: String,
        keys: Vec<String>,
    },
    /// RFC 5232 `hasflag`, over named variables or the internal one.
    HasFlag {
        m: Match,
        variables: Option<Vec<String>>,
        keys: Vec<String>,
    },
    Size {
        over: bool,
        limit: u64,
    },
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Not(Box<Test>),
    True,
    False,
    Duplicate(ext::duplicate::Duplicate),
}

/// One parsed argument of a command or test.
#[derive(Debug)]
pub(crate) enum Arg {
    Tag(String, usize),
    Number(u64),
    Strings(Vec<String>),
}

struct Parser<'a> {
    toks: &'a [Spanned],
    pos: usize,
    required: Vec<String>,
    /// `require` is only allowed before any other command.
    seen_other: bool,
}

/// The commands, and the extensions the script `require`s.
pub fn parse(toks: &[Spanned]) -> Result<(Vec<Command>, Vec<String>), SieveError> {
    let mut p = Parser {
        toks,
        pos: 0,
        required: Vec::new(),
        seen_other: false,
    };
    let cmds = p.commands(0)?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t.line, "unexpected `}`"));
    }
    Ok((cmds, p.required))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Spanned> {
        self.toks.get(self.pos)
    }

    fn line(&self) -> usize {
        self.peek()
            .or_else(|| self.toks.last())
            .map(|t| t.line)
            .unwrap_or(1)
    }

    fn error_at(&self, line: usize, msg: impl Into<String>) -> SieveError {
        SieveError::Parse {
            line,
            msg: msg.into(),
        }
    }

    fn error(&self, msg: impl Into<String>) -> SieveError {
        self.error_at(self.line(), msg)
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek().map(|s| &s.token) == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Token, what: &str) -> Result<(), SieveError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    /// Commands until `}` or the end.
    fn commands(&mut self, depth: usize) -> Result<Vec<Command>, SieveError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if t.token == Token::RBrace {
                break;
            }
            if let Some(c) = self.command(depth)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn block(&mut self, depth: usize) -> Result<Vec<Command>, SieveError> {
        self.expect(&Token::LBrace, "`{`")?;
        let cmds = self.commands(depth + 1)?;
        self.expect(&Token::RBrace, "`}`")?;
        Ok(cmds)
    }

    fn ident(&mut self) -> Result<(String, usize), SieveError> {
        match self.peek() {
            Some(Spanned {
                token: Token::Ident(name),
                line,
            }) => {
                let r = (name.clone(), *line);
                self.pos += 1;
                Ok(r)
            }
            _ => Err(self.error("expected a command")),
        }
    }

    fn string_list(&mut self) -> Result<Vec<String>, SieveError> {
        let mut out = Vec::new();
        loop {
            match self.peek().map(|t| t.token.clone()) {
                Some(Token::Str(s)) => {
                    self.pos += 1;
                    out.push(s);
                }
                _ => return Err(self.error("expected a string")),
            }
            if self.eat(&Token::RBracket) {
                return Ok(out);
            }
            self.expect(&Token::Comma, "`,` or `]`")?;
        }
    }

    /// Arguments (tags, numbers, strings, string lists) up to a test, `;`, `{` or `)`/`,`.
    fn args(&mut self) -> Result<Vec<Arg>, SieveError> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            let line = t.line;
            match t.token.clone() {
                Token::Tag(name) => {
                    self.pos += 1;
                    out.push(Arg::Tag(name, line));
                }
                Token::Number(n) => {
                    self.pos += 1;
                    out.push(Arg::Number(n));
                }
                Token::Str(s) => {
                    self.pos += 1;
                    out.push(Arg::Strings(vec![s]));
                }
                Token::LBracket => {
                    self.pos += 1;
                    out.push(Arg::Strings(self.string_list()?));
                }
                _ => break,
            }
        }
        Ok(out)
    }

    fn require_cap(&self, cap: &str, line: usize) -> Result<(), SieveError> {
        if self.required.iter().any(|r| r == cap) {
            Ok(())
        } else {
            Err(self.error_at(line, format!("`{cap}` used without `require \"{cap}\"`")))
        }
    }

    fn command(&mut self, depth: usize) -> Result<Option<Command>, SieveError> {
        let (name, line) = self.ident()?;
        if name != "require" {
            self.seen_other = true;
        }
        let cmd = match name.as_str() {
            "require" => {
                if self.seen_other {
                    return Err(self.error_at(line, "`require` after other commands"));
                }
                let caps = one_string_list(self.args()?)
                    .ok_or_else(|| self.error_at(line, "require: expected a string list"))?;
                for c in caps {
                    if !CAPABILITIES.contains(&c.as_str()) {
                        return Err(self.error_at(line, format!("unsupported extension `{c}`")));
                    }
                    self.required.push(c);
                }
                self.expect(&Token::Semicolon, "`;`")?;
                return Ok(None);
            }
            "if" => {
                let mut branches = Vec::new();
                let test = self.test(depth)?;
                branches.push((test, self.block(depth)?));
                let mut otherwise = None;
                loop {
                    match self.peek().map(|t| &t.token) {
                        Some(Token::Ident(w)) if w == "elsif" => {
                            self.pos += 1;
                            let test = self.test(depth)?;
                            branches.push((test, self.block(depth)?));
                        }
                        Some(Token::Ident(w)) if w == "else" => {
                            self.pos += 1;
                            otherwise = Some(self.block(depth)?);
                            break;
                        }
                        _ => break,
                    }
                }
                return Ok(Some(Command::If {
                    branches,
                    otherwise,
                }));
            }
            "elsif" | "else" => return Err(self.error_at(line, format!("`{name}` without `if`"))),
            "keep" | "discard" | "stop" => {
                let mut args = self.args()?;
                let flags = if name == "keep" {
                    self.take_flags(&mut args)?
                } else {
                    None
                };
                if !args.is_empty() {
                    return Err(self.error_at(line, format!("{name}: unexpected arguments")));
                }
                match name.as_str() {
                    "keep" => Command::Keep { flags },
                    "discard" => Command::Discard,
                    _ => Command::Stop,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.require_cap("imap4flags", line)?;
                let mut lists = Vec::new();
                for a in self.args()? {
                    match a {
                        Arg::Strings(s) => lists.push(s),
                        _ => return Err(self.error_at(line, format!("{name}: expected strings"))),
                    }
                }
                let (variable, flags) = match <[Vec<String>; 2]>::try_from(lists) {
                    Ok([mut v, f]) if v.len() == 1 => {
                        self.require_cap("variables", line)?;
                        (v.pop(), f)
                    }
                    Err(mut l) if l.len() == 1 => (None, l.remove(0)),
                    _ => return Err(self.error_at(line, format!("{name}: expected a flag list"))),
                };
                Command::Flags {
                    op: match name.as_str() {
                        "setflag" => FlagOp::Set,
                        "addflag" => FlagOp::Add,
                        _ => FlagOp::Remove,
                    },
                    variable,
                    flags,
                }
            }
            "fileinto" | "redirect" => {
                if name == "fileinto" {
                    self.require_cap("fileinto", line)?;
                }
                let mut args = self.args()?;
                let copy = self.take_flag(&mut args, "copy", "copy")?;
                let create =
                    name == "fileinto" && self.take_flag(&mut args, "create", "mailbox")?;
                let flags = if name == "fileinto" {
                    self.take_flags(&mut args)?
                } else {
                    None
                };
                let s = one_string(args)
                    .ok_or_else(|| self.error_at(line, format!("{name}: expected one string")))?;
                if name == "fileinto" {
                    Command::FileInto {
                        mailbox: s,
                        copy,
                        create,
                        flags,
                    }
                } else {
                    Command::Redirect { address: s, copy }
                }
            }
            "addheader" | "deleteheader" => {
                self.require_cap("editheader", line)?;
                self.edit_header(&name, depth, line)?
            }
            "set" => {
                self.require_cap("variables", line)?;
                self.set(line)?
            }
            "global" => {
                self.require_cap("include", line)?;
                self.require_cap("variables", line)?;
                let names = match <[Arg; 1]>::try_from(self.args()?) {
                    Ok([Arg::Strings(n)]) if n.iter().all(|n| variables::valid_name(n)) => n,
                    _ => return Err(self.error_at(line, "global: expected variable names")),
                };
                Command::Global(names)
            }
            "vacation" | "reject" | "ereject" | "include" | "return" => {
                self.extension_command(&name, line)?
            }
            other => return Err(self.error_at(line, format!("unknown command `{other}`"))),
        };
        self.expect(&Token::Semicolon, "`;`")?;
        Ok(Some(cmd))
    }

    /// The commands of the extensions in [`ext`], each checked by its own module.
    fn extension_command(&mut self, name: &str, line: usize) -> Result<Command, SieveError> {
        let seconds = self.required.iter().any(|r| r == "vacation-seconds");
        // RFC 6131 §2: "vacation-seconds" implies "vacation".
        let cap = match name {
            "return" => "include",
            "vacation" if seconds => "vacation-seconds",
            n => n,
        };
        self.require_cap(cap, line)?;
        let args = self.args()?;
        let at = |m: String| self.error_at(line, m);
        Ok(match name {
            "vacation" => {
                Command::Vacation(Box::new(ext::vacation::parse(args, seconds).map_err(at)?))
            }
            "reject" | "ereject" => {
                Command::Reject(ext::reject::parse(args, name == "ereject").map_err(at)?)
            }
            "include" => Command::Include(ext::include::parse(args).map_err(at)?),
            _ if args.is_empty() => Command::Return,
            _ => return Err(at("return takes no arguments".into())),
        })
    }

    fn test_list(&mut self, depth: usize) -> Result<Vec<Test>, SieveError> {
        self.expect(&Token::LParen, "`(`")?;
        let mut out = Vec::new();
        loop {
            out.push(self.test(depth + 1)?);
            if self.eat(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma, "`,` or `)`")?;
        }
    }

    fn test(&mut self, depth: usize) -> Result<Test, SieveError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let (name, line) = self.ident()?;
        self.named_test(name, line, depth)
    }

    /// The test `name` whose identifier was just read.
    fn named_test(&mut self, name: String, line: usize, depth: usize) -> Result<Test, SieveError> {
        match name.as_str() {
            "true" => Ok(Test::True),
            "false" => Ok(Test::False),
            "not" => Ok(Test::Not(Box::new(self.test(depth + 1)?))),
            "allof" => Ok(Test::AllOf(self.test_list(depth)?)),
            "anyof" => Ok(Test::AnyOf(self.test_list(depth)?)),
            "mailboxexists" => {
                self.require_cap("mailbox", line)?;
                let names = one_string_list(self.args()?)
                    .ok_or_else(|| self.error_at(line, "mailboxexists: expected a string list"))?;
                Ok(Test::MailboxExists(names))
            }
            "exists" => {
                let names = one_string_list(self.args()?)
                    .ok_or_else(|| self.error_at(line, "exists: expected a string list"))?;
                Ok(Test::Exists(names))
            }
            "size" => {
                let args = self.args()?;
                match args.as_slice() {
                    [Arg::Tag(t, _), Arg::Number(n)] if t == "over" || t == "under" => {
                        Ok(Test::Size {
                            over: t == "over",
                            limit: *n,
                        })
                    }
                    _ => Err(self.error_at(line, "size: expected :over or :under and a number")),
                }
            }
            "header" | "address" | "envelope" | "string" | "hasflag" | "body" | "spamtest"
            | "virustest" | "date" | "currentdate" | "deleteheader" => {
                if name == "date" || name == "currentdate" {
                    self.require_cap("date", line)?;
                }
                let mut zone = Zone::Local;
                let mut last = false;
                if name == "spamtest" || name == "virustest" {
                    let cap = if name == "spamtest" {
                        "spamtest"
                    } else {
                        "virustest"
                    };
                    if !(self.required.iter().any(|r| r == "spamtestplus") && cap == "spamtest") {
                        self.require_cap(cap, line)?;
                    }
                }
                let mut percent = false;
                if name == "hasflag" || name == "body" {
                    self.require_cap(if name == "body" { "body" } else { "imap4flags" }, line)?;
                }
                let mut transform = Transform::text();
                if name == "envelope" || name == "string" {
                    self.require_cap(
                        if name == "string" {
                            "variables"
                        } else {
                            "envelope"
                        },
                        line,
                    )?;
                }
                let args = self.args()?;
                let mut m = Match {
                    match_type: MatchType::Is,
                    comparator: Comparator::AsciiCasemap,
                    index: None,
                };
                let mut part = AddressPart::All;
                let mut lists = Vec::new();
                let mut it = args.into_iter();
                while let Some(a) = it.next() {
                    match a {
                        Arg::Tag(t, tl) => match t.as_str() {
                            "is" => m.match_type = MatchType::Is,
                            "contains" => m.match_type = MatchType::Contains,
                            "matches" => m.match_type = MatchType::Matches,
                            "zone" if name == "date" || name == "currentdate" => {
                                zone = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => {
                                        Zone::Fixed(s.concat())
                                    }
                                    _ => return Err(self.error_at(tl, ":zone needs a string")),
                                }
                            }
                            "originalzone" if name == "date" => zone = Zone::Original,
                            "index" | "last"
                                if matches!(
                                    name.as_str(),
                                    "header" | "address" | "date" | "deleteheader"
                                ) =>
                            {
                                if name != "deleteheader" {
                                    self.require_cap("index", tl)?;
                                }
                                if t == "last" {
                                    last = true;
                                } else {
                                    match it.next() {
                                        Some(Arg::Number(n)) if n >= 1 => {
                                            m.index = Some((n as usize, false))
                                        }
                                        _ => {
                                            return Err(
                                                self.error_at(tl, ":index needs a number from 1")
                                            )
                                        }
                                    }
                                }
                            }
                            "percent" if name == "spamtest" => {
                                self.require_cap("spamtestplus", tl)?;
                                percent = true;
                            }
                            "raw" | "text" if name == "body" => {
                                transform = if t == "raw" {
                                    Transform::Raw
                                } else {
                                    Transform::text()
                                }
                            }
                            "content" if name == "body" => match it.next() {
                                Some(Arg::Strings(s)) => transform = Transform::Content(s),
                                _ => return Err(self.error_at(tl, ":content needs a string list")),
                            },
                            "count" | "value" => {
                                self.require_cap("relational", tl)?;
                                let rel = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => Relation::parse(&s[0]),
                                    _ => None,
                                }
                                .ok_or_else(|| {
                                    self.error_at(tl, format!(":{t} needs a relation"))
                                })?;
                                m.match_type = if t == "count" {
                                    MatchType::Count(rel)
                                } else {
                                    MatchType::Value(rel)
                                };
                            }
                            "all" | "localpart" | "domain" | "user" | "detail"
                                if name == "address" || name == "envelope" =>
                            {
                                part = match t.as_str() {
                                    "localpart" => AddressPart::LocalPart,
                                    "domain" => AddressPart::Domain,
                                    "user" | "detail" => {
                                        self.require_cap("subaddress", tl)?;
                                        if t == "user" {
                                            AddressPart::User
                                        } else {
                                            AddressPart::Detail
                                        }
                                    }
                                    _ => AddressPart::All,
                                }
                            }
                            "comparator" => {
                                let c = match it.next() {
                                    Some(Arg::Strings(s)) if s.len() == 1 => s.concat(),
                                    _ => {
                                        return Err(self.error_at(tl, ":comparator needs a string"))
                                    }
                                };
                                m.comparator = match c.as_str() {
                                    "i;ascii-casemap" => Comparator::AsciiCasemap,
                                    "i;octet" => Comparator::Octet,
                                    "i;ascii-numeric" => {
                                        self.require_cap("comparator-i;ascii-numeric", tl)?;
                                        Comparator::AsciiNumeric
                                    }
                                    _ => {
                                        return Err(self
                                            .error_at(tl, format!("unsupported comparator {c}")))
                                    }
                                };
                            }
                            _ => return Err(self.error_at(tl, format!("{name}: unknown tag :{t}"))),
                        },
                        Arg::Strings(s) => lists.push(s),
                        Arg::Number(_) => {
                            return Err(self.error_at(line, format!("{name}: unexpected number")))
                        }
                    }
                }
                match (m.index, last) {
                    (Some((n, _)), true) => m.index = Some((n, true)),
                    (None, true) => return Err(self.error_at(line, ":last without :index")),
                    _ => {}
                }
                if name == "date" || name == "currentdate" {
                    return self.date_test(&name, m, zone, lists, line);
                }
                // deleteheader without value patterns deletes every field of the name.
                if name == "deleteheader" && lists.len() == 1 {
                    lists.push(Vec::new());
                }
                if matches!(name.as_str(), "hasflag" | "body" | "spamtest" | "virustest")
                    && lists.len() == 1
                {
                    lists.insert(0, Vec::new());
                }
                let [first, keys]: [Vec<String>; 2] = lists.try_into().map_err(|_| {
                    self.error_at(line, format!("{name}: expected two string lists"))
                })?;
                // RFC 4790 §9.1: ascii-numeric offers equality and order, not substrings.
                if m.comparator == Comparator::AsciiNumeric
                    && matches!(m.match_type, MatchType::Contains | MatchType::Matches)
                {
                    return Err(self.error_at(line, "i;ascii-numeric cannot :contains or :matches"));
                }
                Ok(match name.as_str() {
                    "spamtest" | "virustest" if !first.is_empty() => {
                        return Err(self.error_at(line, format!("{name}: expected one value")))
                    }
                    "spamtest" => Test::Spam { m, percent, keys },
                    "virustest" => Test::Virus { m, keys },
                    "body" if first.is_empty() => Test::Body { m, transform, keys },
                    "body" => return Err(self.error_at(line, "body: expected one key list")),
                    "deleteheader" => Test::Header {
                        m,
                        headers: first,
                        keys,
                    },
                    "hasflag" => Test::HasFlag {
                        m,
                        variables: if first.is_empty() { None } else { Some(first) },
                        keys,
                    },
                    "string" => Test::Str {
                        m,
                        sources: first,
                        keys,
                    },
                    "header" => Test::Header {
                        m,
                        headers: first,
                        keys,
                    },
                    "address" => Test::Address {
                        m,
                        part,
                        headers: first,
                        keys,
                    },
                    _ => {
                        for p in &first {
                            let p = p.to_ascii_lowercase();
                            if p != "from" && p != "to" {
                                return Err(
                                    self.error_at(line, format!("envelope: unknown part {p:?}"))
                                );
                            }
                        }
                        Test::Envelope {
                            m,
                            part,
                            parts: first,
                            keys,
                        }
                    }
                })
            }
            "duplicate" => {
                self.require_cap("duplicate", line)?;
                let d = ext::duplicate::parse(self.args()?).map_err(|m| self.error_at(line, m))?;
                Ok(Test::Duplicate(d))
            }
            other => Err(self.error_at(line, format!("unknown test `{other}`"))),
        }
    }
}

fn one_string_list(args: Vec<Arg>) -> Option<Vec<String>> {
    let mut it = args.into_iter();
    match (it.next(), it.next()) {
        (Some(Arg::Strings(s)), None) => Some(s),
        _ => None,
    }
}

fn one_string(args: Vec<Arg>) -> Option<String> {
    let mut s = one_string_list(args)?;
    if s.len() == 1 {
        s.pop()
    } else {
        None
    }
}
