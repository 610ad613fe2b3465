//! FETCH items of one message from its content, and the per-message facts worth caching
//! (size, INTERNALDATE, ENVELOPE, BODY, BODYSTRUCTURE).

use std::sync::Arc;

use ferrymail_imap_proto::response::{Encoded, FetchItem};
use ferrymail_imap_proto::session::{partial as partial_of, Failure};
use ferrymail_imap_proto::FetchAtt;

use crate::mailbox::{Cached, Meta, SharedMailbox};
use crate::mime;

/// Computes the cacheable facts from a message's raw bytes and file time.
pub fn compute_cached(raw: Vec<u8>, mtime: i64) -> (Arc<Cached>, Vec<u8>) {
    let msg = mime::to_crlf(raw);
    let root = mime::parse(&msg);
    let envelope = mime::envelope(msg.get(root.header.clone()).unwrap_or_default())
        .encode()
        .as_bytes()
        .to_vec();
    let body = mime::body_structure(&msg, &root, false)
        .encode()
        .as_bytes()
        .to_vec();
    let bs = mime::body_structure(&msg, &root, true)
        .encode()
        .as_bytes()
        .to_vec();
    let hdr = msg.get(root.header.clone()).unwrap_or_default();
    let (search_headers, sent_day) = crate::search::header_facts(hdr);
    let sort = crate::sort::facts(hdr, msg.len() as u64, mtime);
    (
        Arc::new(Cached {
            size: msg.len() as u64,
            internal_date: mtime,
            envelope: envelope.into(),
            body: body.into(),
            bodystructure: bs.into(),
            search_headers,
            sent_day,
            sort: Arc::new(sort),
        }),
        msg,
    )
}

/// Does rendering these items need the message file (not just the cache)?
pub fn needs_content(atts: &[FetchAtt]) -> bool {
    atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Rfc822
                | FetchAtt::Preview
                | FetchAtt::Rfc822Header
                | FetchAtt::Rfc822Text
                | FetchAtt::BodySection { .. }
                | FetchAtt::Binary { .. }
                | FetchAtt::BinarySize(_)
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
                // For a save date the UID list lacks ([`save_date`]).
                | FetchAtt::SaveDate
        )
    })
}

/// What one message offers FETCH and SEARCH: its cached facts and, when asked for, its
/// content in CRLF form.
pub struct Facts {
    pub cached: Option<Arc<Cached>>,
    pub content: Option<Vec<u8>>,
    /// RFC 8514 SAVEDATE ([`save_date`]); None without the cache.
    pub saved: Option<i64>,
}

/// RFC 8514 SAVEDATE: as the UID list records it ([`crate::uidlist`]), else (a message
/// listed by an imapd that kept none) INTERNALDATE, when it was delivered unless a client
/// chose it.
pub fn save_date(meta: &Meta, cached: Option<&Cached>) -> Option<i64> {
    if meta.saved > 0 {
        Some(meta.saved)
    } else {
        cached.map(|c| c.internal_date)
    }
}

/// Reads what is needed of a message: the cached facts (parsing the file once if they are
/// not cached yet) and/or its content. None if the message is gone.
pub fn facts(
    mb: &SharedMailbox,
    meta: &Meta,
    need_cache: bool,
    need_content: bool,
) -> Option<Facts> {
    let mut cached = if need_cache {
        mb.cached(meta.uid)
    } else {
        None
    };
    let mut content = None;
    if need_content || (need_cache && cached.is_none()) {
        let (raw, mtime) = mb.read(meta).ok()?;
        if need_cache && cached.is_none() {
            let (c, crlf) = compute_cached(raw, mtime);
            mb.put_cached(meta.uid, c.clone());
            cached = Some(c);
            content = Some(crlf);
        } else {
            content = Some(mime::to_crlf(raw));
        }
    }
    let saved = save_date(meta, cached.as_deref());
    Some(Facts {
        cached,
        content,
        saved,
    })
}

/// The FETCH items of `atts` that come from the message (UID and FLAGS are the session's),
/// in order. Fails only for a BINARY item whose part cannot be decoded.
pub fn items(m: Facts, atts: &[FetchAtt]) -> Result<Vec<FetchItem>, Failure> {
    // BODY[] alone, a whole-mailbox download's item, hands over the bytes read as they are.
    if let [FetchAtt::BodySection {
        section,
        partial: None,
        ..
    }] = atts
    {
        if section.parts.is_empty() && section.text.is_none() {
            return Ok(vec![FetchItem::BodySection {
                section: section.clone(),
                origin: None,
                data: m.content,
            }]);
        }
    }
    let content = m.content.as_deref().unwrap_or_default();
    // The part tree is only needed to cut sections; BODY[] and RFC822 are the whole file.
    let needs_tree = atts.iter().any(|a| match a {
        FetchAtt::Rfc822Header | FetchAtt::Rfc822Text => true,
        FetchAtt::BodySection { section, .. } => {
            !section.parts.is_empty() || section.text.is_some()
        }
        FetchAtt::Binary { parts, .. } | FetchAtt::BinarySize(parts) => !parts.is_empty(),
        _ => false,
    });
    let root = if needs_tree {
        m.content.as_deref().map(mime::parse)
    } else {
        None
    };
    let cached = m.cached.as_deref();
    let encoded = |f: fn(&Cached) -> &[u8]| {
        Encoded::from_cache(cached.map_or(b"NIL".to_vec(), |c| f(c).to_vec()))
    };
    let binary_of = |parts: &[u32]| match &root {
        Some(r) => crate::binary::decoded(content, r, parts),
        None => Ok(Some(content.to_vec())),
    };
    let mut out = Vec::with_capacity(atts.len());
    for att in atts {
        out.push(match att {
            FetchAtt::Uid | FetchAtt::Flags | FetchAtt::ModSeq => continue,
            FetchAtt::InternalDate => {
                FetchItem::InternalDate(cached.map_or(0, |c| c.internal_date))
            }
            FetchAtt::SaveDate => FetchItem::SaveDate(m.saved),
            FetchAtt::Rfc822Size => FetchItem::Rfc822Size(cached.map_or(0, |c| c.size)),
            FetchAtt::Envelope => FetchItem::Envelope(encoded(|c| &c.envelope)),
            FetchAtt::Body => FetchItem::Body(encoded(|c| &c.body)),
            FetchAtt::BodyStructure => FetchItem::BodyStructure(encoded(|c| &c.bodystructure)),
            FetchAtt::Preview => FetchItem::Preview(crate::preview::preview(content)),
            FetchAtt::Rfc822 => FetchItem::Rfc822(content.to_vec()),
            FetchAtt::Rfc822Header | FetchAtt::Rfc822Text => {
                let text = *att == FetchAtt::Rfc822Text;
                let bytes = root
                    .as_ref()
                    .and_then(|r| {
                        content.get(if text {
                            r.body.clone()
                        } else {
                            r.header.clone()
                        })
                    })
                    .unwrap_or_default()
                    .to_vec();
                if text {
                    FetchItem::Rfc822Text(bytes)
                } else {
                    FetchItem::Rfc822Header(bytes)
                }
            }
            FetchAtt::BodySection {
                section, partial, ..
            } => {
                let bytes = if section.parts.is_empty() && section.text.is_none() {
                    m.content.clone()
                } else {
                    root.as_ref()
                        .and_then(|r| mime::section_bytes(content, r, section))
                };
                match partial {
                    Some((origin, len)) => FetchItem::BodySection {
                        section: section.clone(),
                        origin: Some(*origin),
                        data: Some(partial_of(&bytes.unwrap_or_default(), *origin, *len).to_vec()),
                    },
                    // A part that does not exist is empty, as Dovecot answers.
                    None => FetchItem::BodySection {
                        section: section.clone(),
                        origin: None,
                        data: bytes,
                    },
                }
            }
            FetchAtt::Binary { parts, partial, .. } => {
                let data = binary_of(parts)?;
                FetchItem::Binary {
                    parts: parts.clone(),
                    origin: partial.map(|(o, _)| o),
                    data: match (data, partial) {
                        (Some(d), Some((o, l))) => Some(partial_of(&d, *o, *l).to_vec()),
                        (d, _) => d,
                    },
                }
            }
            FetchAtt::BinarySize(parts) => FetchItem::BinarySize {
                parts: parts.clone(),
                size: binary_of(parts)?.map_or(0, |d| d.len() as u64),
            },
        });
    }
    Ok(out)
}
