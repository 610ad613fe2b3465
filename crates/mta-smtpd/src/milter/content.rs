//! The end of a message: each milter still taking part in turn reads the stored message from
//! the spool file (never from memory): header fields (our own Received header hidden, as
//! Postfix hides it), end of header, the body in chunks of at most 65535 octets, then end of
//! message, whose replies carry the changes it wants. As in Postfix's cleanup server, one
//! milter's changes are made to the spool file before the next milter reads it.

use std::io::SeekFrom;

use ferrymail_milter::content::{Part, Splitter};
use ferrymail_milter::edit::HeaderEdit;
use ferrymail_milter::wire::BODY_CHUNK;
use ferrymail_milter::{Command, Edit, Event, Step, Verdict};
use ferrymail_smtp::Reply;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::link::{Link, LinkError};
use super::macros::Facts;
use super::{exchange, Chain, Slot};

/// Postfix's `header_size_limit`: a longer header field is cut.
const MAX_FIELD: usize = 100 * 1024;

/// What the milters decided about a message.
#[derive(Debug)]
pub enum Decision {
    Queue(Changes),
    Discard,
    Refuse(Reply),
}

/// The changes one milter asked for.
#[derive(Debug, Default)]
pub struct Changes {
    pub headers: Vec<HeaderEdit>,
    pub envelope: Vec<Edit>,
    /// The replacement body, in an unnamed temporary file.
    pub body: Option<std::fs::File>,
    /// `(milter, reason)` when the milter asked for quarantine.
    pub quarantine: Option<(String, String)>,
}

impl Changes {
    /// No changes, but hold the message: the milter failed and its default action is
    /// `quarantine`.
    fn held(milter: &str) -> Changes {
        Changes {
            quarantine: Some((milter.to_string(), "milter unavailable".to_string())),
            ..Changes::default()
        }
    }

    pub fn rewrites_content(&self) -> bool {
        !self.headers.is_empty() || self.body.is_some()
    }
}

impl Chain {
    /// Before the content: BDAT transactions send their one DATA here. `Some` when the
    /// message is decided without its content (refused, or discarded during the envelope).
    pub async fn content_begin(&mut self, facts: &Facts) -> Option<Decision> {
        if !self.data_sent {
            if let Verdict::Refuse(r) = self.event(Event::Data, &Command::Data, facts).await {
                return Some(Decision::Refuse(r));
            }
        }
        self.discard.then_some(Decision::Discard)
    }

    pub fn milter_count(&self) -> usize {
        self.slots.len()
    }

    /// Shows the stored message `file` to milter `i` (`hidden`: the position of our Received
    /// header among the fields) and returns its decision with its changes. `tmp_dir` holds a
    /// replacement body while it arrives (as an unnamed file).
    pub async fn content(
        &mut self,
        i: usize,
        file: &std::fs::File,
        hidden: Option<usize>,
        facts: &Facts,
        tmp_dir: &std::path::Path,
    ) -> Decision {
        let Some(slot) = self.slots.get_mut(i) else {
            return Decision::Queue(Changes::default());
        };
        let link = match slot {
            Slot::Down {
                verdict: Verdict::Refuse(r),
                ..
            } => return Decision::Refuse(r.clone()),
            Slot::Down {
                name,
                quarantine: true,
                ..
            } => return Decision::Queue(Changes::held(name)),
            Slot::Down { .. } => return Decision::Queue(Changes::default()),
            Slot::Up(link) => link,
        };
        let mut changes = Changes::default();
        match one_milter(link, file, hidden, facts, tmp_dir, &mut changes).await {
            Ok(Verdict::Continue) => Decision::Queue(changes),
            Ok(Verdict::Discard) => {
                tracing::info!(milter = %link.cfg.name, "milter discarded the message");
                Decision::Discard
            }
            Ok(Verdict::Refuse(r)) => {
                tracing::info!(milter = %link.cfg.name, reply = %r, "milter refused the message");
                Decision::Refuse(r)
            }
            Err(e) => match (slot.fail(&e), &*slot) {
                (Verdict::Refuse(r), _) => Decision::Refuse(r),
                (
                    _,
                    Slot::Down {
                        name,
                        quarantine: true,
                        ..
                    },
                ) => Decision::Queue(Changes::held(name)),
                _ => Decision::Queue(Changes::default()),
            },
        }
    }

    /// The message is decided: the next transaction starts afresh for every milter.
    pub fn content_end(&mut self) {
        self.in_transaction = false;
        self.data_sent = false;
        self.discard = false;
        for slot in &mut self.slots {
            if let Slot::Up(link) = slot {
                link.client.message_done();
            }
        }
    }
}

/// Streams the message to one milter and reads its end-of-message replies.
async fn one_milter(
    link: &mut Link,
    file: &std::fs::File,
    hidden: Option<usize>,
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
    let mut field_no = 0usize;
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
                Part::Header(field) => {
                    field_no += 1;
                    if Some(field_no - 1) == hidden {
                        continue;
                    }
                    let (name, value) = (field.name(), field.value());
                    let value = match value.strip_prefix(' ') {
                        Some(v) if !leading_space => v,
                        _ => value.as_str(),
                    };
                    let cmd = Command::Header { name: &name, value };
                    exchange(link, Event::Header, &cmd, facts).await?
                }
                Part::Eoh => exchange(link, Event::Eoh, &Command::Eoh, facts).await?,
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
