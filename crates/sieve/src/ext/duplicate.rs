//! The `duplicate` test (RFC 7352): has a message with this unique id (its Message-ID, a
//! header's value or `:uniqueid`) been seen within `:seconds`? The interpreter only forms the
//! tracking key; the delivering side answers from its store and records the key once the
//! message is delivered.

use super::{number, split, string};
use crate::parser::Arg;

/// A `duplicate` test as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub handle: String,
    pub source: Source,
    pub seconds: Option<u64>,
    /// `:last`: the period counts from the last time the id was seen, not the first.
    pub last: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    MessageId,
    Header(String),
    UniqueId(String),
}

/// What delivery is asked about, and records when the message is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub handle: String,
    pub id: String,
    pub seconds: Option<u64>,
    pub last: bool,
}

pub(crate) fn parse(args: Vec<Arg>) -> Result<Duplicate, String> {
    let t = split(
        args,
        &["handle", "header", "uniqueid", "seconds"],
        "duplicate",
    )?;
    if !t.positional.is_empty() {
        return Err("duplicate: unexpected argument".into());
    }
    let mut d = Duplicate {
        handle: String::new(),
        source: Source::MessageId,
        seconds: None,
        last: false,
    };
    for (tag, value) in t.tags {
        match tag.as_str() {
            "handle" => d.handle = string(value, "duplicate :handle")?,
            "header" | "uniqueid" if d.source != Source::MessageId => {
                return Err("duplicate: :header and :uniqueid are exclusive".into())
            }
            "header" => d.source = Source::Header(string(value, "duplicate :header")?),
            "uniqueid" => d.source = Source::UniqueId(string(value, "duplicate :uniqueid")?),
            "seconds" => d.seconds = Some(number(value, "duplicate :seconds")?),
            "last" => d.last = true,
            other => return Err(format!("duplicate: unknown tag :{other}")),
        }
    }
    Ok(d)
}

/// The tracking key for this message, or `None` when it has no id (no such header): such a
/// message is never a duplicate.
pub(crate) fn key(d: &Duplicate, header: impl Fn(&str) -> Vec<String>) -> Option<DuplicateKey> {
    let id = match &d.source {
        Source::UniqueId(u) => u.clone(),
        Source::MessageId => header("message-id").into_iter().next()?.trim().to_string(),
        Source::Header(h) => header(h).into_iter().next()?.trim().to_string(),
    };
    if id.is_empty() {
        return None;
    }
    Some(DuplicateKey {
        handle: d.handle.clone(),
        id,
        seconds: d.seconds,
        last: d.last,
    })
}
