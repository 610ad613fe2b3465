//! The one response encoder: every [`Response`] to bytes, with the string forms of RFC 3501
//! (atom, quoted, literal, NIL) it is built from. Sans-IO: everything appends to a byte
//! buffer that the connection layer writes out.

use crate::date::format_internal_date;
use crate::names::NameEncoding;
use crate::response::*;
use crate::types::{Flag, Section, SectionText};

mod binary;
mod thread;

/// Appends `bytes` as a quoted string when that is possible (7-bit text without CR, LF or
/// NUL), otherwise as a literal.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    let quotable = bytes.len() < 1024
        && bytes
            .iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80);
    if quotable {
        quoted(out, bytes);
    } else {
        literal(out, bytes);
    }
}

fn quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends a literal `{n}\r\n<bytes>`.
pub fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// `NIL` or a string.
pub fn nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Appends UTF-8 text as a quoted string when that is possible (no CR, LF or NUL; RFC 9051
/// allows UTF-8 in quoted strings), otherwise as a literal.
pub fn utf8_string(out: &mut Vec<u8>, text: &str) {
    let quotable = text.len() < 1024 && !text.contains(['\0', '\r', '\n']);
    if quotable {
        quoted(out, text.as_bytes());
    } else {
        literal(out, text.as_bytes());
    }
}

/// An atom when the text is one (and not `NIL`), otherwise a string: header field names in
/// section specifiers, keywords.
fn astring(out: &mut Vec<u8>, s: &str) {
    if !s.is_empty() && !s.eq_ignore_ascii_case("NIL") && s.bytes().all(crate::parse::is_atom_char)
    {
        out.extend_from_slice(s.as_bytes());
    } else {
        string(out, s.as_bytes());
    }
}

fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// Items separated by spaces.
fn spaced<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        f(out, item);
    }
}

/// Writes numbers compactly (`1:3,7`), in the order given: UIDPLUS sets.
pub fn compact_set(out: &mut Vec<u8>, nums: &[u32]) {
    let mut i = 0;
    let mut first = true;
    while let Some(&start) = nums.get(i) {
        let mut end = start;
        while end < u32::MAX && nums.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_num(out, start);
        if start != end {
            out.push(b':');
            push_num(out, end);
        }
        i += 1;
    }
}

/// A flag as it is written.
pub fn flag(out: &mut Vec<u8>, f: &Flag) {
    let name: &[u8] = match f {
        Flag::Answered => b"\\Answered",
        Flag::Flagged => b"\\Flagged",
        Flag::Deleted => b"\\Deleted",
        Flag::Seen => b"\\Seen",
        Flag::Draft => b"\\Draft",
        Flag::Recent => b"\\Recent",
        Flag::Keyword(k) => k.as_bytes(),
        Flag::Extension(name) => {
            out.push(b'\\');
            out.extend_from_slice(name.as_bytes());
            return;
        }
    };
    out.extend_from_slice(name);
}

fn flag_list(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    spaced(out, flags, flag);
    out.push(b')');
}

fn atom_list(out: &mut Vec<u8>, items: &[String]) {
    spaced(out, items, |o, s| o.extend_from_slice(s.as_bytes()));
}

impl Response {
    /// The response with its CRLF, mailbox names in modified UTF-7.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with(out, NameEncoding::ModifiedUtf7);
    }

    /// The response with its CRLF, mailbox names as `names` says.
    pub fn encode_with(&self, out: &mut Vec<u8>, names: NameEncoding) {
        match self {
            Response::Status(s) => s.encode(out),
            Response::Data(d) => {
                out.extend_from_slice(b"* ");
                d.encode(out, names);
            }
            Response::Continue(text) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(text.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The response as bytes, for tests and small replies.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl Status {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag.as_deref().unwrap_or("*").as_bytes());
        out.extend_from_slice(match self.kind {
            Kind::Ok => b" OK",
            Kind::No => b" NO",
            Kind::Bad => b" BAD",
            Kind::PreAuth => b" PREAUTH",
            Kind::Bye => b" BYE",
        });
        if let Some(code) = &self.code {
            out.extend_from_slice(b" [");
            code.encode(out);
            out.push(b']');
        }
        out.push(b' ');
        // Text is a line of its own: a CR or LF in it would start a new response.
        out.extend(
            self.text
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    }
}

impl Code {
    fn encode(&self, out: &mut Vec<u8>) {
        let simple: &[u8] = match self {
            Code::Alert => b"ALERT",
            Code::Parse => b"PARSE",
            Code::ReadOnly => b"READ-ONLY",
            Code::ReadWrite => b"READ-WRITE",
            Code::TryCreate => b"TRYCREATE",
            Code::Closed => b"CLOSED",
            Code::AlreadyExists => b"ALREADYEXISTS",
            Code::AuthenticationFailed => b"AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => b"AUTHORIZATIONFAILED",
            Code::Cannot => b"CANNOT",
            Code::UseAttr => b"USEATTR",
            Code::InUse => b"INUSE",
            Code::Limit => b"LIMIT",
            Code::Nonexistent => b"NONEXISTENT",
            Code::NoPerm => b"NOPERM",
            Code::MetadataTooMany => b"METADATA TOOMANY",
            Code::MetadataLongEntries(n) | Code::MetadataMaxSize(n) => {
                out.extend_from_slice(match self {
                    Code::MetadataLongEntries(_) => b"METADATA LONGENTRIES ",
                    _ => b"METADATA MAXSIZE ",
                });
                push_num(out, n);
                return;
            }
            Code::OverQuota => b"OVERQUOTA",
            Code::PrivacyRequired => b"PRIVACYREQUIRED",
            Code::ServerBug => b"SERVERBUG",
            Code::TooBig => b"TOOBIG",
            Code::Unavailable => b"UNAVAILABLE",
            Code::CompressionActive => b"COMPRESSIONACTIVE",
            Code::NoModSeq => b"NOMODSEQ",
            Code::HighestModSeq(n) => {
                out.extend_from_slice(b"HIGHESTMODSEQ ");
                push_num(out, n);
                return;
            }
            Code::Modified(set) => {
                out.extend_from_slice(b"MODIFIED ");
                compact_set(out, set);
                return;
            }
            Code::UnknownCte => b"UNKNOWN-CTE",
            Code::BadUrl(url) => {
                out.extend_from_slice(b"BADURL ");
                // url-resp-text: anything but `]` and line breaks.
                out.extend(
                    url.bytes()
                        .filter(|&b| !matches!(b, b']' | b'\r' | b'\n' | 0)),
                );
                return;
            }
            Code::BadCharset(sets) => {
                out.extend_from_slice(b"BADCHARSET");
                if !sets.is_empty() {
                    out.extend_from_slice(b" (");
                    spaced(out, sets, |o, s| astring(o, s));
                    out.push(b')');
                }
                return;
            }
            Code::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                atom_list(out, caps);
                return;
            }
            Code::PermanentFlags(flags) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                flag_list(out, flags);
                return;
            }
            Code::UidNext(n) | Code::UidValidity(n) | Code::Unseen(n) => {
                out.extend_from_slice(match self {
                    Code::UidNext(_) => b"UIDNEXT ",
                    Code::UidValidity(_) => b"UIDVALIDITY ",
                    _ => b"UNSEEN ",
                });
                push_num(out, n);
                return;
            }
            Code::NoUpdate(tag) => {
                out.extend_from_slice(b"NOUPDATE ");
                string(out, tag.as_bytes());
                return;
            }
            Code::AppendUid { uidvalidity, uids } => {
                out.extend_from_slice(format!("APPENDUID {uidvalidity} ").as_bytes());
                compact_set(out, uids);
                return;
            }
            Code::CopyUid {
                uidvalidity,
                source,
                dest,
            } => {
                out.extend_from_slice(format!("COPYUID {uidvalidity} ").as_bytes());
                compact_set(out, source);
                out.push(b' ');
                compact_set(out, dest);
                return;
            }
        };
        out.extend_from_slice(simple);
    }
}

impl Data {
    fn encode(&self, out: &mut Vec<u8>, names: NameEncoding) {
        match self {
            Data::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                atom_list(out, caps);
            }
            Data::Flags(flags) => {
                out.extend_from_slice(b"FLAGS ");
                flag_list(out, flags);
            }
            Data::Exists(n) => out.extend_from_slice(format!("{n} EXISTS").as_bytes()),
            Data::Recent(n) => out.extend_from_slice(format!("{n} RECENT").as_bytes()),
            Data::Expunge(n) => out.extend_from_slice(format!("{n} EXPUNGE").as_bytes()),
            Data::List(item) => {
                out.extend_from_slice(b"LIST ");
                item.encode(out, names);
            }
            Data::Lsub(item) => {
                out.extend_from_slice(b"LSUB ");
                item.encode(out, names);
            }
            Data::Status {
                mailbox: name,
                items,
            } => {
                out.extend_from_slice(b"STATUS ");
                names.encode(out, name);
                out.extend_from_slice(b" (");
                spaced(out, items, |o, (att, n)| {
                    o.extend_from_slice(att.name().as_bytes());
                    o.push(b' ');
                    push_num(o, n);
                });
                out.push(b')');
            }
            Data::Search(hits) => {
                out.extend_from_slice(b"SEARCH");
                for h in hits {
                    out.push(b' ');
                    push_num(out, h);
                }
            }
            Data::Esearch(e) => e.encode(out),
            Data::SearchModSeq { hits, modseq } => {
                out.extend_from_slice(b"SEARCH");
                for h in hits {
                    out.push(b' ');
                    push_num(out, h);
                }
                out.extend_from_slice(b" (MODSEQ ");
                push_num(out, modseq);
                out.push(b')');
            }
            Data::Vanished { earlier, uids } => {
                out.extend_from_slice(if *earlier {
                    b"VANISHED (EARLIER) "
                } else {
                    b"VANISHED "
                });
                compact_set(out, uids);
            }
            Data::Sort(hits) => {
                out.extend_from_slice(b"SORT");
                for h in hits {
                    out.push(b' ');
                    push_num(out, h);
                }
            }
            Data::Thread(threads) => {
                out.extend_from_slice(b"THREAD");
                if !threads.is_empty() {
                    out.push(b' ');
                }
                for t in threads {
                    thread::thread(out, t);
                }
            }
            Data::Fetch { seq, items } => {
                push_num(out, seq);
                out.extend_from_slice(b" FETCH (");
                spaced(out, items, |o, item| item.encode(o));
                out.push(b')');
            }
            Data::Namespace { prefix, delimiter } => {
                out.extend_from_slice(b"NAMESPACE ((");
                string(out, prefix.as_bytes());
                out.push(b' ');
                quoted_char(out, *delimiter);
                out.extend_from_slice(b")) NIL NIL");
            }
            Data::Metadata {
                mailbox: name,
                entries,
            } => {
                out.extend_from_slice(b"METADATA ");
                names.encode(out, name);
                out.extend_from_slice(b" (");
                spaced(out, entries, |o, (entry, value)| {
                    astring(o, entry);
                    o.push(b' ');
                    nstring(o, value.as_deref());
                });
                out.push(b')');
            }
            Data::Quota { root, resources } => {
                out.extend_from_slice(b"QUOTA ");
                string(out, root.as_bytes());
                out.extend_from_slice(b" (");
                spaced(out, resources, |o, (name, usage, limit)| {
                    o.extend_from_slice(format!("{name} {usage} {limit}").as_bytes());
                });
                out.push(b')');
            }
            Data::QuotaRoot {
                mailbox: name,
                roots,
            } => {
                out.extend_from_slice(b"QUOTAROOT ");
                names.encode(out, name);
                for r in roots {
                    out.push(b' ');
                    string(out, r.as_bytes());
                }
            }
            Data::Enabled(caps) => {
                out.extend_from_slice(b"ENABLED");
                for c in caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Data::Id(fields) => {
                // The same form as body parameters: NIL or a list of string pairs.
                out.extend_from_slice(b"ID ");
                params(out, fields);
            }
        }
    }
}

fn quoted_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    string(out, c.encode_utf8(&mut buf).as_bytes());
}

impl ListItem {
    fn encode(&self, out: &mut Vec<u8>, names: NameEncoding) {
        out.push(b'(');
        atom_list(out, &self.attrs);
        out.extend_from_slice(b") ");
        match self.delimiter {
            Some(d) => quoted_char(out, d),
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        names.encode(out, &self.mailbox);
        if !self.childinfo.is_empty() {
            out.extend_from_slice(b" (\"CHILDINFO\" (");
            spaced(out, &self.childinfo, |o, c| string(o, c.as_bytes()));
            out.extend_from_slice(b"))");
        }
    }
}

/// `[1.2.HEADER.FIELDS (FROM TO)]`.
pub fn section(out: &mut Vec<u8>, section: &Section) {
    out.push(b'[');
    let mut first = true;
    for p in &section.parts {
        if !first {
            out.push(b'.');
        }
        first = false;
        push_num(out, p);
    }
    if let Some(t) = &section.text {
        if !first {
            out.push(b'.');
        }
        match t {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields { not, fields } => {
                out.extend_from_slice(if *not {
                    b"HEADER.FIELDS.NOT ("
                } else {
                    b"HEADER.FIELDS ("
                });
                spaced(out, fields, |o, f| astring(o, &f.to_ascii_uppercase()));
                out.push(b')');
            }
        }
    }
    out.push(b']');
}

impl FetchItem {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            FetchItem::Uid(uid) => out.extend_from_slice(format!("UID {uid}").as_bytes()),
            FetchItem::Flags(flags) => {
                out.extend_from_slice(b"FLAGS ");
                flag_list(out, flags);
            }
            FetchItem::InternalDate(ts) => {
                out.extend_from_slice(b"INTERNALDATE \"");
                out.extend_from_slice(format_internal_date(*ts).as_bytes());
                out.push(b'"');
            }
            FetchItem::SaveDate(Some(ts)) => {
                out.extend_from_slice(b"SAVEDATE \"");
                out.extend_from_slice(format_internal_date(*ts).as_bytes());
                out.push(b'"');
            }
            FetchItem::SaveDate(None) => out.extend_from_slice(b"SAVEDATE NIL"),
            FetchItem::Rfc822Size(n) => {
                out.extend_from_slice(format!("RFC822.SIZE {n}").as_bytes())
            }
            FetchItem::Envelope(e) => {
                out.extend_from_slice(b"ENVELOPE ");
                out.extend_from_slice(&e.0);
            }
            FetchItem::Body(b) => {
                out.extend_from_slice(b"BODY ");
                out.extend_from_slice(&b.0);
            }
            FetchItem::BodyStructure(b) => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                out.extend_from_slice(&b.0);
            }
            FetchItem::ModSeq(n) => {
                out.extend_from_slice(b"MODSEQ (");
                push_num(out, n);
                out.push(b')');
            }
            FetchItem::Preview(text) => {
                out.extend_from_slice(b"PREVIEW ");
                nstring(out, text.as_deref().map(str::as_bytes));
            }
            FetchItem::Rfc822(d) => {
                out.extend_from_slice(b"RFC822 ");
                literal(out, d);
            }
            FetchItem::Rfc822Header(d) => {
                out.extend_from_slice(b"RFC822.HEADER ");
                literal(out, d);
            }
            FetchItem::Rfc822Text(d) => {
                out.extend_from_slice(b"RFC822.TEXT ");
                literal(out, d);
            }
            FetchItem::BodySection {
                section: s,
                origin,
                data,
            } => {
                out.extend_from_slice(b"BODY");
                section(out, s);
                if let Some(o) = origin {
                    out.extend_from_slice(format!("<{o}>").as_bytes());
                }
                out.push(b' ');
                match data {
                    Some(d) => literal(out, d),
                    None => out.extend_from_slice(b"\"\""),
                }
            }
            FetchItem::Binary {
                parts,
                origin,
                data,
            } => binary::item(out, parts, *origin, data.as_deref()),
            FetchItem::BinarySize { parts, size } => binary::size(out, parts, *size),
        }
    }
}

fn address_list(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

impl Envelope {
    /// The parenthesised ENVELOPE (RFC 3501 §7.4.2).
    pub fn encode(&self) -> Encoded {
        let mut out = vec![b'('];
        nstring(&mut out, self.date.as_deref());
        out.push(b' ');
        nstring(&mut out, self.subject.as_deref());
        for list in [
            &self.from,
            &self.sender,
            &self.reply_to,
            &self.to,
            &self.cc,
            &self.bcc,
        ] {
            out.push(b' ');
            address_list(&mut out, list);
        }
        out.push(b' ');
        nstring(&mut out, self.in_reply_to.as_deref());
        out.push(b' ');
        nstring(&mut out, self.message_id.as_deref());
        out.push(b')');
        Encoded(out)
    }
}

fn params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    spaced(out, params, |o, (k, v)| {
        string(o, k.as_bytes());
        o.push(b' ');
        string(o, v.as_bytes());
    });
    out.push(b')');
}

impl Extension {
    /// Disposition, language, location (after MD5 or the multipart parameters).
    fn encode_tail(&self, out: &mut Vec<u8>) {
        out.push(b' ');
        match &self.disposition {
            Some((kind, p)) => {
                out.push(b'(');
                string(out, kind.as_bytes());
                out.push(b' ');
                params(out, p);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        match self.language.as_slice() {
            [] => out.extend_from_slice(b"NIL"),
            [one] => string(out, one.as_bytes()),
            many => {
                out.push(b'(');
                spaced(out, many, |o, l| string(o, l.as_bytes()));
                out.push(b')');
            }
        }
        out.push(b' ');
        nstring(out, self.location.as_deref());
    }
}

impl BodyStructure {
    /// The parenthesised BODY or BODYSTRUCTURE (RFC 3501 §7.4.2); which one depends on
    /// whether the parts carry extension data.
    pub fn encode(&self) -> Encoded {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        Encoded(out)
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        match self {
            BodyStructure::Multi {
                parts,
                subtype,
                ext,
            } => {
                for p in parts {
                    p.encode_into(out);
                }
                out.push(b' ');
                string(out, subtype.as_bytes());
                if let Some((p, e)) = ext {
                    out.push(b' ');
                    params(out, p);
                    e.encode_tail(out);
                }
            }
            BodyStructure::Single {
                media_type,
                subtype,
                params: p,
                id,
                description,
                encoding,
                size,
                kind,
                ext,
            } => {
                string(out, media_type.as_bytes());
                out.push(b' ');
                string(out, subtype.as_bytes());
                out.push(b' ');
                params(out, p);
                out.push(b' ');
                nstring(out, id.as_deref());
                out.push(b' ');
                nstring(out, description.as_deref());
                out.push(b' ');
                string(out, encoding.as_bytes());
                out.push(b' ');
                push_num(out, size);
                match kind {
                    SingleKind::Basic => {}
                    SingleKind::Text { lines } => {
                        out.push(b' ');
                        push_num(out, lines);
                    }
                    SingleKind::Message {
                        envelope,
                        body,
                        lines,
                    } => {
                        out.push(b' ');
                        out.extend_from_slice(&envelope.encode().0);
                        out.push(b' ');
                        body.encode_into(out);
                        out.push(b' ');
                        push_num(out, lines);
                    }
                }
                if let Some(e) = ext {
                    out.push(b' ');
                    nstring(out, e.md5.as_deref());
                    e.encode_tail(out);
                }
            }
        }
        out.push(b')');
    }
}

mod esearch;
#[cfg(test)]
mod tests;
