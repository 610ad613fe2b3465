//! Sieve grammar (RFC 5228 §8.2) into a typed tree ([`ast`]), checking each command's and
//! test's arguments and that extensions are `require`d before use. Commands are parsed here,
//! tests in [`test`], the extensions' argument shapes in `args`.

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
mod ast;
mod test;

pub use ast::*;

/// Deepest nesting of blocks and tests, so a hostile script cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

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
