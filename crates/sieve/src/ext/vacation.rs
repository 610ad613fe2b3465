//! `vacation` (RFC 5230) and its `:seconds` (RFC 6131): the script only describes the reply;
//! whether one is sent (the sender, the headers, the response tracking) is decided by the
//! delivering side, which knows the user's addresses and keeps the tracking state.

use super::{number, split, string};
use crate::parser::Arg;

/// How long replies to one sender are suppressed, as the script asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Neither `:days` nor `:seconds`: the site default.
    Default,
    Days(u64),
    Seconds(u64),
}

/// A `vacation` command: also the action delivery gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    pub period: Period,
    pub subject: Option<String>,
    pub from: Option<String>,
    /// More addresses of the user (`:addresses`), besides the recipient.
    pub addresses: Vec<String>,
    /// The reason is a MIME entity, headers included.
    pub mime: bool,
    /// What responses are tracked under: `:handle`, else one derived from the reply's text
    /// (RFC 5230 §4.2: the same reason, subject and from are the same vacation).
    pub handle: String,
    pub reason: String,
}

/// Parses the arguments; `seconds_allowed` says whether `vacation-seconds` was required.
pub(crate) fn parse(args: Vec<Arg>, seconds_allowed: bool) -> Result<Vacation, String> {
    let t = split(
        args,
        &["days", "seconds", "subject", "from", "addresses", "handle"],
        "vacation",
    )?;
    let mut v = Vacation {
        period: Period::Default,
        subject: None,
        from: None,
        addresses: Vec::new(),
        mime: false,
        handle: String::new(),
        reason: String::new(),
    };
    let mut handle = None;
    for (tag, value) in t.tags {
        match tag.as_str() {
            "days" | "seconds" if v.period != Period::Default => {
                return Err("vacation: :days and :seconds are exclusive".into())
            }
            "days" => v.period = Period::Days(number(value, "vacation :days")?),
            "seconds" if seconds_allowed => {
                v.period = Period::Seconds(number(value, "vacation :seconds")?)
            }
            "seconds" => {
                return Err("`:seconds` used without `require \"vacation-seconds\"`".into())
            }
            "subject" => v.subject = Some(string(value, "vacation :subject")?),
            "from" => v.from = Some(string(value, "vacation :from")?),
            "addresses" => match value {
                Some(Arg::Strings(s)) => v.addresses = s,
                _ => return Err("vacation :addresses needs a string list".into()),
            },
            "handle" => handle = Some(string(value, "vacation :handle")?),
            "mime" => v.mime = true,
            other => return Err(format!("vacation: unknown tag :{other}")),
        }
    }
    let mut pos = t.positional.into_iter();
    v.reason = string(pos.next(), "vacation reason")?;
    if pos.next().is_some() {
        return Err("vacation: too many arguments".into());
    }
    v.handle = handle.unwrap_or_else(|| {
        format!(
            "{}\u{1}{}\u{1}{}\u{1}{}",
            v.reason,
            v.subject.as_deref().unwrap_or(""),
            v.from.as_deref().unwrap_or(""),
            v.mime
        )
    });
    Ok(v)
}
