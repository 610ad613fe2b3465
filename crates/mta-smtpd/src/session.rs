//! The SMTP server session as a sans-IO state machine.
//!
//! The connection shell ([`crate::conn`]) feeds it command lines and the results of the work it
//! asked for (TLS handshake, password check, message data read, spool commit); the session
//! answers with [`Output`]s: replies to send and work to do. It never touches a socket, a clock
//! or a file (the rate limiter it asks brings its own clock), so every rule here (command
//! order, role requirements, limits, reply codes) is tested directly and fuzzed.

use std::net::IpAddr;
use std::sync::Arc;

use ferrymail_config::Role;
use ferrymail_net::sasl::{Credentials, Exchange, Mechanism, SaslError, Step as SaslStep};
use ferrymail_smtp::{parse_command, Body, Command, DataOutcome, MailParams, Path, Reply, Ret};
use ferrymail_spool::{
    BodyType, ClientInfo, DsnParams, Envelope, Notify, QueueId, Recipient, Source,
};

use crate::policy::{ClientStanding, Policy};
use crate::rate::{RateLimiter, Reservation, Submitter};
use crate::received::{received_header, TraceInfo};
use crate::replies;

/// SASL responses may be longer than a command line (RFC 4954 §4: at least 12288 octets).
const SASL_LINE_LIMIT: usize = 12_288;

/// Per-listener settings, from `[smtpd]`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub role: Role,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_command_line: usize,
    pub max_text_line: usize,
    pub max_errors: u32,
    pub max_auth_failures: u32,
    pub vrfy: bool,
    /// A certificate is loaded, so STARTTLS can be offered.
    pub tls_available: bool,
    /// `normalize` rather than `reject` for bare CR/LF in DATA.
    pub normalize_bare_line_endings: bool,
}

/// Per-connection facts decided by the shell.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    pub addr: IpAddr,
    pub trusted: bool,
    /// AUTH may be used without TLS (loopback client and `plaintext_auth_on_loopback`).
    pub plaintext_auth_ok: bool,
}

/// What the shell must do next, in order.
#[derive(Debug)]
pub enum Output {
    Reply(Reply),
    /// Flush the replies, drop whatever the client sent after STARTTLS in plaintext, run the
    /// TLS handshake, then call [`Session::tls_started`].
    StartTls,
    /// Check these credentials (after any back-off), then call [`Session::auth_result`].
    Authenticate(Credentials),
    /// Read dot-terminated message data into a new spool file (headed by
    /// [`Session::received_header`]), then call [`Session::data_received`].
    ReceiveData,
    /// Read exactly `size` octets; store them in the message (creating it if needed) only if
    /// `keep`. Then call [`Session::chunk_received`].
    ReceiveChunk {
        size: u64,
        keep: bool,
    },
    /// Screen this recipient (DNS lists, pregreet, greylisting), then call
    /// [`Session::recipient_screened`]. Only asked for where [`Session::screen_recipients`]
    /// turned screening on, for clients neither trusted nor authenticated.
    ScreenRecipient {
        sender: Option<String>,
        recipient: String,
    },
    /// Commit the message with this envelope, then call [`Session::committed`].
    Commit(Box<Envelope>),
    /// Discard the message being written.
    AbortMessage,
    /// Close the connection (after flushing).
    Close,
    /// Ask the milters about the command just accepted (only once
    /// [`Session::enable_milter_checks`] was called): send `accepted` if they agree, else
    /// call [`Session::milter_refused`], send their reply instead and drop the rest of this
    /// batch of outputs.
    Milter {
        stage: MilterStage,
        accepted: Reply,
    },
}

/// The commands milters are asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilterStage {
    Helo,
    Mail,
    /// `added`: the recipient was new to the transaction (a repeated one is stored once).
    Rcpt {
        added: bool,
    },
    Data,
}

#[derive(Debug)]
enum Mode {
    Command,
    /// A SASL exchange awaits the client's next response.
    Auth(Exchange),
    AuthPending,
    /// A recipient the policy accepted awaits its screening verdict.
    RcptPending(Recipient),
    DataPending,
    ChunkPending {
        size: u64,
        last: bool,
        keep: bool,
    },
    CommitPending,
    Closed,
}

#[derive(Debug, Default)]
struct Transaction {
    sender: Option<String>,
    params: MailParams,
    recipients: Vec<Recipient>,
    /// BDAT in use: total octets so far and the error that spoiled the transaction, if any.
    bdat: Option<Bdat>,
    /// The rate budget the transaction holds (authenticated sessions).
    rate: Option<Reservation>,
}

#[derive(Debug, Default)]
struct Bdat {
    total: u64,
    failed: Option<Reply>,
}

pub struct Session {
    cfg: Arc<SessionConfig>,
    policy: Arc<Policy>,
    client: ClientFacts,
    mode: Mode,
    helo: Option<String>,
    esmtp: bool,
    tls: Option<String>,
    auth_user: Option<String>,
    tx: Option<Transaction>,
    errors: u32,
    auth_failures: u32,
    rate: Option<Arc<RateLimiter>>,
    /// The budget of the message being committed, counted once the commit succeeds.
    committing: Option<Reservation>,
    screen: bool,
    milter_checks: bool,
    /// The SASL mechanism of the last AUTH (the milters' `{auth_type}`).
    auth_mechanism: Option<Mechanism>,
    /// Authenticated as the cluster login: another host of the cluster, a trusted relay
    /// client but no user (no rate budget, no sender check, no signing).
    cluster_peer: bool,
}

impl Session {
    /// `tls`: the TLS description when the connection started with implicit TLS.
    pub fn new(
        cfg: Arc<SessionConfig>,
        policy: Arc<Policy>,
        client: ClientFacts,
        tls: Option<String>,
    ) -> Session {
        Session {
            cfg,
            policy,
            client,
            mode: Mode::Command,
            helo: None,
            esmtp: false,
            tls,
            auth_user: None,
            tx: None,
            errors: 0,
            auth_failures: 0,
            cluster_peer: false,
            rate: None,
            committing: None,
            screen: false,
            milter_checks: false,
            auth_mechanism: None,
        }
    }

    /// Authenticated transactions take their messages and recipients from `limiter`.
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Session {
        self.rate = Some(limiter);
        self
    }

    /// Recipients of clients neither trusted nor authenticated go through
    /// [`Output::ScreenRecipient`] first (the shell's defenses of the `mx` role).
    pub fn screen_recipients(&mut self, on: bool) {
        self.screen = on;
    }

    /// Accepted HELO, MAIL, RCPT and DATA commands are handed to the milters first
    /// ([`Output::Milter`]).
    pub fn enable_milter_checks(&mut self) {
        self.milter_checks = true;
    }

    /// A command's answer, by way of the milters when they are on.
    fn checked(&self, stage: MilterStage, accepted: Reply) -> Vec<Output> {
        if self.milter_checks {
            vec![Output::Milter { stage, accepted }]
        } else {
            vec![Output::Reply(accepted)]
        }
    }

    /// The milters refused the command `stage` was asked about: undo what it did.
    pub fn milter_refused(&mut self, stage: MilterStage) {
        match stage {
            // As in Postfix, the name stands: the milters are asked again at MAIL.
            MilterStage::Helo => {}
            MilterStage::Mail => self.tx = None,
            MilterStage::Rcpt { added } => {
                if let Some(tx) = self.tx.as_mut().filter(|_| added) {
                    tx.recipients.pop();
                    if let Some(r) = tx.rate.as_mut() {
                        r.drop_recipient();
                    }
                }
            }
            MilterStage::Data => self.mode = Mode::Command,
        }
    }

    pub fn helo_name(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// The SASL mechanism the client authenticated with.
    pub fn auth_type(&self) -> Option<&'static str> {
        self.auth_mechanism
            .filter(|_| self.auth_user.is_some())
            .map(Mechanism::name)
    }

    /// The TLS description, once TLS is on.
    pub fn tls(&self) -> Option<&str> {
        self.tls.as_deref()
    }

    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    pub fn greeting(&self) -> Reply {
        replies::greeting(&self.cfg.hostname)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// The longest line the shell should accept next (CRLF included).
    pub fn line_limit(&self) -> usize {
        match self.mode {
            Mode::Auth(_) => SASL_LINE_LIMIT.max(self.cfg.max_command_line),
            _ => self.cfg.max_command_line,
        }
    }

    pub fn auth_user(&self) -> Option<&str> {
        self.auth_user.as_deref()
    }

    /// RFC 3848 `with` keyword.
    pub fn protocol(&self) -> &'static str {
        match (self.esmtp, self.tls.is_some(), self.auth_user.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }

    /// One line from the client (CRLF included or not).
    pub fn on_line(&mut self, line: &[u8]) -> Vec<Output> {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Command => self.on_command(line),
            Mode::Auth(exchange) => self.sasl_response(exchange, line),
            Mode::Closed => {
                self.mode = Mode::Closed;
                vec![Output::Close]
            }
            other => {
                // The shell never sends a line while work is pending; if it does, the
                // session cannot know where it is any more.
                self.mode = other;
                self.close_with(replies::too_many_errors(&self.cfg.hostname))
            }
        }
    }

    /// The client sent a line over the limit (already skipped by the shell).
    pub fn on_line_too_long(&mut self) -> Vec<Output> {
        if matches!(self.mode, Mode::Auth(_)) {
            self.mode = Mode::Command;
            return self.error(replies::auth_line_too_long());
        }
        self.error(replies::command_line_too_long())
    }

    fn close_with(&mut self, r: Reply) -> Vec<Output> {
        self.mode = Mode::Closed;
        vec![Output::Reply(r), Output::Close]
    }

    /// An error reply; past `max_errors` the connection is closed with 421.
    fn error(&mut self, r: Reply) -> Vec<Output> {
        self.errors += 1;
        let mut out = vec![Output::Reply(r)];
        if self.errors >= self.cfg.max_errors {
            out.extend(self.close_with(replies::too_many_errors(&self.cfg.hostname)));
        }
        out
    }

    fn reply(r: Reply) -> Vec<Output> {
        vec![Output::Reply(r)]
    }

    fn standing(&self) -> ClientStanding<'_> {
        ClientStanding {
            trusted: self.trusted(),
            auth_user: self.auth_user.as_deref(),
        }
    }

    /// In `trusted_networks`, or another host of the cluster.
    fn trusted(&self) -> bool {
        self.client.trusted || self.cluster_peer
    }

    fn auth_allowed(&self) -> bool {
        self.tls.is_some() || self.client.plaintext_auth_ok
    }

    fn requires_auth(&self) -> bool {
        matches!(self.cfg.role, Role::Submission | Role::Submissions)
    }

    fn on_command(&mut self, line: &[u8]) -> Vec<Output> {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => return self.error(e.reply()),
        };
        match cmd {
            Command::Ehlo(host) => self.hello(host, true),
            Command::Helo(host) => self.hello(host, false),
            Command::Lhlo(_) => self.error(ferrymail_smtp::ParseError::Unrecognized.reply()),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.tx = None;
                Self::reply(replies::ok())
            }
            Command::Noop => Self::reply(replies::ok()),
            Command::Quit => self.close_with(replies::bye()),
            Command::Help => Self::reply(replies::help()),
            Command::Vrfy(arg) => {
                if !self.cfg.vrfy {
                    Self::reply(replies::vrfy_disabled())
                } else {
                    match self.policy.verify(&arg) {
                        Ok(a) => Self::reply(replies::vrfy_ok(&a)),
                        Err(r) => self.error(r),
                    }
                }
            }
            Command::Expn(_) => self.error(replies::expn_disabled()),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial),
        }
    }

    fn hello(&mut self, host: String, esmtp: bool) -> Vec<Output> {
        // RFC 5321 §4.1.4: a new greeting resets any transaction.
        self.tx = None;
        self.esmtp = esmtp;
        let greet = replies::helo(&self.cfg.hostname, &host);
        self.helo = Some(host);
        if !esmtp {
            return self.checked(MilterStage::Helo, greet);
        }
        let mut lines = vec![
            greet.text(),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.cfg.max_message_size),
            "8BITMIME".into(),
            "BINARYMIME".into(),
            "CHUNKING".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
            "DSN".into(),
        ];
        if self.cfg.tls_available && self.tls.is_none() {
            lines.push("STARTTLS".into());
        }
        // RFC 8689 §4.1: offered only once the session itself is under TLS.
        if self.tls.is_some() {
            lines.push("REQUIRETLS".into());
        }
        if self.auth_allowed() && self.auth_user.is_none() && !self.cluster_peer {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        self.checked(MilterStage::Helo, Reply::multiline(250, None, lines))
    }

    fn mail(&mut self, from: Path, params: MailParams) -> Vec<Output> {
        if self.helo.is_none() {
            return self.error(replies::need_helo());
        }
        if self.tx.is_some() {
            return self.error(replies::nested_mail());
        }
        if self.requires_auth() && self.auth_user.is_none() && !self.cluster_peer {
            if !self.auth_allowed() {
                return self.error(replies::starttls_first());
            }
            return self.error(replies::auth_required());
        }
        if !self.esmtp && params != MailParams::default() {
            return self.error(replies::need_ehlo_for_params());
        }
        if params.queue_id.is_some() {
            return self.error(replies::param_not_offered("XQUEUEID"));
        }
        if params.require_tls && self.tls.is_none() {
            return self.error(replies::requiretls_needs_tls());
        }
        if params.size.is_some_and(|s| s > self.cfg.max_message_size) {
            return self.error(replies::size_exceeded());
        }
        let sender = match from {
            Path::Null => None,
            Path::Mailbox(a) => {
                if let Err(r) = check_address(&a, params.smtputf8, replies::bad_sender_syntax) {
                    return self.error(r);
                }
                Some(a)
            }
        };
        if let Err(r) = self.policy.check_sender(self.standing(), sender.as_deref()) {
            return self.error(r);
        }
        let rate = match self.begin_rate() {
            Ok(r) => r,
            Err(r) => return Self::reply(r),
        };
        self.tx = Some(Transaction {
            sender,
            params,
            rate,
            ..Transaction::default()
        });
        self.checked(MilterStage::Mail, replies::sender_ok())
    }

    fn rcpt(&mut self, to: String, params: ferrymail_smtp::RcptParams) -> Vec<Output> {
        let Some(tx) = &self.tx else {
            return self.error(replies::need_mail());
        };
        if !self.esmtp && params != ferrymail_smtp::RcptParams::default() {
            return self.error(replies::need_ehlo_for_params());
        }
        if tx.recipients.len() >= self.cfg.max_recipients {
            return Self::reply(replies::too_many_recipients());
        }
        if !to.eq_ignore_ascii_case("postmaster") {
            if let Err(r) = check_address(&to, tx.params.smtputf8, replies::bad_recipient_syntax) {
                return self.error(r);
            }
        }
        let address = match self.policy.check_recipient(self.standing(), &to) {
            Ok(a) => a,
            Err(r) => return self.error(r),
        };
        let notify = params.notify.map(|n| Notify {
            success: n.success,
            failure: n.failure,
            delay: n.delay,
            never: n.never,
        });
        let recipient = Recipient {
            orcpt: params.orcpt,
            notify: notify.unwrap_or_default(),
            ..Recipient::new(address)
        };
        if self.screen && !self.trusted() && self.auth_user.is_none() {
            let sender = self.tx.as_ref().and_then(|tx| tx.sender.clone());
            let address = recipient.address.clone();
            self.mode = Mode::RcptPending(recipient);
            return vec![Output::ScreenRecipient {
                sender,
                recipient: address,
            }];
        }
        self.add_recipient(recipient)
    }

    /// The screening of the pending recipient finished: `Some(reply)` refuses it. Refusals
    /// count as errors, like the policy's: a client refused over and over is cut off at
    /// `max_errors` instead of filling the greylist with one triplet per attempt.
    pub fn recipient_screened(&mut self, refusal: Option<Reply>) -> Vec<Output> {
        let Mode::RcptPending(recipient) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        };
        match refusal {
            Some(r) => self.error(r),
            None => self.add_recipient(recipient),
        }
    }

    fn add_recipient(&mut self, recipient: Recipient) -> Vec<Output> {
        let Some(tx) = &mut self.tx else {
            return self.error(replies::need_mail());
        };
        // A repeated recipient is acknowledged but stored once (one delivery).
        let added = !tx
            .recipients
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&recipient.address));
        if added {
            if let Some(Err(e)) = tx.rate.as_mut().map(Reservation::add_recipient) {
                return Self::reply(replies::rate_limited(&e));
            }
            tx.recipients.push(recipient);
        }
        self.checked(MilterStage::Rcpt { added }, replies::recipient_ok())
    }

    /// The rate budget for a new transaction's message; none unless authenticated.
    fn begin_rate(&self) -> Result<Option<Reservation>, Reply> {
        let (Some(limiter), Some(login)) = (&self.rate, &self.auth_user) else {
            return Ok(None);
        };
        let who = Submitter {
            login,
            addr: self.client.addr,
            trusted: self.trusted(),
        };
        match limiter.begin_message(who) {
            Ok(r) => Ok(Some(r)),
            Err(e) => Err(replies::rate_limited(&e)),
        }
    }

    /// Checks before DATA or the first BDAT; `None` = go ahead.
    fn data_precheck(&self) -> Option<Reply> {
        match &self.tx {
            None if self.helo.is_none() => Some(replies::need_helo()),
            None => Some(replies::need_mail()),
            Some(tx) if tx.recipients.is_empty() => Some(replies::no_valid_recipients()),
            Some(_) => None,
        }
    }

    fn data(&mut self) -> Vec<Output> {
        if let Some(r) = self.data_precheck() {
            return self.error(r);
        }
        let Some(tx) = &self.tx else {
            return self.error(replies::need_mail());
        };
        if tx.bdat.is_some() {
            return self.error(replies::data_after_bdat());
        }
        if tx.params.body == Some(Body::BinaryMime) {
            return self.error(replies::binarymime_needs_bdat());
        }
        self.mode = Mode::DataPending;
        let mut out = self.checked(MilterStage::Data, replies::start_data());
        out.push(Output::ReceiveData);
        out
    }

    /// Whether the given message content is acceptable; `None` = yes.
    fn content_problem(&self, o: &DataOutcome) -> Option<Reply> {
        if o.too_big {
            Some(replies::size_exceeded())
        } else if o.bare_line_ending && !self.cfg.normalize_bare_line_endings {
            Some(replies::bare_line_ending())
        } else if o.line_too_long {
            Some(replies::text_line_too_long(self.cfg.max_text_line))
        } else {
            None
        }
    }

    /// Whether data with this outcome would be accepted (size, bare line endings, line
    /// length), so the shell spends no authentication work on a message it must refuse anyway.
    pub fn content_acceptable(&self, o: &DataOutcome) -> bool {
        self.content_problem(o).is_none()
    }

    /// What inbound mail authentication (SPF/DKIM/DMARC) needs about the message being
    /// received: client address, HELO name and envelope sender (empty for `<>`). `None` where
    /// it does not apply: only mail arriving from the world on the `mx` role is checked, never
    /// submissions by authenticated users.
    pub fn auth_check_facts(&self) -> Option<(IpAddr, String, String)> {
        if self.cfg.role != Role::Mx || self.auth_user.is_some() {
            return None;
        }
        let tx = self.tx.as_ref()?;
        Some((
            self.client.addr,
            self.helo.clone().unwrap_or_default(),
            tx.sender.clone().unwrap_or_default(),
        ))
    }

    /// True while the chunk being read is the `BDAT … LAST` one.
    pub fn chunk_is_last(&self) -> bool {
        matches!(self.mode, Mode::ChunkPending { last: true, .. })
    }

    /// The data was read completely but policy (a DMARC `p=reject` failure, or the milters at
    /// end of message) refuses it: the transaction ends, the session continues.
    pub fn data_refused(&mut self, reply: Reply) -> Vec<Output> {
        self.mode = Mode::Command;
        self.tx = None;
        // Refused at commit time (the milters): the message costs no rate budget.
        self.committing = None;
        vec![Output::AbortMessage, Output::Reply(reply)]
    }

    /// The DATA terminator was read. `stored`: every byte reached the spool file.
    pub fn data_received(&mut self, outcome: &DataOutcome, stored: bool) -> Vec<Output> {
        if !matches!(self.mode, Mode::DataPending) {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        }
        self.mode = Mode::Command;
        if let Some(r) = self.content_problem(outcome) {
            self.tx = None;
            let mut out = vec![Output::AbortMessage];
            out.extend(self.error(r));
            return out;
        }
        if !stored {
            self.tx = None;
            return vec![
                Output::AbortMessage,
                Output::Reply(replies::storage_failure()),
            ];
        }
        self.commit()
    }

    fn commit(&mut self) -> Vec<Output> {
        match self.tx.take() {
            Some(mut tx) => {
                self.mode = Mode::CommitPending;
                self.committing = tx.rate.take();
                vec![Output::Commit(Box::new(self.envelope(tx)))]
            }
            None => self.close_with(replies::too_many_errors(&self.cfg.hostname)),
        }
    }

    fn bdat(&mut self, size: u64, last: bool) -> Vec<Output> {
        let precheck = self.data_precheck();
        let max = self.cfg.max_message_size;
        let failed = match (&precheck, self.tx.as_mut()) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(tx)) => {
                let b = tx.bdat.get_or_insert_with(Bdat::default);
                if b.failed.is_none() && b.total.saturating_add(size) > max {
                    b.failed = Some(replies::size_exceeded());
                }
                b.total = b.total.saturating_add(size);
                b.failed.clone()
            }
            (None, None) => Some(replies::need_mail()),
        };
        // The chunk follows the command whatever we think of it: it must be read to stay
        // in step with the client.
        self.mode = Mode::ChunkPending {
            size,
            last,
            keep: failed.is_none(),
        };
        vec![Output::ReceiveChunk {
            size,
            keep: failed.is_none(),
        }]
    }

    /// A BDAT chunk has been read. `stored`: every kept byte reached the spool file.
    pub fn chunk_received(&mut self, stored: bool) -> Vec<Output> {
        let Mode::ChunkPending { size, last, keep } = self.mode else {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        };
        self.mode = Mode::Command;
        let failure = match self.tx.as_mut().and_then(|tx| tx.bdat.as_mut()) {
            Some(b) => {
                if keep && !stored && b.failed.is_none() {
                    b.failed = Some(replies::storage_failure());
                }
                b.failed.clone()
            }
            // Not even a transaction: the precheck reply.
            None => Some(self.data_precheck().unwrap_or_else(replies::need_mail)),
        };
        match failure {
            Some(r) => {
                let mut out = Vec::new();
                if last {
                    self.tx = None;
                    out.push(Output::AbortMessage);
                }
                if r.code == 452 {
                    out.push(Output::Reply(r));
                    out
                } else {
                    out.extend(self.error(r));
                    out
                }
            }
            None if last => self.commit(),
            None => Self::reply(replies::chunk_ok(size)),
        }
    }

    /// The spool commit finished.
    pub fn committed(&mut self, result: Result<QueueId, ()>) -> Vec<Output> {
        if !matches!(self.mode, Mode::CommitPending) {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        }
        self.mode = Mode::Command;
        let rate = self.committing.take();
        match result {
            Ok(id) => {
                if let Some(r) = rate {
                    r.commit();
                }
                Self::reply(replies::queued(id.as_str()))
            }
            Err(()) => Self::reply(replies::storage_failure()),
        }
    }

    fn envelope(&self, tx: Transaction) -> Envelope {
        let client = ClientInfo {
            addr: Some(self.client.addr),
            helo: self.helo.clone(),
            ptr: None,
            auth_user: self.auth_user.clone(),
            tls: self.tls.clone(),
            protocol: self.protocol().to_string(),
        };
        let mut env = Envelope::new(
            tx.sender,
            tx.recipients,
            client,
            Source::Smtp {
                role: self.cfg.role.as_str().to_string(),
            },
        );
        env.dsn = DsnParams {
            ret: tx.params.ret.map(|r| match r {
                Ret::Full => ferrymail_spool::Ret::Full,
                Ret::Hdrs => ferrymail_spool::Ret::Hdrs,
            }),
            envid: tx.params.envid,
        };
        env.body = match tx.params.body {
            None | Some(Body::SevenBit) => BodyType::SevenBit,
            Some(Body::EightBitMime) => BodyType::EightBitMime,
            Some(Body::BinaryMime) => BodyType::BinaryMime,
        };
        env.smtputf8 = tx.params.smtputf8;
        env.require_tls = tx.params.require_tls;
        env
    }

    /// The trace header for the message about to be written as `id`.
    pub fn received_header(&self, id: &str, now: u64) -> String {
        let single = self
            .tx
            .as_ref()
            .filter(|tx| tx.recipients.len() == 1)
            .and_then(|tx| tx.recipients.first())
            .map(|r| r.address.as_str());
        received_header(&TraceInfo {
            helo: self.helo.as_deref(),
            addr: self.client.addr,
            by: &self.cfg.hostname,
            protocol: self.protocol(),
            id,
            tls: self.tls.as_deref(),
            auth_user: self.auth_user.as_deref(),
            for_rcpt: single,
            time: now,
        })
    }

    fn starttls(&mut self) -> Vec<Output> {
        if self.tls.is_some() {
            return self.error(replies::tls_already_active());
        }
        if !self.cfg.tls_available {
            return self.error(replies::tls_unavailable());
        }
        vec![Output::Reply(replies::tls_ready()), Output::StartTls]
    }

    /// The TLS handshake succeeded: RFC 3207 §4.2, forget everything learnt in plaintext.
    pub fn tls_started(&mut self, description: String) {
        self.tls = Some(description);
        self.helo = None;
        self.esmtp = false;
        self.auth_user = None;
        self.cluster_peer = false;
        self.tx = None;
        self.mode = Mode::Command;
    }

    fn auth(&mut self, mechanism: &str, initial: Option<String>) -> Vec<Output> {
        if self.auth_user.is_some() || self.cluster_peer {
            return self.error(replies::auth_already());
        }
        if !self.esmtp {
            return self.error(replies::auth_need_ehlo());
        }
        if self.tx.is_some() {
            return self.error(replies::auth_in_transaction());
        }
        if !self.auth_allowed() {
            return self.error(replies::auth_needs_encryption());
        }
        let Some(mechanism) = Mechanism::from_name(mechanism) else {
            return self.error(replies::auth_unknown_mechanism());
        };
        self.auth_mechanism = Some(mechanism);
        let mut exchange = Exchange::new(mechanism, ferrymail_users::login_key);
        let step = exchange.begin(initial.as_deref());
        self.sasl_step(exchange, step)
    }

    fn sasl_response(&mut self, mut exchange: Exchange, line: &[u8]) -> Vec<Output> {
        let Ok(text) = std::str::from_utf8(line) else {
            return self.error(replies::auth_bad_response());
        };
        let step = exchange.respond(text);
        self.sasl_step(exchange, step)
    }

    fn sasl_step(&mut self, exchange: Exchange, step: Result<SaslStep, SaslError>) -> Vec<Output> {
        match step {
            Ok(SaslStep::Challenge(challenge)) => {
                self.mode = Mode::Auth(exchange);
                Self::reply(replies::auth_challenge(challenge))
            }
            Ok(SaslStep::Done(creds)) => {
                self.mode = Mode::AuthPending;
                vec![Output::Authenticate(creds)]
            }
            Err(SaslError::Cancelled) => self.error(replies::auth_cancelled()),
            Err(SaslError::NotAuthorized) => self.auth_failure(replies::auth_not_authorized()),
            Err(SaslError::Base64 | SaslError::Malformed) => {
                self.error(replies::auth_bad_response())
            }
        }
    }

    /// The password check finished: `Ok(login)` or a failure of any kind.
    pub fn auth_result(&mut self, result: Result<String, ()>) -> Vec<Output> {
        if !matches!(self.mode, Mode::AuthPending) {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        }
        self.mode = Mode::Command;
        match result {
            Ok(login) => {
                self.auth_user = Some(login);
                Self::reply(replies::auth_ok())
            }
            Err(()) => self.auth_failure(replies::auth_failed()),
        }
    }

    /// The cluster login's check finished: a peer host is trusted like `trusted_networks`
    /// ([`Session::trusted`]).
    pub fn cluster_peer_result(&mut self, accepted: bool) -> Vec<Output> {
        if !matches!(self.mode, Mode::AuthPending) {
            return self.close_with(replies::too_many_errors(&self.cfg.hostname));
        }
        self.mode = Mode::Command;
        if !accepted {
            return self.auth_failure(replies::auth_failed());
        }
        self.cluster_peer = true;
        Self::reply(replies::auth_ok())
    }

    /// A failed authentication: counted, and the connection closed past the limit.
    fn auth_failure(&mut self, reply: Reply) -> Vec<Output> {
        self.auth_failures += 1;
        if self.auth_failures >= self.cfg.max_auth_failures {
            let mut out = vec![Output::Reply(reply)];
            out.extend(self.close_with(replies::too_many_auth_failures(&self.cfg.hostname)));
            out
        } else {
            self.error(reply)
        }
    }

    /// The DATA line-ending rule for the shell's decoder.
    pub fn line_ending_policy(&self) -> ferrymail_smtp::LineEndingPolicy {
        if self.cfg.normalize_bare_line_endings {
            ferrymail_smtp::LineEndingPolicy::Normalize
        } else {
            ferrymail_smtp::LineEndingPolicy::Reject
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }
}

fn check_address(addr: &str, smtputf8: bool, bad: fn(&str) -> Reply) -> Result<(), Reply> {
    if !smtputf8 && !addr.is_ascii() {
        return Err(replies::needs_smtputf8());
    }
    ferrymail_spool::validate_address(addr, smtputf8).map_err(bad)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_screen_tests.rs"]
mod screen_tests;
