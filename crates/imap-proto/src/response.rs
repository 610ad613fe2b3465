//! Typed server responses (RFC 3501 §7 and the extensions announced). Every byte imapd sends
//! is one of these, written by the one encoder in [`crate::encode`]; the response parser in
//! [`crate::parse_response`] reads them back for tests and clients.

use crate::types::{Flag, PartialRange, Section, StatusAtt};

/// One response line (with its literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A status response: tagged (the command's completion) or untagged (`* OK`, `* BYE`).
    Status(Status),
    /// Untagged data: `* ...`.
    Data(Data),
    /// A continuation request: `+ text`.
    Continue(String),
}

/// Which status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

/// `[tag|*] OK|NO|BAD|PREAUTH|BYE [code] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// None for an untagged status.
    pub tag: Option<String>,
    pub kind: Kind,
    pub code: Option<Code>,
    pub text: String,
}

/// Response codes (RFC 3501 §7.1, RFC 4315 UIDPLUS, RFC 5530, RFC 7888 LITERAL+'s TOOBIG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    BadCharset(Vec<String>),
    Capability(Vec<String>),
    Parse,
    PermanentFlags(Vec<Flag>),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    /// The UIDs of the messages stored, in order (several with MULTIAPPEND).
    AppendUid {
        uidvalidity: u32,
        uids: Vec<u32>,
    },
    /// Source and destination UIDs in matching order.
    CopyUid {
        uidvalidity: u32,
        source: Vec<u32>,
        dest: Vec<u32>,
    },
    Closed,
    AlreadyExists,
    AuthenticationFailed,
    AuthorizationFailed,
    Cannot,
    /// RFC 6154: a special-use attribute that cannot be given.
    UseAttr,
    InUse,
    Limit,
    Nonexistent,
    NoPerm,
    /// RFC 5464 §4.2.1, §4.3: `METADATA LONGENTRIES n`, `MAXSIZE n`, `TOOMANY`.
    MetadataLongEntries(u64),
    MetadataMaxSize(u64),
    MetadataTooMany,
    OverQuota,
    PrivacyRequired,
    ServerBug,
    TooBig,
    Unavailable,
    /// RFC 5267 §4.3.1: no UPDATE for the searching command of this tag.
    NoUpdate(String),
    /// RFC 4978: a second COMPRESS.
    CompressionActive,
    /// RFC 7162: the mailbox's HIGHESTMODSEQ, or that it keeps none; the UIDs (or sequence
    /// numbers) a conditional STORE left alone.
    HighestModSeq(u64),
    NoModSeq,
    Modified(Vec<u32>),
    /// RFC 3516: a BINARY fetch of a part whose content-transfer-encoding is not known.
    UnknownCte,
    /// RFC 4469: a CATENATE URL that names nothing this user may read.
    BadUrl(String),
}

/// Untagged data responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Capability(Vec<String>),
    /// The flags applicable in the mailbox (`* FLAGS (...)`).
    Flags(Vec<Flag>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    List(ListItem),
    Lsub(ListItem),
    Status {
        mailbox: String,
        items: Vec<(StatusAtt, u64)>,
    },
    Search(Vec<u32>),
    Esearch(Esearch),
    /// RFC 5256 SORT: the numbers in order.
    Sort(Vec<u32>),
    /// RFC 5256 THREAD: the threads in order.
    Thread(Vec<crate::sort::ThreadNode>),
    Fetch {
        seq: u32,
        items: Vec<FetchItem>,
    },
    /// One personal namespace (prefix, delimiter); no other users', no shared.
    Namespace {
        prefix: String,
        delimiter: char,
    },
    Enabled(Vec<String>),
    /// RFC 5464: entries of a mailbox (`""`: the server) and their values.
    Metadata {
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// RFC 9208: a quota root's resources as (name, usage, limit); STORAGE in units of
    /// 1024 octets, MESSAGE in messages.
    Quota {
        root: String,
        resources: Vec<(String, u64, u64)>,
    },
    /// RFC 9208: the quota roots a mailbox is under (none: no quota applies).
    QuotaRoot {
        mailbox: String,
        roots: Vec<String>,
    },
    /// RFC 2971 server identification.
    Id(Vec<(String, String)>),
    /// RFC 7162: SEARCH hits with the highest MODSEQ among them (`(MODSEQ n)`).
    SearchModSeq {
        hits: Vec<u32>,
        modseq: u64,
    },
    /// RFC 7162 QRESYNC: expunged UIDs, ascending; `earlier`: from before this session.
    Vanished {
        earlier: bool,
        uids: Vec<u32>,
    },
}

/// An RFC 4731 ESEARCH response: the result of one extended SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Esearch {
    /// The tag of the command it answers.
    pub tag: Option<String>,
    /// The numbers are UIDs (UID SEARCH).
    pub uid: bool,
    pub items: Vec<EsearchItem>,
}

/// One result item of an ESEARCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsearchItem {
    Min(u32),
    Max(u32),
    /// Ascending; written as a compact set.
    All(Vec<u32>),
    Count(u32),
    /// RFC 5267: the range of positions asked for and the numbers found there.
    Partial {
        range: PartialRange,
        hits: Vec<u32>,
    },
    /// RFC 7162: the highest MODSEQ among the hits.
    ModSeq(u64),
    /// RFC 5267 §4.3.3: (context position, numbers in the requested order) pairs to insert;
    /// position 0 for SEARCH (mailbox order).
    AddTo(Vec<(u32, Vec<u32>)>),
    /// RFC 5267 §4.3.4: (context position, numbers) pairs to remove.
    RemoveFrom(Vec<(u32, Vec<u32>)>),
}

/// A LIST or LSUB line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    /// `\Noselect`, `\HasChildren`, `\Sent`, ... as written.
    pub attrs: Vec<String>,
    /// None: the mailbox has no hierarchy (`NIL`).
    pub delimiter: Option<char>,
    /// The mailbox name in UTF-8 (encoded to modified UTF-7 on the wire).
    pub mailbox: String,
    /// RFC 5258 CHILDINFO selection criteria (`SUBSCRIBED`).
    pub childinfo: Vec<String>,
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Uid(u32),
    Flags(Vec<Flag>),
    /// Unix seconds, shown in UTC.
    InternalDate(i64),
    /// RFC 8514: Unix seconds, shown in UTC; None (NIL) where the mailbox keeps none.
    SaveDate(Option<i64>),
    Rfc822Size(u64),
    Envelope(Encoded),
    /// BODY (no extension data).
    Body(Encoded),
    BodyStructure(Encoded),
    /// RFC 8970: the start of the message's text, None when there is none to show.
    Preview(Option<String>),
    /// RFC 7162 `MODSEQ (n)`.
    ModSeq(u64),
    /// RFC822, RFC822.HEADER, RFC822.TEXT.
    Rfc822(Vec<u8>),
    Rfc822Header(Vec<u8>),
    Rfc822Text(Vec<u8>),
    /// `BODY[section]<origin>`: None data is a part that does not exist, sent as the
    /// empty string (as Dovecot does).
    BodySection {
        section: Section,
        origin: Option<u32>,
        data: Option<Vec<u8>>,
    },
    /// RFC 3516 `BINARY[part]<origin>`: sent as a literal8 when the data holds a NUL; None
    /// is a part that does not exist, sent as NIL.
    Binary {
        parts: Vec<u32>,
        origin: Option<u32>,
        data: Option<Vec<u8>>,
    },
    /// RFC 3516 `BINARY.SIZE[part]`.
    BinarySize {
        parts: Vec<u32>,
        size: u64,
    },
}

/// An ENVELOPE or BODYSTRUCTURE already encoded by this crate ([`Envelope::encode`],
/// [`BodyStructure::encode`]): what a store caches per message. Only those produce one, so
/// a cached value is always well-formed protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded(pub(crate) Vec<u8>);

impl Encoded {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Restores a value that [`Encoded::as_bytes`] gave out (read back from a cache that
    /// only stores encoder output). The bytes are not re-validated.
    pub fn from_cache(bytes: Vec<u8>) -> Encoded {
        Encoded(bytes)
    }

    /// A value the response parser read off the wire as balanced parenthesised text.
    pub(crate) fn from_protocol(bytes: Vec<u8>) -> Encoded {
        Encoded(bytes)
    }
}

/// An address in an ENVELOPE (RFC 3501 §7.4.2). A group is framed by a start
/// (`mailbox` = group name, `host` None) and an end (everything None).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE fields in their order. An empty address list is `NIL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// BODY / BODYSTRUCTURE (RFC 3501 §7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    Single {
        /// Type and subtype as the message has them.
        media_type: String,
        subtype: String,
        params: Vec<(String, String)>,
        id: Option<Vec<u8>>,
        description: Option<Vec<u8>>,
        encoding: String,
        size: u64,
        kind: SingleKind,
        /// BODYSTRUCTURE only: MD5, disposition, language, location.
        ext: Option<Extension>,
    },
    Multi {
        parts: Vec<BodyStructure>,
        subtype: String,
        /// BODYSTRUCTURE only: parameters, then disposition, language, location.
        ext: Option<(Vec<(String, String)>, Extension)>,
    },
}

impl BodyStructure {
    /// A `text/plain; charset=us-ascii` 7bit part of `size` bytes and `lines` lines, with
    /// empty extension data when `extended` (BODYSTRUCTURE).
    pub fn text_plain(size: u64, lines: u64, extended: bool) -> BodyStructure {
        BodyStructure::Single {
            media_type: "text".into(),
            subtype: "plain".into(),
            params: vec![("charset".into(), "us-ascii".into())],
            id: None,
            description: None,
            encoding: "7bit".into(),
            size,
            kind: SingleKind::Text { lines },
            ext: extended.then(Extension::default),
        }
    }
}

/// What follows the basic fields of a non-multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    Basic,
    /// text/*: the size in lines.
    Text {
        lines: u64,
    },
    /// message/rfc822: the encapsulated message's envelope and structure, and lines.
    Message {
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u64,
    },
}

/// Extension data shared by both body kinds (after MD5 for single parts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension {
    /// Single parts only.
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<Vec<u8>>,
}

impl Status {
    pub fn tagged(tag: &str, kind: Kind, code: Option<Code>, text: impl Into<String>) -> Status {
        Status {
            tag: Some(tag.to_owned()),
            kind,
            code,
            text: text.into(),
        }
    }

    pub fn untagged(kind: Kind, code: Option<Code>, text: impl Into<String>) -> Status {
        Status {
            tag: None,
            kind,
            code,
            text: text.into(),
        }
    }
}

impl Response {
    pub fn ok(tag: &str, text: impl Into<String>) -> Response {
        Response::Status(Status::tagged(tag, Kind::Ok, None, text))
    }

    pub fn no(tag: &str, code: Option<Code>, text: impl Into<String>) -> Response {
        Response::Status(Status::tagged(tag, Kind::No, code, text))
    }

    pub fn bad(tag: &str, text: impl Into<String>) -> Response {
        Response::Status(Status::tagged(tag, Kind::Bad, None, text))
    }

    pub fn bye(text: impl Into<String>) -> Response {
        Response::Status(Status::untagged(Kind::Bye, None, text))
    }

    /// The tag of a tagged status response.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Response::Status(s) => s.tag.as_deref(),
            _ => None,
        }
    }
}
