//! Rendering FETCH responses for one message (sans-IO: bytes in, bytes out), and the
//! per-message facts worth caching (size, INTERNALDATE, ENVELOPE, BODY, BODYSTRUCTURE).

use std::sync::Arc;

use ferrymail_maildir::Flags;

use crate::mailbox::Cached;
use crate::mime;
use ferrymail_imap_proto::{FetchAtt, Section, SectionText};

/// Computes the cacheable facts from a message's raw bytes and file time.
pub fn compute_cached(raw: Vec<u8>, mtime: i64) -> (Arc<Cached>, Vec<u8>) {
    let msg = mime::to_crlf(raw);
    let root = mime::parse(&msg);
    let mut envelope = Vec::new();
    mime::envelope(
        &mut envelope,
        msg.get(root.header.clone()).unwrap_or_default(),
    );
    let mut body = Vec::new();
    mime::body_structure(&mut body, &msg, &root, false);
    let mut bs = Vec::new();
    mime::body_structure(&mut bs, &msg, &root, true);
    let hdr = msg.get(root.header.clone()).unwrap_or_default();
    let (search_headers, sent_day) = crate::search::header_facts(hdr);
    (
        Arc::new(Cached {
            size: msg.len() as u64,
            internal_date: mtime,
            envelope: envelope.into(),
            body: body.into(),
            bodystructure: bs.into(),
            search_headers,
            sent_day,
        }),
        msg,
    )
}

/// The IMAP flag list for maildir flags, with keyword names from the mailbox.
pub fn flag_list(out: &mut Vec<u8>, flags: Flags, keywords: &[String], recent: bool) {
    out.push(b'(');
    let mut first = true;
    let mut put = |out: &mut Vec<u8>, s: &str| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(s.as_bytes());
    };
    for (f, name) in [
        (Flags::REPLIED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::TRASHED, "\\Deleted"),
        (Flags::SEEN, "\\Seen"),
        (Flags::DRAFT, "\\Draft"),
    ] {
        if flags.contains(f) {
            put(out, name);
        }
    }
    for k in flags.keywords() {
        if let Some(name) = keywords.get(usize::from(k)).filter(|n| !n.is_empty()) {
            put(out, name);
        }
    }
    if recent {
        put(out, "\\Recent");
    }
    out.push(b')');
}

/// Does rendering these items need the message file (not just the cache)?
pub fn needs_content(atts: &[FetchAtt]) -> bool {
    atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Rfc822
                | FetchAtt::Rfc822Header
                | FetchAtt::Rfc822Text
                | FetchAtt::BodySection { .. }
        )
    })
}

/// Does it need the cache (which may need the file once)?
pub fn needs_cache(atts: &[FetchAtt]) -> bool {
    atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Envelope
                | FetchAtt::Body
                | FetchAtt::BodyStructure
                | FetchAtt::InternalDate
                | FetchAtt::Rfc822Size
        )
    })
}

/// Does FETCH set \Seen (a non-PEEK body item)?
pub fn sets_seen(atts: &[FetchAtt]) -> bool {
    atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Rfc822 | FetchAtt::Rfc822Text | FetchAtt::BodySection { peek: false, .. }
        )
    })
}

/// Everything about one message that rendering may use.
pub struct MessageView<'a> {
    pub seq: u32,
    pub uid: u32,
    pub flags: Flags,
    pub recent: bool,
    pub keywords: &'a [String],
    pub cached: Option<&'a Cached>,
    /// The message in CRLF form, when an item needs it.
    pub content: Option<&'a [u8]>,
}

fn section_name(out: &mut Vec<u8>, section: &Section) {
    out.push(b'[');
    let mut first = true;
    for p in &section.parts {
        if !first {
            out.push(b'.');
        }
        first = false;
        out.extend_from_slice(p.to_string().as_bytes());
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
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    let f = f.to_ascii_uppercase();
                    if !f.is_empty() && f.bytes().all(ferrymail_imap_proto::is_atom_char) {
                        out.extend_from_slice(f.as_bytes());
                    } else {
                        ferrymail_imap_proto::encode::string(out, f.as_bytes());
                    }
                }
                out.push(b')');
            }
        }
    }
    out.push(b']');
}

/// Renders `* seq FETCH (...)` for one message. `with_uid` adds UID (UID FETCH).
pub fn render(out: &mut Vec<u8>, m: &MessageView<'_>, atts: &[FetchAtt], with_uid: bool) {
    out.extend_from_slice(format!("* {} FETCH (", m.seq).as_bytes());
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    if with_uid && !atts.contains(&FetchAtt::Uid) {
        sep(out);
        out.extend_from_slice(format!("UID {}", m.uid).as_bytes());
    }
    let content = m.content.unwrap_or_default();
    // The part tree is only needed to cut sections; BODY[] and RFC822 are the whole file.
    let needs_tree = atts.iter().any(|a| match a {
        FetchAtt::Rfc822Header | FetchAtt::Rfc822Text => true,
        FetchAtt::BodySection { section, .. } => {
            !section.parts.is_empty() || section.text.is_some()
        }
        _ => false,
    });
    let root = if needs_tree {
        m.content.map(mime::parse)
    } else {
        None
    };
    for att in atts {
        sep(out);
        match att {
            FetchAtt::Uid => out.extend_from_slice(format!("UID {}", m.uid).as_bytes()),
            FetchAtt::Flags => {
                out.extend_from_slice(b"FLAGS ");
                flag_list(out, m.flags, m.keywords, m.recent);
            }
            FetchAtt::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE \"");
                let ts = m.cached.map_or(0, |c| c.internal_date);
                out.extend_from_slice(
                    ferrymail_imap_proto::date::format_internal_date(ts).as_bytes(),
                );
                out.push(b'"');
            }
            FetchAtt::Rfc822Size => {
                let size = m.cached.map_or(0, |c| c.size);
                out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
            }
            FetchAtt::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                match m.cached {
                    Some(c) => out.extend_from_slice(&c.envelope),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchAtt::Body => {
                out.extend_from_slice(b"BODY ");
                match m.cached {
                    Some(c) => out.extend_from_slice(&c.body),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchAtt::BodyStructure => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                match m.cached {
                    Some(c) => out.extend_from_slice(&c.bodystructure),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchAtt::Rfc822 => {
                out.extend_from_slice(b"RFC822 ");
                ferrymail_imap_proto::encode::literal(out, content);
            }
            FetchAtt::Rfc822Header | FetchAtt::Rfc822Text => {
                let text = *att == FetchAtt::Rfc822Text;
                out.extend_from_slice(if text {
                    b"RFC822.TEXT "
                } else {
                    b"RFC822.HEADER "
                });
                let bytes = root.as_ref().and_then(|r| {
                    content.get(if text {
                        r.body.clone()
                    } else {
                        r.header.clone()
                    })
                });
                ferrymail_imap_proto::encode::literal(out, bytes.unwrap_or_default());
            }
            FetchAtt::BodySection {
                section, partial, ..
            } => {
                out.extend_from_slice(b"BODY");
                section_name(out, section);
                let bytes = if section.parts.is_empty() && section.text.is_none() {
                    m.content.map(<[u8]>::to_vec)
                } else {
                    root.as_ref()
                        .and_then(|r| mime::section_bytes(content, r, section))
                };
                match partial {
                    Some((origin, len)) => {
                        out.extend_from_slice(format!("<{origin}> ").as_bytes());
                        let b = bytes.unwrap_or_default();
                        let start = (*origin as usize).min(b.len());
                        let end = start.saturating_add(*len as usize).min(b.len());
                        ferrymail_imap_proto::encode::literal(
                            out,
                            b.get(start..end).unwrap_or_default(),
                        );
                    }
                    None => {
                        out.push(b' ');
                        match bytes {
                            Some(b) => ferrymail_imap_proto::encode::literal(out, &b),
                            // A part that does not exist is empty, as Dovecot answers.
                            None => out.extend_from_slice(b"\"\""),
                        }
                    }
                }
            }
        }
    }
    out.extend_from_slice(b")\r\n");
}
