//! `reject` and `ereject` (RFC 5429): refusing the message with a reason. Both cancel the
//! implicit keep and exclude keeping or filing the message anywhere; the delivering side
//! decides how the refusal reaches the sender (a protocol-level refusal for `ereject`, a
//! rejection message for `reject`).

use super::string;
use crate::parser::Arg;

/// The action: the reason, and whether the script asked for a protocol-level refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub reason: String,
    pub extended: bool,
}

pub(crate) fn parse(args: Vec<Arg>, extended: bool) -> Result<Reject, String> {
    let mut it = args.into_iter();
    let reason = string(it.next(), if extended { "ereject" } else { "reject" })?;
    if it.next().is_some() {
        return Err("reject: too many arguments".into());
    }
    Ok(Reject { reason, extended })
}
