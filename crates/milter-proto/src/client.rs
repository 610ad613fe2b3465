//! One milter connection's state, as Postfix's milter8 keeps it: which events the milter gets,
//! whether a reply is awaited, what its replies mean at each stage, and the modifications it
//! asked for at end of message (refused unless negotiated).

use ferrymail_smtp::Reply;

use crate::macros::Stage;
use crate::negotiate::Negotiated;
pub use crate::response::Edit;
use crate::response::{ProtocolError, Response};
use crate::wire::{action, proto, Command};

/// An MTA event, in protocol order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Connect,
    Helo,
    Mail,
    Rcpt,
    Data,
    Header,
    Eoh,
    Body,
    Eom,
}

impl Event {
    /// (protocol flag that leaves the event out, flag that leaves out its reply, macros)
    fn flags(self) -> (u32, u32, Option<Stage>) {
        match self {
            Event::Connect => (proto::NOCONNECT, proto::NR_CONN, Some(Stage::Connect)),
            Event::Helo => (proto::NOHELO, proto::NR_HELO, Some(Stage::Helo)),
            Event::Mail => (proto::NOMAIL, proto::NR_MAIL, Some(Stage::Mail)),
            Event::Rcpt => (proto::NORCPT, proto::NR_RCPT, Some(Stage::Rcpt)),
            Event::Data => (proto::NODATA, proto::NR_DATA, Some(Stage::Data)),
            Event::Header => (proto::NOHDRS, proto::NR_HDR, Some(Stage::Eoh)),
            Event::Eoh => (proto::NOEOH, proto::NR_EOH, Some(Stage::Eoh)),
            Event::Body => (proto::NOBODY, proto::NR_BODY, Some(Stage::Eom)),
            Event::Eom => (0, 0, Some(Stage::Eom)),
        }
    }

    fn in_connect(self) -> bool {
        matches!(self, Event::Connect | Event::Helo)
    }
}

/// The outcome of one event for this milter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// The transaction's mail is to be accepted silently and dropped.
    Discard,
    /// The command (or message) is refused with this reply.
    Refuse(Reply),
}

/// What to do after a reply packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the next packet (progress, or a modification that was recorded).
    More,
    /// A piece of the replacement body: store it, then read the next packet.
    Body(Vec<u8>),
    Done(Verdict),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Takes part in the transaction.
    Envelope,
    /// Accepted the connection (or failed with "accept"): nothing more is sent.
    AcceptedConnection,
    /// Accepted this message: nothing more until the next transaction.
    AcceptedMessage,
    /// Refused the connection or failed: every later event gets the stored verdict.
    Finished,
}

pub fn default_reject() -> Reply {
    Reply::new(550, "5.7.1", "Command rejected")
}

pub fn default_tempfail() -> Reply {
    Reply::new(451, "4.7.1", "Service unavailable - try again later")
}

/// SHUTDOWN's reply: the SMTP connection is closed after it.
pub fn default_shutdown() -> Reply {
    Reply::new(421, "4.7.0", "Server closing connection")
}

#[derive(Debug)]
pub struct Client {
    neg: Negotiated,
    state: State,
    /// What every event gets once the milter is finished (Postfix's `def_reply`).
    finished: Verdict,
    /// SKIP received for the body: no more chunks this message.
    skip_body: bool,
    edits: Vec<Edit>,
    quarantine: Option<String>,
}

impl Client {
    pub fn new(neg: Negotiated) -> Client {
        Client {
            neg,
            state: State::Envelope,
            finished: Verdict::Continue,
            skip_body: false,
            edits: Vec::new(),
            quarantine: None,
        }
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.neg
    }

    /// The milter is out of the conversation for good, answering every later event with
    /// `verdict` (a failure under the milter's default action, or a refused connection).
    pub fn finish(&mut self, verdict: Verdict) {
        self.state = State::Finished;
        self.finished = verdict;
    }

    /// Whether the connection to the milter is still of use.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Envelope | State::AcceptedMessage)
    }

    /// Header values keep their leading space (`HDR_LEADSPC`).
    pub fn leading_space(&self) -> bool {
        self.neg.has(proto::HDR_LEADSPC)
    }

    /// The verdict to use without asking, when the milter takes no part in `event`.
    pub fn standing(&self, event: Event) -> Option<Verdict> {
        match self.state {
            State::Envelope if event == Event::Body && self.skip_body => Some(Verdict::Continue),
            State::Envelope => None,
            State::AcceptedConnection | State::AcceptedMessage => Some(Verdict::Continue),
            State::Finished => Some(self.finished.clone()),
        }
    }

    /// Appends what to send for `event` (its macros, then `command` unless the milter asked
    /// to leave the event out). Returns whether a reply must be read.
    pub fn send(
        &mut self,
        event: Event,
        command: &Command<'_>,
        value: &dyn Fn(&str) -> Option<String>,
        out: &mut Vec<u8>,
    ) -> bool {
        if self.standing(event).is_some() {
            return false;
        }
        if event == Event::Mail {
            self.edits.clear();
            self.quarantine = None;
            self.skip_body = false;
        }
        let (skip, no_reply, stage) = event.flags();
        // Left-out content gets nothing at all (Postfix registers no callback for it); a
        // left-out envelope event still gets its macros.
        let content = matches!(event, Event::Header | Event::Eoh | Event::Body);
        if content && self.neg.has(skip) {
            return false;
        }
        if let Some(stage) = stage {
            let pairs = self.neg.macros.pairs(stage, value);
            if !pairs.is_empty() {
                Command::Macro {
                    stage: command.code(),
                    pairs: &pairs,
                }
                .encode(out);
            }
        }
        if self.neg.has(skip) {
            return false;
        }
        command.encode(out);
        !self.neg.has(no_reply)
    }

    /// The transaction ended without end of message (RSET, a refusal): ABORT is due when the
    /// milter took part. Returns whether to send it.
    pub fn abort(&mut self) -> bool {
        self.edits.clear();
        self.quarantine = None;
        self.skip_body = false;
        match self.state {
            State::Envelope => true,
            State::AcceptedMessage => {
                self.state = State::Envelope;
                true
            }
            _ => false,
        }
    }

    /// The end of message was answered: the next transaction starts afresh.
    pub fn message_done(&mut self) {
        if self.state == State::AcceptedMessage {
            self.state = State::Envelope;
        }
        self.skip_body = false;
    }

    /// One reply packet to `event`.
    pub fn on_response(&mut self, event: Event, r: Response) -> Result<Step, ProtocolError> {
        let verdict = match r {
            Response::Progress => return Ok(Step::More),
            Response::Continue => Verdict::Continue,
            Response::Accept => {
                self.state = if event.in_connect() {
                    State::AcceptedConnection
                } else {
                    State::AcceptedMessage
                };
                Verdict::Continue
            }
            Response::Discard if event.in_connect() => {
                return Err(ProtocolError::Unexpected('d'));
            }
            Response::Discard => {
                self.state = State::AcceptedMessage;
                Verdict::Discard
            }
            Response::Reject => self.refuse(event, default_reject()),
            Response::Tempfail => self.refuse(event, default_tempfail()),
            Response::ReplyCode(reply) => self.refuse(event, reply),
            Response::Shutdown => {
                let v = Verdict::Refuse(default_shutdown());
                self.finish(v.clone());
                v
            }
            Response::ConnFail => return Err(ProtocolError::Unexpected('f')),
            Response::Skip if event == Event::Body => {
                self.skip_body = true;
                Verdict::Continue
            }
            Response::Skip => Verdict::Continue,
            Response::OptNeg { .. } => return Err(ProtocolError::Unexpected('O')),
            Response::Quarantine(reason) => {
                self.allowed(event, action::QUARANTINE, 'q')?;
                self.quarantine = Some(reason);
                return Ok(Step::More);
            }
            Response::ReplBody(data) => {
                self.allowed(event, action::CHGBODY, 'b')?;
                return Ok(Step::Body(data));
            }
            Response::Edit(edit) => {
                let (flag, code) = match &edit {
                    Edit::AddHeader { .. } => (action::ADDHDRS, 'h'),
                    Edit::InsHeader { .. } => (action::ADDHDRS, 'i'),
                    Edit::ChgHeader { .. } => (action::CHGHDRS, 'm'),
                    Edit::AddRcpt(_) => (action::ADDRCPT, '+'),
                    Edit::AddRcptPar { .. } => (action::ADDRCPT_PAR, '2'),
                    Edit::DelRcpt(_) => (action::DELRCPT, '-'),
                    Edit::ChgFrom { .. } => (action::CHGFROM, 'e'),
                };
                self.allowed(event, flag, code)?;
                self.edits.push(edit);
                return Ok(Step::More);
            }
        };
        Ok(Step::Done(verdict))
    }

    fn refuse(&mut self, event: Event, reply: Reply) -> Verdict {
        let v = Verdict::Refuse(reply);
        if event.in_connect() {
            self.finish(v.clone());
        }
        v
    }

    fn allowed(&self, event: Event, flag: u32, code: char) -> Result<(), ProtocolError> {
        if event != Event::Eom {
            return Err(ProtocolError::Unexpected(code));
        }
        if !self.neg.may(flag) {
            return Err(ProtocolError::NotAllowed(code));
        }
        Ok(())
    }

    /// The modifications of the message just answered, in the order they came.
    pub fn take_edits(&mut self) -> Vec<Edit> {
        std::mem::take(&mut self.edits)
    }

    /// The quarantine reason, if the milter asked for one.
    pub fn take_quarantine(&mut self) -> Option<String> {
        self.quarantine.take()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
