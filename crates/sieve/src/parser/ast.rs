//! The tree a script parses into: commands, tests and their match arguments. The
//! interpreter walks it; nothing here is parsed or run.

use crate::ext;
use crate::ext::body::Transform;
use crate::ext::date::Zone;
use crate::ext::imap4flags::FlagOp;
use crate::ext::relational::Relation;
use crate::ext::variables::Modifier;

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
