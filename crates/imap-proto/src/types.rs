//! The values commands carry: sequence sets, flags, FETCH attributes and body sections,
//! SEARCH keys, STATUS items and LIST-EXTENDED options (RFC 3501 §9 and the extensions).

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
    /// RFC 5182's `$`: the result saved by the last `SEARCH RETURN (SAVE)`, written as the
    /// one set no client can otherwise send (a set has at least one range). The session
    /// replaces it with the saved messages before running a command; left in place it
    /// matches nothing, which is also what `$` means when nothing was saved.
    pub fn saved() -> SeqSet {
        SeqSet(Vec::new())
    }

    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

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
    /// RFC 8970 PREVIEW (`PREVIEW (LAZY)` too: the preview is always computed).
    Preview,
    /// RFC 7162 MODSEQ.
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// RFC 3516 `BINARY[part]<partial>`: the part with its content-transfer-encoding undone.
    Binary {
        peek: bool,
        parts: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// RFC 3516 `BINARY.SIZE[part]`: the size of what `BINARY[part]` returns.
    BinarySize(Vec<u32>),
    /// RFC 8514 SAVEDATE: when the message was saved into this mailbox.
    SaveDate,
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
    /// RFC 5032 WITHIN: INTERNALDATE at most this many seconds ago.
    Younger(u32),
    /// RFC 7162: messages at or above this MODSEQ (the entry name and type are ignored, as
    /// per-flag mod-sequences are not kept).
    ModSeq(u64),
    /// RFC 5032 WITHIN: INTERNALDATE more than this many seconds ago.
    Older(u32),
    /// RFC 8514: the save date's day (in UTC) before, on, or on or after this date.
    SavedBefore(Date),
    SavedOn(Date),
    SavedSince(Date),
    /// RFC 8514: every message if the mailbox keeps save dates, else none.
    SaveDateSupported,
}

/// The return options of an extended SEARCH or SORT (RFC 4731 ESEARCH, RFC 5182 SAVE,
/// RFC 5267 ESORT, PARTIAL and UPDATE). `RETURN ()` is ALL alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
    pub partial: Option<PartialRange>,
    /// RFC 5267 UPDATE: keep the result up to date with ADDTO/REMOVEFROM.
    pub update: bool,
}

/// A PARTIAL range of result positions, 1-based: counted from the first result, or with
/// RFC 9394 from the last (`-1:-100`, the last hundred). `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialRange {
    pub from_end: bool,
    pub first: u32,
    pub last: u32,
}

impl PartialRange {
    /// The part of `hits` (in the result's order) the range names.
    pub fn slice<'a, T>(&self, hits: &'a [T]) -> &'a [T] {
        let len = hits.len();
        let (first, last) = (self.first as usize, self.last as usize);
        let (from, to) = if self.from_end {
            // -1 is the last result: -last..=-first from the end.
            (
                len.saturating_sub(last),
                len.saturating_sub(first.saturating_sub(1)),
            )
        } else {
            (first.saturating_sub(1).min(len), last.min(len))
        };
        hits.get(from..to).unwrap_or_default()
    }
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
    /// Any other `\Name`: the name after the backslash (`*` in PERMANENTFLAGS: clients
    /// may create keywords).
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
    /// RFC 8438 STATUS=SIZE: the mailbox's size in octets.
    Size,
    /// RFC 7162.
    HighestModSeq,
    /// RFC 9051: how many messages have \Deleted.
    Deleted,
    /// RFC 9208: the storage an EXPUNGE would free, in units of 1024 octets.
    DeletedStorage,
}

impl StatusAtt {
    /// Whether the item needs the size of every message (which STATUS computes only then).
    pub fn needs_sizes(atts: &[StatusAtt]) -> bool {
        atts.iter()
            .any(|a| matches!(a, StatusAtt::Size | StatusAtt::DeletedStorage))
    }

    const NAMES: [(StatusAtt, &'static str); 9] = [
        (StatusAtt::Messages, "MESSAGES"),
        (StatusAtt::Recent, "RECENT"),
        (StatusAtt::UidNext, "UIDNEXT"),
        (StatusAtt::UidValidity, "UIDVALIDITY"),
        (StatusAtt::Unseen, "UNSEEN"),
        (StatusAtt::Size, "SIZE"),
        (StatusAtt::HighestModSeq, "HIGHESTMODSEQ"),
        (StatusAtt::Deleted, "DELETED"),
        (StatusAtt::DeletedStorage, "DELETED-STORAGE"),
    ];

    /// The item's name as written.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, n)| n)
    }

    /// By name, in any case.
    pub fn from_name(name: &str) -> Option<StatusAtt> {
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(a, _)| *a)
    }
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

/// How far below each named entry GETMETADATA looks (RFC 5464 §4.2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetadataDepth {
    #[default]
    Zero,
    One,
    Infinity,
}

/// A GETMETADATA request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataGet {
    pub mailbox: String,
    /// Entry names, lower case.
    pub entries: Vec<String>,
    /// Values longer than this are left out (reported with `[METADATA LONGENTRIES n]`).
    pub maxsize: Option<u64>,
    pub depth: MetadataDepth,
}
