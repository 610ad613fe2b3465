//! Sans-IO IMAP command parser (RFC 3501 grammar plus the extensions imapd announces).
//!
//! The connection layer collects one complete command with [`CommandCollector`]: lines are
//! read up to `imapd.max_command_line`, and a line ending in a literal marker `{N}` / `{N+}`
//! is followed by exactly N bytes (after a `+` continuation for the synchronising form) and
//! by the rest of the command. The collected bytes (literals inline, as `{N}\r\n<bytes>`) are
//! then parsed in one go by [`parse_command`]. Syntax errors carry the tag when it could be
//! read, so the session can answer `tag BAD`.
//!
//! Hand-written rather than imap-codec: we need the literal handling to live in our
//! collector (where the size limits and the continuation requests are decided), our own
//! command set is small, and a few hundred lines of grammar are easier to audit and fuzz
//! than adapting another crate's type model to the Maildir store.

use crate::utf7;

/// Longest tag accepted.
const MAX_TAG: usize = 64;
/// Depth limit for nested SEARCH keys (parentheses, NOT, OR) so hostile input cannot
/// exhaust the stack.
const MAX_SEARCH_DEPTH: usize = 32;

/// One element of a sequence set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

impl SeqNum {
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Star => largest,
        }
    }
}

/// A sequence set: ranges as written (either end may be the larger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(SeqNum, SeqNum)>);

impl SeqSet {
    /// True if `n` is in the set, with `*` meaning `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (lo..=hi).contains(&n)
        })
    }
}

/// The text part of a section specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// `BODY[section]`: part numbers then an optional text specifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub parts: Vec<u32>,
    pub text: Option<SectionText>,
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    Body,
    BodyStructure,
    Uid,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
}

/// A calendar date as SEARCH uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// A SEARCH key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(String),
    Before(Date),
    Body(String),
    Cc(String),
    Deleted,
    Draft,
    Flagged,
    From(String),
    Header(String, String),
    Keyword(String),
    Larger(u32),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u32),
    Subject(String),
    Text(String),
    To(String),
    Uid(SeqSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    SeqSet(SeqSet),
    And(Vec<SearchKey>),
}

/// A flag as sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `\Recent` may not be set by clients; kept so STORE can ignore it.
    Recent,
    Keyword(String),
    /// An unknown `\Something`.
    Extension(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAtt {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
}

/// RFC 5258 selection options (and RFC 6154's SPECIAL-USE): which mailboxes LIST returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListSelect {
    pub subscribed: bool,
    /// Accepted; there are no remote mailboxes.
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// RFC 5258 return options, RFC 5819's STATUS and RFC 6154's SPECIAL-USE: what LIST
/// reports about each mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    pub status: Option<Vec<StatusAtt>>,
}

/// An extended LIST: selection options, several patterns or return options were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExtended {
    pub select: ListSelect,
    pub reference: String,
    pub patterns: Vec<String>,
    pub ret: ListReturn,
}

/// An APPEND date-time: the instant as Unix seconds.
pub type Timestamp = i64;

/// A parsed command, with the tag already split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: Vec<u8>,
        password: Vec<u8>,
    },
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    Select(String),
    Examine(String),
    Create(String),
    Delete(String),
    Rename(String, String),
    Subscribe(String),
    Unsubscribe(String),
    List {
        reference: String,
        pattern: String,
    },
    /// Boxed: rare, and every parsed command pays for the largest variant.
    ListExtended(Box<ListExtended>),
    Lsub {
        reference: String,
        pattern: String,
    },
    Status(String, Vec<StatusAtt>),
    Append {
        mailbox: String,
        flags: Vec<Flag>,
        date: Option<Timestamp>,
        message: Vec<u8>,
    },
    Check,
    Close,
    Unselect,
    Expunge,
    UidExpunge(SeqSet),
    Search {
        uid: bool,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        atts: Vec<FetchAtt>,
    },
    Store {
        uid: bool,
        set: SeqSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<Flag>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
    },
    Move {
        uid: bool,
        set: SeqSet,
        mailbox: String,
    },
    Idle,
    Namespace,
    Enable(Vec<String>),
    Id(Vec<(String, Option<String>)>),
}

/// A syntax error, with the tag when one could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
}

/// Parses one complete command (without its final CRLF; literals inline).
pub fn parse_command(input: &[u8]) -> Result<(String, Command), ParseError> {
    let mut p = Parser { input, pos: 0 };
    let tag = match p.tag() {
        Ok(t) => t,
        Err(message) => return Err(ParseError { tag: None, message }),
    };
    let result = (|| {
        p.sp()?;
        let cmd = p.command()?;
        if p.pos != p.input.len() {
            return Err("unexpected characters after the command".to_owned());
        }
        Ok(cmd)
    })();
    result
        .map(|c| (tag.clone(), c))
        .map_err(|message| ParseError {
            tag: Some(tag),
            message,
        })
}

/// An APPEND up to its message literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendHead {
    pub mailbox: String,
    pub flags: Vec<Flag>,
    pub date: Option<Timestamp>,
}

/// Recognises a command collected up to a literal marker as an APPEND whose next literal
/// is the message (`tag APPEND mailbox [flags] [date] {N}` plus the CRLF the collector
/// adds), so the connection can stream that literal to disk instead of collecting it.
/// None for anything else, which is then collected and parsed as usual.
pub fn append_before_literal(collected: &[u8]) -> Option<(String, AppendHead)> {
    let mut p = Parser {
        input: collected,
        pos: 0,
    };
    let tag = p.tag().ok()?;
    p.sp().ok()?;
    if p.atom_upper().ok()? != "APPEND" {
        return None;
    }
    let head = p.append_head().ok()?;
    let rest = p.rest().strip_suffix(b"\r\n")?;
    if rest.first() != Some(&b'{') || rest.iter().skip(1).any(|&b| b == b'{') {
        return None;
    }
    literal_marker(rest)?;
    Some((tag, head))
}

/// Reads the tag of a line that may not parse, for `BAD` replies.
pub fn peek_tag(input: &[u8]) -> Option<String> {
    Parser { input, pos: 0 }.tag().ok()
}

type PResult<T> = Result<T, String>;

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

/// ATOM-CHAR of RFC 3501.
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}'", char::from(b)))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    /// Case-insensitive keyword match that does not consume on failure.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        if rest.len() >= kw.len()
            && rest
                .get(..kw.len())
                .is_some_and(|r| r.eq_ignore_ascii_case(kw.as_bytes()))
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(|b| is_astring_char(b) && b != b'+');
        if t.is_empty() || t.len() > MAX_TAG {
            return Err("missing or invalid tag".to_owned());
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err("expected an atom".to_owned());
        }
        Ok(a)
    }

    fn atom_upper(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "expected a number".to_owned())
    }

    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("expected a non-zero number".to_owned()),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err("unterminated quoted string".to_owned())
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string".to_owned()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        if !self.eat_keyword("\r\n") {
            return Err("literal must be followed by CRLF".to_owned());
        }
        let data = self
            .input
            .get(self.pos..self.pos + n)
            .ok_or_else(|| "literal is shorter than announced".to_owned())?;
        self.pos += n;
        Ok(data.to_vec())
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a string".to_owned()),
        }
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("expected an atom or string".to_owned())
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn nstring_or_nil(&mut self) -> PResult<Option<String>> {
        if self.eat_keyword("NIL") {
            return Ok(None);
        }
        let s = self.string()?;
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }

    /// A mailbox name, decoded from modified UTF-7 to UTF-8.
    fn mailbox(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        utf7::decode(&raw).map_err(|e| e.to_string())
    }

    fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"') | Some(b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err("expected a mailbox pattern".to_owned());
                }
                a.to_vec()
            }
        };
        utf7::decode(&raw).map_err(|e| e.to_string())
    }

    fn seq_number(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    fn seq_set(&mut self) -> PResult<SeqSet> {
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if !self.eat(b',') {
                return Ok(SeqSet(ranges));
            }
        }
    }

    fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Err("\\* is not a flag".to_owned());
            }
            let a = self.atom_upper()?;
            return Ok(match a.as_str() {
                "ANSWERED" => Flag::Answered,
                "FLAGGED" => Flag::Flagged,
                "DELETED" => Flag::Deleted,
                "SEEN" => Flag::Seen,
                "DRAFT" => Flag::Draft,
                "RECENT" => Flag::Recent,
                _ => Flag::Extension(a),
            });
        }
        let a = self.atom()?;
        Ok(Flag::Keyword(String::from_utf8_lossy(a).into_owned()))
    }

    fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let name = self.atom_upper()?;
        Ok(match name.as_str() {
            "CAPABILITY" => Command::Capability,
            "NOOP" => Command::Noop,
            "LOGOUT" => Command::Logout,
            "STARTTLS" => Command::StartTls,
            "CHECK" => Command::Check,
            "CLOSE" => Command::Close,
            "UNSELECT" => Command::Unselect,
            "EXPUNGE" => Command::Expunge,
            "IDLE" => Command::Idle,
            "NAMESPACE" => Command::Namespace,
            "LOGIN" => {
                self.sp()?;
                let user = self.astring()?;
                self.sp()?;
                let password = self.astring()?;
                Command::Login { user, password }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.atom_upper()?;
                let initial = if self.eat(b' ') {
                    let r = self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                    if r.is_empty() {
                        return Err("expected an initial response".to_owned());
                    }
                    Some(String::from_utf8_lossy(r).into_owned())
                } else {
                    None
                };
                Command::Authenticate { mechanism, initial }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mb = self.mailbox()?;
                // RFC 4466 select parameters (e.g. CONDSTORE) are not supported.
                if name == "SELECT" {
                    Command::Select(mb)
                } else {
                    Command::Examine(mb)
                }
            }
            "CREATE" => {
                self.sp()?;
                Command::Create(self.mailbox()?)
            }
            "DELETE" => {
                self.sp()?;
                Command::Delete(self.mailbox()?)
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                Command::Rename(from, self.mailbox()?)
            }
            "SUBSCRIBE" => {
                self.sp()?;
                Command::Subscribe(self.mailbox()?)
            }
            "UNSUBSCRIBE" => {
                self.sp()?;
                Command::Unsubscribe(self.mailbox()?)
            }
            "LIST" => self.list()?,
            "LSUB" => {
                self.sp()?;
                let reference = self.mailbox()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                if name == "LIST" {
                    Command::List { reference, pattern }
                } else {
                    Command::Lsub { reference, pattern }
                }
            }
            "STATUS" => {
                self.sp()?;
                let mb = self.mailbox()?;
                self.sp()?;
                Command::Status(mb, self.status_atts()?)
            }
            "APPEND" => {
                let AppendHead {
                    mailbox,
                    flags,
                    date,
                } = self.append_head()?;
                let message = self.literal()?;
                Command::Append {
                    mailbox,
                    flags,
                    date,
                    message,
                }
            }
            "SEARCH" => self.search(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" | "MOVE" => self.copy_move(false, name == "MOVE")?,
            "UID" => {
                self.sp()?;
                let sub = self.atom_upper()?;
                match sub.as_str() {
                    "SEARCH" => self.search(true)?,
                    "FETCH" => self.fetch(true)?,
                    "STORE" => self.store(true)?,
                    "COPY" | "MOVE" => self.copy_move(true, sub == "MOVE")?,
                    "EXPUNGE" => {
                        self.sp()?;
                        Command::UidExpunge(self.seq_set()?)
                    }
                    other => return Err(format!("unknown UID command {other}")),
                }
            }
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.atom_upper()?);
                }
                if caps.is_empty() {
                    return Err("ENABLE needs at least one capability".to_owned());
                }
                Command::Enable(caps)
            }
            "ID" => {
                self.sp()?;
                let mut fields = Vec::new();
                if !self.eat_keyword("NIL") {
                    self.expect(b'(')?;
                    if !self.eat(b')') {
                        loop {
                            let k = self.string()?;
                            self.sp()?;
                            let v = self.nstring_or_nil()?;
                            if fields.len() < 30 {
                                fields.push((String::from_utf8_lossy(&k).into_owned(), v));
                            }
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                    }
                }
                Command::Id(fields)
            }
            other => return Err(format!("unknown command {other}")),
        })
    }

    /// What comes between `APPEND` and the message literal.
    fn append_head(&mut self) -> PResult<AppendHead> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            let raw = self.quoted()?;
            date = Some(
                crate::date::parse_date_time(&raw).ok_or_else(|| "invalid date-time".to_owned())?,
            );
            self.sp()?;
        }
        Ok(AppendHead {
            mailbox,
            flags,
            date,
        })
    }

    /// `(MESSAGES UNSEEN ...)`, as STATUS and LIST's `RETURN (STATUS ...)` take it.
    fn status_atts(&mut self) -> PResult<Vec<StatusAtt>> {
        self.expect(b'(')?;
        let mut atts = Vec::new();
        loop {
            atts.push(match self.atom_upper()?.as_str() {
                "MESSAGES" => StatusAtt::Messages,
                "RECENT" => StatusAtt::Recent,
                "UIDNEXT" => StatusAtt::UidNext,
                "UIDVALIDITY" => StatusAtt::UidValidity,
                "UNSEEN" => StatusAtt::Unseen,
                other => return Err(format!("unknown status item {other}")),
            });
            if self.eat(b')') {
                return Ok(atts);
            }
            self.sp()?;
        }
    }

    /// LIST, plain (RFC 3501) or extended (RFC 5258: selection options, several patterns,
    /// return options). Only the plain form yields [`Command::List`], so its replies stay
    /// exactly as before.
    fn list(&mut self) -> PResult<Command> {
        self.sp()?;
        let mut extended = false;
        let mut select = ListSelect::default();
        if self.eat(b'(') {
            extended = true;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => select.subscribed = true,
                        "REMOTE" => select.remote = true,
                        "RECURSIVEMATCH" => select.recursive_match = true,
                        "SPECIAL-USE" => select.special_use = true,
                        other => return Err(format!("unknown LIST selection option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            // RFC 5258 §3: RECURSIVEMATCH needs another (non-REMOTE) selection option.
            if select.recursive_match && !(select.subscribed || select.special_use) {
                return Err("RECURSIVEMATCH needs another selection option".to_owned());
            }
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if self.eat(b'(') {
            extended = true;
            loop {
                patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.push(self.list_mailbox()?);
        }
        let mut ret = ListReturn::default();
        if self.eat_keyword(" RETURN ") {
            extended = true;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => ret.subscribed = true,
                        "CHILDREN" => ret.children = true,
                        "SPECIAL-USE" => ret.special_use = true,
                        "STATUS" => {
                            self.sp()?;
                            ret.status = Some(self.status_atts()?);
                        }
                        other => return Err(format!("unknown LIST return option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        if !extended {
            let pattern = patterns.pop().unwrap_or_default();
            return Ok(Command::List { reference, pattern });
        }
        // Selection options imply their return options (RFC 5258 §3, RFC 6154 §3).
        ret.subscribed |= select.subscribed;
        ret.special_use |= select.special_use;
        Ok(Command::ListExtended(Box::new(ListExtended {
            select,
            reference,
            patterns,
            ret,
        })))
    }

    fn copy_move(&mut self, uid: bool, is_move: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mailbox = self.mailbox()?;
        Ok(if is_move {
            Command::Move { uid, set, mailbox }
        } else {
            Command::Copy { uid, set, mailbox }
        })
    }

    fn store(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let op = if self.eat(b'+') {
            StoreOp::Add
        } else if self.eat(b'-') {
            StoreOp::Remove
        } else {
            StoreOp::Replace
        };
        if !self.eat_keyword("FLAGS") {
            return Err("expected FLAGS".to_owned());
        }
        let silent = self.eat_keyword(".SILENT");
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(Command::Store {
            uid,
            set,
            op,
            silent,
            flags,
        })
    }

    fn fetch(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let set = self.seq_set()?;
        self.sp()?;
        let mut atts = Vec::new();
        if self.eat(b'(') {
            loop {
                atts.push(self.fetch_att()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else if self.eat_keyword("ALL") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
            ];
        } else if self.eat_keyword("FULL") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
                FetchAtt::Body,
            ];
        } else if self.eat_keyword("FAST") {
            atts = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
            ];
        } else {
            atts.push(self.fetch_att()?);
        }
        Ok(Command::Fetch { uid, set, atts })
    }

    fn fetch_att(&mut self) -> PResult<FetchAtt> {
        let name = self
            .take_while(|b| b.is_ascii_alphanumeric() || b == b'.')
            .to_ascii_uppercase();
        Ok(match name.as_slice() {
            b"ENVELOPE" => FetchAtt::Envelope,
            b"FLAGS" => FetchAtt::Flags,
            b"INTERNALDATE" => FetchAtt::InternalDate,
            b"RFC822" => FetchAtt::Rfc822,
            b"RFC822.HEADER" => FetchAtt::Rfc822Header,
            b"RFC822.SIZE" => FetchAtt::Rfc822Size,
            b"RFC822.TEXT" => FetchAtt::Rfc822Text,
            b"BODYSTRUCTURE" => FetchAtt::BodyStructure,
            b"UID" => FetchAtt::Uid,
            b"BODY" | b"BODY.PEEK" => {
                if self.peek() != Some(b'[') {
                    if name == b"BODY" {
                        return Ok(FetchAtt::Body);
                    }
                    return Err("BODY.PEEK needs a section".to_owned());
                }
                let section = self.section()?;
                let partial = if self.eat(b'<') {
                    let origin = self.number()?;
                    self.expect(b'.')?;
                    let len = self.nz_number()?;
                    self.expect(b'>')?;
                    Some((origin, len))
                } else {
                    None
                };
                FetchAtt::BodySection {
                    peek: name == b"BODY.PEEK",
                    section,
                    partial,
                }
            }
            _ => {
                return Err(format!(
                    "unknown fetch item {}",
                    String::from_utf8_lossy(&name)
                ))
            }
        })
    }

    fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            section.parts.push(self.nz_number()?);
            if !self.eat(b'.') {
                break;
            }
        }
        let needs_text =
            section.parts.is_empty() || self.input.get(self.pos.wrapping_sub(1)) == Some(&b'.');
        if needs_text {
            let text = if self.eat_keyword("HEADER.FIELDS.NOT") {
                self.header_list(true)?
            } else if self.eat_keyword("HEADER.FIELDS") {
                self.header_list(false)?
            } else if self.eat_keyword("HEADER") {
                SectionText::Header
            } else if self.eat_keyword("TEXT") {
                SectionText::Text
            } else if !section.parts.is_empty() && self.eat_keyword("MIME") {
                SectionText::Mime
            } else {
                return Err("invalid section".to_owned());
            };
            section.text = Some(text);
        }
        self.expect(b']')?;
        Ok(section)
    }

    fn header_list(&mut self, not: bool) -> PResult<SectionText> {
        self.sp()?;
        self.expect(b'(')?;
        let mut fields = Vec::new();
        loop {
            let f = self.astring()?;
            fields.push(String::from_utf8_lossy(&f).into_owned());
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        Ok(SectionText::HeaderFields { not, fields })
    }

    fn search(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        if self.eat_keyword("CHARSET ") {
            let cs = self.astring()?;
            let cs = String::from_utf8_lossy(&cs).to_ascii_uppercase();
            if cs != "UTF-8" && cs != "US-ASCII" {
                return Err("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset".to_owned());
            }
            self.sp()?;
        }
        let mut keys = vec![self.search_key(0)?];
        while self.eat(b' ') {
            keys.push(self.search_key(0)?);
        }
        let key = if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        };
        Ok(Command::Search { uid, key })
    }

    fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let day = self.number()?;
        self.expect(b'-')?;
        let m = self.atom()?;
        let month = crate::date::month_from_name(m).ok_or_else(|| "invalid month".to_owned())?;
        // atom() took "Mon-yyyy" up to the next special; split it.
        let (month, year) = match month {
            (month, Some(year)) => (month, year),
            (month, None) => {
                self.expect(b'-')?;
                (month, self.number()? as i32)
            }
        };
        if quoted {
            self.expect(b'"')?;
        }
        if !(1..=31).contains(&day) {
            return Err("invalid day".to_owned());
        }
        Ok(Date { year, month, day })
    }

    fn search_key(&mut self, depth: usize) -> PResult<SearchKey> {
        if depth > MAX_SEARCH_DEPTH {
            return Err("search expression nested too deeply".to_owned());
        }
        if self.eat(b'(') {
            let mut keys = vec![self.search_key(depth + 1)?];
            while self.eat(b' ') {
                keys.push(self.search_key(depth + 1)?);
            }
            self.expect(b')')?;
            return Ok(if keys.len() == 1 {
                keys.pop().unwrap_or(SearchKey::All)
            } else {
                SearchKey::And(keys)
            });
        }
        if matches!(self.peek(), Some(b'0'..=b'9') | Some(b'*')) {
            return Ok(SearchKey::SeqSet(self.seq_set()?));
        }
        let name = self.atom_upper()?;
        let s = |p: &mut Self| -> PResult<String> {
            p.sp()?;
            Ok(String::from_utf8_lossy(&p.astring()?).into_owned())
        };
        Ok(match name.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Answered,
            "DELETED" => SearchKey::Deleted,
            "DRAFT" => SearchKey::Draft,
            "FLAGGED" => SearchKey::Flagged,
            "NEW" => SearchKey::New,
            "OLD" => SearchKey::Old,
            "RECENT" => SearchKey::Recent,
            "SEEN" => SearchKey::Seen,
            "UNANSWERED" => SearchKey::Unanswered,
            "UNDELETED" => SearchKey::Undeleted,
            "UNDRAFT" => SearchKey::Undraft,
            "UNFLAGGED" => SearchKey::Unflagged,
            "UNSEEN" => SearchKey::Unseen,
            "BCC" => SearchKey::Bcc(s(self)?),
            "BODY" => SearchKey::Body(s(self)?),
            "CC" => SearchKey::Cc(s(self)?),
            "FROM" => SearchKey::From(s(self)?),
            "SUBJECT" => SearchKey::Subject(s(self)?),
            "TEXT" => SearchKey::Text(s(self)?),
            "TO" => SearchKey::To(s(self)?),
            "KEYWORD" => {
                self.sp()?;
                SearchKey::Keyword(String::from_utf8_lossy(self.atom()?).into_owned())
            }
            "UNKEYWORD" => {
                self.sp()?;
                SearchKey::Unkeyword(String::from_utf8_lossy(self.atom()?).into_owned())
            }
            "HEADER" => {
                let field = s(self)?;
                let value = s(self)?;
                SearchKey::Header(field, value)
            }
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
                self.sp()?;
                let d = self.date()?;
                match name.as_str() {
                    "BEFORE" => SearchKey::Before(d),
                    "ON" => SearchKey::On(d),
                    "SINCE" => SearchKey::Since(d),
                    "SENTBEFORE" => SearchKey::SentBefore(d),
                    "SENTON" => SearchKey::SentOn(d),
                    _ => SearchKey::SentSince(d),
                }
            }
            "LARGER" => {
                self.sp()?;
                SearchKey::Larger(self.number()?)
            }
            "SMALLER" => {
                self.sp()?;
                SearchKey::Smaller(self.number()?)
            }
            "UID" => {
                self.sp()?;
                SearchKey::Uid(self.seq_set()?)
            }
            "NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            other => return Err(format!("unknown search key {other}")),
        })
    }
}

/// What the collector needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Collected {
    /// The command is complete; take it with [`CommandCollector::take`].
    Complete,
    /// A literal of this many bytes follows; `sync` means the client waits for `+`.
    Literal { size: u64, sync: bool },
}

/// Why a command could not be collected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    #[error("command line too long")]
    LineTooLong,
    #[error("literal too large")]
    LiteralTooLarge { size: u64, sync: bool },
}

/// Assembles a command from its lines and literals, enforcing the size limits.
#[derive(Debug, Default)]
pub struct CommandCollector {
    buf: Vec<u8>,
    max_line: usize,
    max_literal: u64,
}

impl CommandCollector {
    pub fn new(max_line: usize, max_literal: u64) -> Self {
        CommandCollector {
            buf: Vec::new(),
            max_line,
            max_literal,
        }
    }

    /// Adds one line (with or without its CRLF). The non-literal text of a command counts
    /// against the line limit as a whole, so a client cannot grow it with empty literals.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Collected, CollectError> {
        let line = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        self.buf.extend_from_slice(line);
        if line.len() > self.max_line {
            self.reset();
            return Err(CollectError::LineTooLong);
        }
        match literal_marker(line) {
            Some((size, sync)) => {
                if size > self.max_literal {
                    self.reset();
                    return Err(CollectError::LiteralTooLarge { size, sync });
                }
                self.buf.extend_from_slice(b"\r\n");
                Ok(Collected::Literal { size, sync })
            }
            None => Ok(Collected::Complete),
        }
    }

    /// Adds literal bytes (after [`Collected::Literal`]).
    pub fn push_literal(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The bytes collected so far (for a peek at the tag).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Hands over the complete command and starts afresh (releasing the buffer so an idle
    /// connection holds no command memory).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn reset(&mut self) {
        self.buf = Vec::new();
    }
}

/// `{N}` or `{N+}` at the end of a line.
pub fn literal_marker(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let spec = inner.get(open + 1..)?;
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (spec, true),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((size, sync))
}

#[cfg(test)]
mod tests;
