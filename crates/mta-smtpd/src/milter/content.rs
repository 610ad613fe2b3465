//! The end of a message: every milter still taking part reads the stored message from the
//! spool file (never from memory): header fields (our own Received header hidden, as Postfix
//! hides it), end of header, the body in chunks of at most 65535 octets, then end of message,
//! whose replies carry the changes it wants. Each milter sees the message as received; the
//! changes of all of them are gathered and applied together afterwards.

use std::io::SeekFrom;

use ferrymail_milter::content::{Part, Splitter};
use ferrymail_milter::edit::HeaderEdit;
use ferrymail_milter::wire::BODY_CHUNK;
use ferrymail_milter::{Command, Edit, Event, Step, Verdict};
use ferrymail_smtp::Reply;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::link::{Link, LinkError};
use super::macros::Facts;
use super::{down, exchange, Chain, Slot};

/// Postfix's `header_size_limit`: a longer header field is cut.
const MAX_FIELD: usize = 100 * 1024;

/// What the milters decided about a message.
#[derive(Debug)]
pub enum Decision {
    Queue(Changes),
    Discard,
    Refuse(Reply),
}

/// The changes asked for, in milter order.
#[derive(Debug, Default)]
pub struct Changes {
    pub headers: Vec<HeaderEdit>,
    pub envelope: Vec<Edit>,
    /// The replacement body (the last milter's that sent one), in an unnamed temporary file.
    pub body: Option<std::fs::File>,
    /// `(milter, reason)` of the first milter that asked for quarantine.
    pub quarantine: Option<(String, String)>,
}

impl Changes {
    pub fn rewrites_content(&self) -> bool {
        !self.headers.is_empty() || self.body.is_some()
    }
}

impl Chain {
    /// Runs the end of message for the stored message `file`. `tmp_dir` holds replacement
    /// bodies while they arrive (as unnamed files).
    pub async fn message(
        &mut self,
        file: &std::fs::File,
        facts: &Facts,
        tmp_dir: &std::path::Path,
    ) -> Decision {
        let decision = self.message_inner(file, facts, tmp_dir).await;
        self.in_transaction = false;
        self.data_sent = false;
        self.discard = false;
        for slot in &mut self.slots {
            if let Slot::Up(link) = slot {
                link.client.message_done();
            }
        }
        decision
    }

    async fn message_inner(
        &mut self,
        file: &std::fs::File,
        facts: &Facts,
        tmp_dir: &std::path::Path,
    ) -> Decision {
        if !self.data_sent {
            // BDAT: the milters get one DATA, before the content.
            if let Verdict::Refuse(r) = self.event(Event::Data, &Command::Data, facts).await {
                return Decision::Refuse(r);
            }
        }
        if self.discard {
            return Decision::Discard;
        }
        let mut changes = Changes::default();
        for slot in &mut self.slots {
            let link = match slot {
                Slot::Down {
                    verdict: Verdict::Refuse(r),
                    ..
                } => return Decision::Refuse(r.clone()),
                Slot::Down { .. } => continue,
                Slot::Up(link) => link,
            };
            match one_milter(link, file, facts, tmp_dir, &mut changes).await {
                Ok(Verdict::Continue) => {}
                Ok(Verdict::Discard) => {
                    tracing::info!(milter = %link.cfg.name, "milter discarded the message");
                    return Decision::Discard;
                }
                Ok(Verdict::Refuse(r)) => {
                    tracing::info!(milter = %link.cfg.name, reply = %r, "milter refused the message");
                    return Decision::Refuse(r);
                }
                Err(e) => {
                    *slot = down(&link.cfg, &e);
                    if let Slot::Down {
                        verdict: Verdict::Refuse(r),
                        ..
                    } = slot
                    {
                        return Decision::Refuse(r.clone());
                    }
                }
            }
        }
        Decision::Queue(changes)
    }
}

/// Streams the message to one milter and reads its end-of-message replies.
async fn one_milter(
    link: &mut Link,
    file: &std::fs::File,
    facts: &Facts,
    tmp_dir: &std::path::Path,
    changes: &mut Changes,
) -> Result<Verdict, LinkError> {
    if let Some(v) = link.client.standing(Event::Eom) {
        return Ok(v);
    }
    let mut f = tokio::fs::File::from_std(file.try_clone()?);
    f.seek(SeekFrom::Start(0)).await?;
    let mut splitter = Splitter::new(MAX_FIELD);
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk: Vec<u8> = Vec::with_capacity(BODY_CHUNK);
    let mut hidden = true;
    let leading_space = link.client.leading_space();
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            splitter.finish(&mut parts);
        } else {
            splitter.feed(buf.get(..n).unwrap_or_default(), &mut parts);
        }
        for part in parts.drain(..) {
            let v = match part {
                // Our own Received header, always the first.
                Part::Header(_) if std::mem::take(&mut hidden) => continue,
                Part::Header(field) => {
                    let (name, value) = (field.name(), field.value());
                    let value = match value.strip_prefix(' ') {
                        Some(v) if !leading_space => v,
                        _ => value.as_str(),
                    };
                    let cmd = Command::Header { name: &name, value };
                    exchange(link, Event::Header, &cmd, facts).await?
                }
                Part::Eoh => {
                    hidden = false;
                    exchange(link, Event::Eoh, &Command::Eoh, facts).await?
                }
                Part::Body(data) => {
                    let mut v = Verdict::Continue;
                    let mut rest = data.as_slice();
                    while !rest.is_empty() && v == Verdict::Continue {
                        let take = (BODY_CHUNK - chunk.len()).min(rest.len());
                        let (head, tail) = rest.split_at(take);
                        chunk.extend_from_slice(head);
                        rest = tail;
                        if chunk.len() == BODY_CHUNK {
                            v = exchange(link, Event::Body, &Command::Body(&chunk), facts).await?;
                            chunk.clear();
                        }
                    }
                    v
                }
            };
            if v != Verdict::Continue {
                return Ok(v);
            }
            if link.client.standing(Event::Eom).is_some() {
                // Accepted the message part-way: nothing more for it.
                return Ok(Verdict::Continue);
            }
        }
        if n == 0 {
            break;
        }
    }
    if !chunk.is_empty() {
        let v = exchange(link, Event::Body, &Command::Body(&chunk), facts).await?;
        if v != Verdict::Continue || link.client.standing(Event::Eom).is_some() {
            return Ok(v);
        }
    }
    end_of_message(link, facts, tmp_dir, changes).await
}

async fn end_of_message(
    link: &mut Link,
    facts: &Facts,
    tmp_dir: &std::path::Path,
    changes: &mut Changes,
) -> Result<Verdict, LinkError> {
    link.client.send(
        Event::Eom,
        &Command::BodyEob,
        &|n| facts.value(n),
        &mut link.out,
    );
    let timeout = link.cfg.content_timeout;
    let mut body: Option<tokio::fs::File> = None;
    let verdict = loop {
        let r = link.reply(timeout).await?;
        match link.client.on_response(Event::Eom, r)? {
            Step::More => {}
            Step::Body(data) => {
                let f = match body.as_mut() {
                    Some(f) => f,
                    None => body.insert(tokio::fs::File::from_std(tempfile::tempfile_in(tmp_dir)?)),
                };
                f.write_all(&data).await?;
            }
            Step::Done(v) => break v,
        }
    };
    let edits = link.client.take_edits();
    let quarantine = link.client.take_quarantine();
    if verdict != Verdict::Continue {
        return Ok(verdict);
    }
    let leading_space = link.client.leading_space();
    for edit in edits {
        match edit {
            Edit::AddHeader { .. } | Edit::ChgHeader { .. } | Edit::InsHeader { .. } => {
                changes.headers.push(HeaderEdit {
                    edit,
                    leading_space,
                })
            }
            _ => changes.envelope.push(edit),
        }
    }
    if let Some(mut f) = body {
        f.flush().await?;
        changes.body = Some(f.into_std().await);
    }
    if let Some(reason) = quarantine {
        changes
            .quarantine
            .get_or_insert((link.cfg.name.clone(), reason));
    }
    Ok(verdict)
}
