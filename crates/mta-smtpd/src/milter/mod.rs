//! The milters of one SMTP connection, asked in their configured order as Postfix's
//! `smtpd_milters` are: the first that refuses a command (or discards the message) decides
//! and the later ones are not asked. A milter that cannot be reached, times out or breaks the
//! protocol drops out with its `default_action`, which then answers for it until the
//! connection ends.
//!
//! [`link`] is one milter connection, [`macros`] the macro values, [`content`] the end of a
//! message (header fields, body, end of message, and what the milters asked to change) and
//! [`apply`] makes those changes to the envelope and the spooled message.

pub mod apply;
pub mod content;
pub mod link;
pub mod macros;

use std::sync::Arc;

use ferrymail_config::{Milter, MilterDefault, Role};
use ferrymail_milter::client::{default_reject, default_shutdown, default_tempfail};
use ferrymail_milter::{Command, Event, Step, Verdict};

use link::{Link, LinkError};
use macros::Facts;

/// Above this much buffered for events without a reply, write it out.
const WRITE_AT: usize = 64 * 1024;

enum Slot {
    Up(Box<Link>),
    /// Dropped out; answers every event with its default action's verdict, and sends the
    /// connection's messages to `hold/` when that action is `quarantine`.
    Down {
        name: Arc<str>,
        verdict: Verdict,
        quarantine: bool,
    },
}

pub struct Chain {
    slots: Vec<Slot>,
    /// A milter discarded the transaction during the envelope: it is dropped at its end.
    discard: bool,
    /// MAIL reached the milters and the transaction has not ended for them.
    in_transaction: bool,
    /// DATA reached the milters in this transaction (BDAT sends it at end of message).
    data_sent: bool,
}

impl Chain {
    /// Connects to every milter of `role` (none: `None`).
    pub async fn open(milters: &[Arc<Milter>], role: Role) -> Option<Chain> {
        let mut slots = Vec::new();
        for m in milters.iter().filter(|m| m.roles.contains(&role)) {
            let slot = match Link::open(m.clone()).await {
                Ok(link) => Slot::Up(Box::new(link)),
                Err(e) => down(m, &e),
            };
            slots.push(slot);
        }
        if slots.is_empty() {
            return None;
        }
        Some(Chain {
            slots,
            discard: false,
            in_transaction: false,
            data_sent: false,
        })
    }

    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Asks the milters about an SMTP event; `Continue` unless one refuses it.
    pub async fn event(&mut self, event: Event, command: &Command<'_>, facts: &Facts) -> Verdict {
        match event {
            Event::Mail => {
                self.in_transaction = true;
                self.discard = false;
                self.data_sent = false;
            }
            Event::Data => self.data_sent = true,
            _ => {}
        }
        for slot in &mut self.slots {
            let verdict = ask(slot, event, command, facts).await;
            match verdict {
                Verdict::Continue => {}
                Verdict::Discard => {
                    self.discard = true;
                    return Verdict::Continue;
                }
                Verdict::Refuse(r) => {
                    tracing::info!(milter = %slot_name(slot), stage = ?event, reply = %r, "milter refused");
                    return Verdict::Refuse(r);
                }
            }
        }
        Verdict::Continue
    }

    /// The transaction ended before its end of message (RSET, a refusal, a new HELO).
    pub async fn abort(&mut self) {
        self.in_transaction = false;
        self.discard = false;
        self.data_sent = false;
        for slot in &mut self.slots {
            if let Slot::Up(link) = slot {
                if link.client.abort() {
                    Command::Abort.encode(&mut link.out);
                    let timeout = link.cfg.command_timeout;
                    if let Err(e) = link.flush(timeout).await {
                        slot.fail(&e);
                    }
                }
            }
        }
    }

    /// The SMTP connection ends.
    pub async fn quit(self) {
        for slot in self.slots {
            if let Slot::Up(mut link) = slot {
                if link.client.is_active() {
                    Command::Quit.encode(&mut link.out);
                }
                link.close().await;
            }
        }
    }
}

impl Slot {
    /// The milter drops out; returns the verdict its default action gives from now on.
    fn fail(&mut self, e: &LinkError) -> Verdict {
        if let Slot::Up(link) = self {
            let dropped = down(&link.cfg, e);
            *self = dropped;
        }
        match self {
            Slot::Down { verdict, .. } => verdict.clone(),
            Slot::Up(_) => Verdict::Continue,
        }
    }
}

fn slot_name(slot: &Slot) -> Arc<str> {
    match slot {
        Slot::Up(l) => l.cfg.name.as_str().into(),
        Slot::Down { name, .. } => name.clone(),
    }
}

/// A milter drops out: logged, and its default action answers for it from now on.
fn down(m: &Milter, e: &LinkError) -> Slot {
    let verdict = match m.default_action {
        MilterDefault::Tempfail => Verdict::Refuse(default_tempfail()),
        MilterDefault::Reject => Verdict::Refuse(default_reject()),
        MilterDefault::Shutdown => Verdict::Refuse(default_shutdown()),
        MilterDefault::Accept | MilterDefault::Quarantine => Verdict::Continue,
    };
    tracing::warn!(milter = %m.name, error = %e, default_action = ?m.default_action, "milter failed");
    Slot::Down {
        name: m.name.as_str().into(),
        verdict,
        quarantine: m.default_action == MilterDefault::Quarantine,
    }
}

fn timeout_of(m: &Milter, event: Event) -> std::time::Duration {
    match event {
        Event::Connect | Event::Helo | Event::Mail | Event::Rcpt | Event::Data => m.command_timeout,
        Event::Header | Event::Eoh | Event::Body | Event::Eom => m.content_timeout,
    }
}

/// One milter's verdict on one event (not end of message: no modifications there).
async fn ask(slot: &mut Slot, event: Event, command: &Command<'_>, facts: &Facts) -> Verdict {
    let link = match slot {
        Slot::Down { verdict, .. } => return verdict.clone(),
        Slot::Up(link) => link,
    };
    match exchange(link, event, command, facts).await {
        Ok(v) => v,
        Err(e) => slot.fail(&e),
    }
}

/// Sends the event and reads the reply, if one is due.
async fn exchange(
    link: &mut Link,
    event: Event,
    command: &Command<'_>,
    facts: &Facts,
) -> Result<Verdict, LinkError> {
    if let Some(v) = link.client.standing(event) {
        return Ok(v);
    }
    let reply_due = link
        .client
        .send(event, command, &|n| facts.value(n), &mut link.out);
    let timeout = timeout_of(&link.cfg, event);
    if !reply_due {
        if link.out.len() >= WRITE_AT
            || matches!(
                event,
                Event::Connect | Event::Helo | Event::Mail | Event::Rcpt | Event::Data
            )
        {
            link.flush(timeout).await?;
        }
        return Ok(Verdict::Continue);
    }
    loop {
        let r = link.reply(timeout).await?;
        match link.client.on_response(event, r)? {
            Step::More => {}
            Step::Body(_) => return Err(ferrymail_milter::ProtocolError::Unexpected('b').into()),
            Step::Done(v) => return Ok(v),
        }
    }
}
