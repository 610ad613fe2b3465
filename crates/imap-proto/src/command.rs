//! A parsed command, tag split off: what the session acts on.

use crate::sort::{SortCriterion, ThreadAlgorithm};
use crate::types::*;

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
    /// `uses`: RFC 6154 special-use attributes asked for (CREATE-SPECIAL-USE), e.g. `\\Sent`.
    Create {
        name: String,
        uses: Vec<String>,
    },
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
    /// One message, or several with MULTIAPPEND (RFC 3502), stored all or none.
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    Check,
    Close,
    Unselect,
    Expunge,
    UidExpunge(SeqSet),
    Search {
        uid: bool,
        key: SearchKey,
        /// Some: an extended SEARCH, answered with ESEARCH.
        ret: Option<SearchReturn>,
    },
    /// RFC 5256 SORT (the charset was checked by the parser).
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        key: SearchKey,
        /// Some: RFC 5267's extended SORT, answered with ESEARCH.
        ret: Option<SearchReturn>,
    },
    /// RFC 5267 §4.3.5: stop the updates of these searching commands' tags.
    CancelUpdate(Vec<String>),
    /// RFC 5256 THREAD.
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
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
    /// RFC 9208.
    GetQuota(String),
    GetQuotaRoot(String),
    /// Refused: limits are set by the administrator, not over IMAP.
    SetQuota(String),
    /// RFC 5464; the mailbox `""` is the server.
    GetMetadata(MetadataGet),
    /// Entries to set, or with None to remove.
    SetMetadata {
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// RFC 4978: the mechanism named (only `DEFLATE` is known).
    Compress(String),
    /// SELECT or EXAMINE with RFC 7162 parameters.
    SelectWith {
        mailbox: String,
        read_only: bool,
        params: SelectParams,
    },
    /// FETCH with RFC 7162's `(CHANGEDSINCE m [VANISHED])`.
    FetchChangedSince {
        uid: bool,
        set: SeqSet,
        atts: Vec<FetchAtt>,
        changed_since: u64,
        vanished: bool,
    },
    /// STORE with RFC 7162's `(UNCHANGEDSINCE m)`.
    StoreUnchangedSince(ConditionalStore),
}

/// `STORE set (UNCHANGEDSINCE m) op flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionalStore {
    pub uid: bool,
    pub set: SeqSet,
    pub op: StoreOp,
    pub silent: bool,
    pub flags: Vec<Flag>,
    pub unchanged_since: u64,
}

/// RFC 7162 SELECT/EXAMINE parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QresyncParams>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [(known-seqs known-seq-uids)]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SeqSet>,
    /// Sequence numbers and the UIDs the client believes they name.
    pub seq_match: Option<(SeqSet, SeqSet)>,
}

/// An APPEND up to its message literal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendHead {
    pub mailbox: String,
    pub flags: Vec<Flag>,
    pub date: Option<Timestamp>,
    /// The message comes as a literal8 (`~{N}`, RFC 3516): it may hold NUL, and if it
    /// does, a store that knows MIME re-encodes the parts that cannot go in a literal.
    pub binary: bool,
}

/// One message of an APPEND: its flags and date, and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<Timestamp>,
    /// A literal8 (`~{N}`); with CATENATE, any of its TEXT parts was one.
    pub binary: bool,
    pub data: AppendData,
}

/// The content of an APPEND message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendData {
    Literal(Vec<u8>),
    /// RFC 4469 CATENATE: the message is these parts, in order.
    Catenate(Vec<CatenatePart>),
}

/// One part of a CATENATE list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatenatePart {
    Text(Vec<u8>),
    /// An IMAP URL (RFC 5092) naming a message or a part of one.
    Url(String),
}
