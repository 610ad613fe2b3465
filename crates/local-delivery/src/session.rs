//! The LMTP conversation (RFC 2033), sans-IO: command lines in, replies out. The transport
//! layer ([`crate::server`]) reads lines and the DATA stream, asks this state machine what to
//! answer, and after DATA delivers to each accepted recipient and sends one reply per
//! recipient, in RCPT order.

use ferrymail_net::cluster::ClusterAuth;
use ferrymail_smtp::{parse_command, Command, DataOutcome, Path, Reply};

use crate::tcp_gate::{Answer, Gate};

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Protocol errors tolerated before `421` and close.
    pub max_errors: u32,
}

/// What the transport must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send the reply and read the next command.
    Reply(Reply),
    /// Send `354` and read the message.
    Data(Reply),
    /// Send the reply and close.
    Close(Reply),
    /// Send the reply, discard any input buffered, run the TLS handshake, then
    /// [`Session::tls_started`].
    StartTls(Reply),
}

/// A message ready for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// `None` is the null reverse-path.
    pub sender: Option<String>,
    pub recipients: Vec<String>,
    /// The spool queue id queue-runner named with `XQUEUEID`, if it did.
    pub queue_id: Option<String>,
}

#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    greeted: bool,
    /// `Some(sender)` after MAIL.
    sender: Option<Option<String>>,
    queue_id: Option<String>,
    recipients: Vec<String>,
    errors: u32,
    /// A TCP session's STARTTLS and cluster AUTH; none on the Unix socket.
    gate: Option<Gate>,
}

impl Session {
    /// A session on the Unix socket.
    pub fn new(cfg: SessionConfig) -> Session {
        Session {
            cfg,
            greeted: false,
            sender: None,
            queue_id: None,
            recipients: Vec::new(),
            errors: 0,
            gate: None,
        }
    }

    /// A session on a TCP listener: no transaction before STARTTLS and AUTH as `cluster`'s
    /// login.
    pub fn over_tcp(cfg: SessionConfig, cluster: ClusterAuth) -> Session {
        Session {
            gate: Some(Gate::new(cluster)),
            ..Session::new(cfg)
        }
    }

    /// The TLS handshake after STARTTLS succeeded: the client greets again.
    pub fn tls_started(&mut self) {
        self.reset();
        self.greeted = false;
        if let Some(g) = &mut self.gate {
            g.tls_started();
        }
    }

    fn gate_answer(&mut self, answer: Answer) -> Step {
        match answer {
            Answer::Reply(r) => Step::Reply(r),
            Answer::Error(r) => self.error(r),
            Answer::StartTls(r) => Step::StartTls(r),
        }
    }

    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} LMTP ferrymail ready", self.cfg.hostname))
    }

    fn reset(&mut self) {
        self.sender = None;
        self.queue_id = None;
        self.recipients.clear();
    }

    fn error(&mut self, r: Reply) -> Step {
        self.errors += 1;
        if self.errors > self.cfg.max_errors {
            return Step::Close(Reply::new(421, "4.7.0", "too many errors, closing"));
        }
        Step::Reply(r)
    }

    /// A command line longer than the limit was skipped.
    pub fn line_too_long(&mut self) -> Step {
        self.error(Reply::new(500, "5.5.2", "line too long"))
    }

    /// One command line (with or without its CRLF). `check_rcpt` decides whether a recipient
    /// is accepted.
    pub fn command(
        &mut self,
        line: &[u8],
        check_rcpt: &mut dyn FnMut(&str) -> Result<(), Reply>,
    ) -> Step {
        if let Some(g) = self.gate.as_mut().filter(|g| g.awaiting_response()) {
            let answer = g.response(line);
            return self.gate_answer(answer);
        }
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => return self.error(e.reply()),
        };
        let greeted = self.greeted;
        if let Some(answer) = self.gate.as_mut().and_then(|g| g.command(&cmd, greeted)) {
            return self.gate_answer(answer);
        }
        match cmd {
            Command::Lhlo(_) => {
                self.reset();
                self.greeted = true;
                let mut keywords = vec![
                    self.cfg.hostname.clone(),
                    "PIPELINING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "8BITMIME".into(),
                    format!("SIZE {}", self.cfg.max_message_size),
                    "XQUEUEID".into(),
                ];
                keywords.extend(
                    self.gate
                        .as_ref()
                        .and_then(Gate::keyword)
                        .map(str::to_owned),
                );
                Step::Reply(Reply::multiline(250, None, keywords))
            }
            Command::Helo(_) | Command::Ehlo(_) => {
                self.error(Reply::new(500, "5.5.1", "this is LMTP: use LHLO"))
            }
            Command::Mail { from, params } => {
                if !self.greeted {
                    return self.error(Reply::new(503, "5.5.1", "send LHLO first"));
                }
                if self.sender.is_some() {
                    return self.error(Reply::new(503, "5.5.1", "nested MAIL command"));
                }
                if params.size.is_some_and(|s| s > self.cfg.max_message_size) {
                    return Step::Reply(Reply::new(552, "5.3.4", "message too big"));
                }
                self.sender = Some(match from {
                    Path::Null => None,
                    Path::Mailbox(m) => Some(m),
                });
                self.queue_id = params.queue_id;
                Step::Reply(Reply::new(250, "2.1.0", "Ok"))
            }
            Command::Rcpt { to, .. } => {
                if self.sender.is_none() {
                    return self.error(Reply::new(503, "5.5.1", "need MAIL before RCPT"));
                }
                if self.recipients.len() >= self.cfg.max_recipients {
                    return Step::Reply(Reply::new(452, "4.5.3", "too many recipients"));
                }
                match check_rcpt(&to) {
                    Ok(()) => {
                        self.recipients.push(to);
                        Step::Reply(Reply::new(250, "2.1.5", "Ok"))
                    }
                    Err(r) => Step::Reply(r),
                }
            }
            Command::Data => {
                if self.sender.is_none() {
                    return self.error(Reply::new(503, "5.5.1", "need MAIL before DATA"));
                }
                if self.recipients.is_empty() {
                    return self.error(Reply::new(503, "5.5.1", "no valid recipients"));
                }
                Step::Data(Reply::plain(354, "End data with <CR><LF>.<CR><LF>"))
            }
            Command::Bdat { .. } => {
                // CHUNKING is not advertised; the chunk that follows cannot be told apart from
                // commands, so the only safe answer is to end the session.
                Step::Close(Reply::new(502, "5.5.1", "BDAT not supported here, closing"))
            }
            Command::Rset => {
                self.reset();
                Step::Reply(Reply::new(250, "2.0.0", "Ok"))
            }
            Command::Noop => Step::Reply(Reply::new(250, "2.0.0", "Ok")),
            Command::Quit => Step::Close(Reply::new(221, "2.0.0", "Bye")),
            Command::Vrfy(_) => Step::Reply(Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message",
            )),
            Command::Expn(_) | Command::StartTls | Command::Auth { .. } => {
                self.error(Reply::new(502, "5.5.1", "command not implemented"))
            }
            Command::Help => Step::Reply(Reply::new(
                214,
                "2.0.0",
                "LHLO MAIL RCPT DATA RSET NOOP QUIT",
            )),
        }
    }

    /// The message has been read. `Ok` gives the transaction to deliver (one reply per
    /// recipient); `Err` is the one reply to send for every recipient (as many as
    /// [`recipient_count`](Session::recipient_count) said before this call).
    pub fn data_done(&mut self, outcome: &DataOutcome) -> Result<Transaction, Reply> {
        let sender = self.sender.take().unwrap_or(None);
        let recipients = std::mem::take(&mut self.recipients);
        let queue_id = self.queue_id.take();
        if outcome.too_big {
            return Err(Reply::new(552, "5.3.4", "message too big"));
        }
        Ok(Transaction {
            sender,
            recipients,
            queue_id,
        })
    }

    /// How many recipients were accepted in the current transaction.
    pub fn recipient_count(&self) -> usize {
        self.recipients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(SessionConfig {
            hostname: "mx.test".into(),
            max_message_size: 1000,
            max_recipients: 2,
            max_errors: 3,
        })
    }

    fn ok(_: &str) -> Result<(), Reply> {
        Ok(())
    }

    fn code(s: &Step) -> u16 {
        match s {
            Step::Reply(r) | Step::Data(r) | Step::Close(r) | Step::StartTls(r) => r.code,
        }
    }

    #[test]
    fn a_full_transaction() {
        let mut s = session();
        let mut check = |a: &str| {
            if a.starts_with("bad") {
                Err(Reply::new(550, "5.1.1", "unknown"))
            } else {
                Ok(())
            }
        };
        assert_eq!(code(&s.command(b"MAIL FROM:<a@b>\r\n", &mut check)), 503);
        let lhlo = s.command(b"LHLO client\r\n", &mut check);
        let Step::Reply(r) = &lhlo else { panic!() };
        assert!(r.lines.contains(&"PIPELINING".to_string()));
        assert!(r.lines.contains(&"ENHANCEDSTATUSCODES".to_string()));
        assert!(r.lines.contains(&"8BITMIME".to_string()));
        assert_eq!(code(&s.command(b"DATA\r\n", &mut check)), 503);
        assert_eq!(
            code(&s.command(b"MAIL FROM:<> SIZE=2000\r\n", &mut check)),
            552
        );
        assert_eq!(code(&s.command(b"MAIL FROM:<>\r\n", &mut check)), 250);
        assert_eq!(code(&s.command(b"DATA\r\n", &mut check)), 503);
        assert_eq!(code(&s.command(b"RCPT TO:<bad@x>\r\n", &mut check)), 550);
        assert_eq!(code(&s.command(b"RCPT TO:<u1@x>\r\n", &mut check)), 250);
        assert_eq!(code(&s.command(b"RCPT TO:<u2@x>\r\n", &mut check)), 250);
        assert_eq!(code(&s.command(b"RCPT TO:<u3@x>\r\n", &mut check)), 452);
        assert!(matches!(s.command(b"DATA\r\n", &mut check), Step::Data(_)));
        assert_eq!(s.recipient_count(), 2);
        let t = s.data_done(&DataOutcome::default()).unwrap();
        assert_eq!(t.sender, None);
        assert_eq!(t.recipients, vec!["u1@x", "u2@x"]);
        assert_eq!(t.queue_id, None);
        assert_eq!(s.recipient_count(), 0);
        // The queue id rides on MAIL and belongs to that transaction only.
        assert!(r.lines.contains(&"XQUEUEID".to_string()));
        s.command(b"MAIL FROM:<a@b> XQUEUEID=0QID\r\n", &mut check);
        s.command(b"RCPT TO:<u1@x>\r\n", &mut check);
        s.command(b"DATA\r\n", &mut check);
        let t = s.data_done(&DataOutcome::default()).unwrap();
        assert_eq!(t.queue_id.as_deref(), Some("0QID"));
        s.command(b"MAIL FROM:<a@b>\r\n", &mut check);
        s.command(b"RCPT TO:<u1@x>\r\n", &mut check);
        s.command(b"DATA\r\n", &mut check);
        assert_eq!(s.data_done(&DataOutcome::default()).unwrap().queue_id, None);
        assert!(matches!(s.command(b"QUIT\r\n", &mut check), Step::Close(_)));
    }

    #[test]
    fn too_big_and_errors_and_bdat() {
        let mut s = session();
        s.command(b"LHLO c\r\n", &mut ok);
        s.command(b"MAIL FROM:<a@b>\r\n", &mut ok);
        s.command(b"RCPT TO:<u@x>\r\n", &mut ok);
        let big = DataOutcome {
            too_big: true,
            ..DataOutcome::default()
        };
        assert_eq!(s.data_done(&big).unwrap_err().code, 552);
        assert_eq!(code(&s.command(b"HELO x\r\n", &mut ok)), 500);
        assert_eq!(code(&s.command(b"BOGUS\r\n", &mut ok)), 500);
        assert_eq!(code(&s.line_too_long()), 500);
        assert!(matches!(s.command(b"XYZ\r\n", &mut ok), Step::Close(_)));
        let mut s = session();
        assert!(matches!(
            s.command(b"BDAT 10 LAST\r\n", &mut ok),
            Step::Close(_)
        ));
    }
}
