//! The IMAP URLs (RFC 5092) CATENATE names messages by: `imap://user@host/mailbox`, the
//! absolute path `/mailbox`, or, relative to the selected mailbox, just `;UID=n`; each
//! followed by `;UIDVALIDITY=n`, `/;UID=n`, `/;SECTION=s` and `/;PARTIAL=o.l` as the RFC
//! orders them. Only what names a message or a part of one; no URLAUTH, no search URLs.

use super::Parser;
use crate::types::Section;

/// A message (or part of one) that an IMAP URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUrl {
    /// The userinfo of an `imap://` URL (None: the logged-in user is meant).
    pub user: Option<String>,
    /// None: the selected mailbox (a relative URL).
    pub mailbox: Option<String>,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    pub section: Option<Section>,
    pub partial: Option<(u32, u32)>,
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n > 0)
}

/// `name=value` of a `;`-parameter, the name matched case-insensitively.
fn param<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = s.split_once('=')?;
    n.eq_ignore_ascii_case(name).then_some(v)
}

/// A BODY section as written after `;SECTION=` (`1.2`, `HEADER`, `1.MIME`, ...).
fn section(s: &str) -> Option<Section> {
    let bracketed = format!("[{s}]");
    let mut p = Parser::new(bracketed.as_bytes());
    let section = p.section().ok()?;
    p.rest().is_empty().then_some(section)
}

/// Parses an IMAP URL naming a message; None for anything else.
pub fn message_url(url: &str) -> Option<MessageUrl> {
    let mut user = None;
    let path = if let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("imap://"))
        .and_then(|_| url.get(7..))
    {
        let (authority, path) = rest.split_at(rest.find('/')?);
        if let Some((u, _host)) = authority.rsplit_once('@') {
            // `user;AUTH=mech`: the mechanism is of no concern here.
            let name = u.split(';').next().unwrap_or_default();
            user = Some(ferrymail_smtp::percent::decode(name)?);
        }
        path
    } else {
        url
    };
    let mut segments = path.split('/');
    let mut mailbox = None;
    let mut uidvalidity = None;
    let mut next = segments.next()?;
    if next.is_empty() {
        // An absolute path: `/mailbox[;UIDVALIDITY=n]/;UID=n...`.
        let mb = segments.next()?;
        let (name, validity) = match mb.split_once(';') {
            Some((name, p)) => (name, Some(number(param(p, "UIDVALIDITY")?)?)),
            None => (mb, None),
        };
        if name.is_empty() {
            return None;
        }
        mailbox = Some(ferrymail_smtp::percent::decode(name)?);
        uidvalidity = validity;
        next = segments.next()?;
    }
    let uid = number(param(next.strip_prefix(';')?, "UID")?)?;
    let mut section_ = None;
    let mut partial = None;
    for seg in segments {
        let p = seg.strip_prefix(';')?;
        if let Some(v) = param(p, "SECTION").filter(|_| section_.is_none() && partial.is_none()) {
            section_ = Some(section(&ferrymail_smtp::percent::decode(v)?)?);
        } else if let Some(v) = param(p, "PARTIAL").filter(|_| partial.is_none()) {
            let (o, l) = v.split_once('.').unwrap_or((v, ""));
            let origin = if o == "0" { 0 } else { number(o)? };
            let len = if l.is_empty() { u32::MAX } else { number(l)? };
            partial = Some((origin, len));
        } else {
            return None;
        }
    }
    Some(MessageUrl {
        user,
        mailbox,
        uidvalidity,
        uid,
        section: section_,
        partial,
    })
}

#[cfg(test)]
mod tests;
