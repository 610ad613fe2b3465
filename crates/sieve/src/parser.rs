//! Sieve grammar (RFC 5228 §8.2) into a typed tree, checking each command's and test's
//! arguments and that extensions are `require`d before use.

use super::ext;
use super::lexer::{Spanned, Token};
use super::SieveError;

/// Extensions this implementation offers to `require`.
pub const CAPABILITIES: &[&str] = &[
    "fileinto",
    "envelope",
    "vacation",
    "vacation-seconds",
    "reject",
    "ereject",
    "include",
    "duplicate",
];

/// Deepest nesting of blocks and tests, so a hostile script cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Keep,
    Discard,
    Stop,
    FileInto(String),
    Redirect(String),
    Vacation(Box<ext::vacation::Vacation>),
    Reject(ext::reject::Reject),
    Include(ext::include::Include),
    Return,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `i;ascii-casemap`, the default.
    AsciiCasemap,
    /// `i;octet`
    Octet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPart {
    All,
    LocalPart,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub match_type: MatchType,
    pub comparator: Comparator,
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
    Exists(Vec<String>),
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

pub fn parse(toks: &[Spanned]) -> Result<Vec<Command>, SieveError> {
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
    Ok(cmds)
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
                if !self.args()?.is_empty() {
                    return Err(self.error_at(line, format!("{name} takes no arguments")));
                }
                match name.as_str() {
                    "keep" => Command::Keep,
                    "discard" => Command::Discard,
                    _ => Command::Stop,
                }
            }
            "fileinto" => {
                self.require_cap("fileinto", line)?;
                let s = one_string(self.args()?)
                    .ok_or_else(|| self.error_at(line, "fileinto: expected one string"))?;
                Command::FileInto(s)
            }
            "redirect" => {
                let s = one_string(self.args()?)
                    .ok_or_else(|| self.error_at(line, "redirect: expected one string"))?;
                Command::Redirect(s)
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
        match name.as_str() {
            "true" => Ok(Test::True),
            "false" => Ok(Test::False),
            "not" => Ok(Test::Not(Box::new(self.test(depth + 1)?))),
            "allof" => Ok(Test::AllOf(self.test_list(depth)?)),
            "anyof" => Ok(Test::AnyOf(self.test_list(depth)?)),
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
            "header" | "address" | "envelope" => {
                if name == "envelope" {
                    self.require_cap("envelope", line)?;
                }
                let args = self.args()?;
                let mut m = Match {
                    match_type: MatchType::Is,
                    comparator: Comparator::AsciiCasemap,
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
                            "all" | "localpart" | "domain" if name != "header" => {
                                part = match t.as_str() {
                                    "localpart" => AddressPart::LocalPart,
                                    "domain" => AddressPart::Domain,
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
                let [first, keys]: [Vec<String>; 2] = lists.try_into().map_err(|_| {
                    self.error_at(line, format!("{name}: expected two string lists"))
                })?;
                Ok(match name.as_str() {
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
