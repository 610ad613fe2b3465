//! The POP3 state machine (RFC 1939 AUTHORIZATION → TRANSACTION → UPDATE), sans-IO.
//!
//! The connection code feeds it lines and the results of the work it asked for; it answers
//! with a [`Step`]: the bytes to send and at most one [`Action`] (log in, send a message,
//! apply deletions, start TLS, close). It never touches a socket or a file, so it can be
//! tested and fuzzed with a plain list of messages standing in for the maildrop.

use ferrymail_net::sasl::{Credentials, Exchange, Mechanism, SaslError, Step as SaslStep};

use crate::parser::{self, Command, MsgNum, ParseError};

/// How a session is set up; decided by the connection code from the config and the listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// STLS can be offered: a plaintext POP3 listener with TLS configured.
    pub stls_available: bool,
    /// Passwords may be sent before TLS (loopback client with
    /// `pop3d.limits.plaintext_auth_on_loopback`).
    pub plaintext_login_ok: bool,
    /// Failed logins tolerated before the connection is closed.
    pub max_auth_failures: u32,
    /// The cluster login, which may act as any user through AUTH PLAIN (`[cluster]`).
    pub master_login: Option<String>,
}

/// One message of the maildrop as the session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// RFC 1939 unique-id: 1–70 characters in 0x21..=0x7E.
    pub uidl: String,
    /// Octets with CRLF line endings.
    pub size: u64,
}

/// What the connection code reports after an [`Action::Login`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    /// Credentials good, maildrop locked and listed (in this order, message 1 first).
    Ok(Vec<MessageInfo>),
    /// Unknown user, wrong password, disabled account: all answered alike.
    BadCredentials,
    /// Another session holds this maildrop.
    InUse,
    /// The maildrop could not be opened; the reason is for the log, not the client.
    Unavailable,
}

/// Work for the connection code, to be done after sending [`Step::reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Discard any input buffered so far, run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
    /// Verify the credentials, lock and list the maildrop, then call
    /// [`Session::login_finished`].
    Login(Credentials),
    /// Send message `index` (0-based): `ok_line`, then the encoded body (`top` lines of it
    /// for TOP), then the terminator; if the message cannot be opened send
    /// [`Session::message_unavailable`] instead. After a complete RETR, mark it seen.
    Send {
        index: usize,
        top: Option<u64>,
        mark_seen: bool,
        ok_line: String,
    },
    /// UPDATE state: remove these messages (0-based), then call
    /// [`Session::update_finished`] with how many could not be removed.
    Update {
        delete: Vec<usize>,
    },
    /// Close the connection (without UPDATE unless it already ran).
    Close,
}

/// The answer to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub reply: Vec<u8>,
    pub action: Action,
}

impl Step {
    fn reply(text: impl Into<String>) -> Step {
        let mut reply = text.into().into_bytes();
        reply.extend_from_slice(b"\r\n");
        Step {
            reply,
            action: Action::None,
        }
    }

    fn bytes(reply: Vec<u8>) -> Step {
        Step {
            reply,
            action: Action::None,
        }
    }

    fn with(mut self, action: Action) -> Step {
        self.action = action;
        self
    }

    fn silent(action: Action) -> Step {
        Step {
            reply: Vec::new(),
            action,
        }
    }
}

#[derive(Debug)]
enum State {
    Authorization {
        user: Option<String>,
        sasl: Option<Exchange>,
    },
    /// A login is being checked by the connection code.
    Authenticating,
    Transaction {
        messages: Vec<MessageInfo>,
        deleted: Vec<bool>,
    },
    /// QUIT received in TRANSACTION; deletions are being applied.
    Update,
    Closed,
}

const NOT_NOW: &str = "-ERR Command not valid in this state";
const PLAINTEXT_REFUSED: &str =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS";
const AUTH_FAILED: &str = "-ERR [AUTH] Authentication failed";

pub const IMPLEMENTATION: &str = "ferrymail";

#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    tls: bool,
    state: State,
    auth_failures: u32,
}

impl Session {
    /// `tls`: the connection is already encrypted (implicit TLS, port 995).
    pub fn new(config: SessionConfig, tls: bool) -> Session {
        Session {
            config,
            tls,
            state: State::Authorization {
                user: None,
                sasl: None,
            },
            auth_failures: 0,
        }
    }

    /// A session whose login the main process already checked and handed to a session
    /// child (a Unix account): it waits for [`Session::login_finished`] with the outcome of
    /// opening the maildrop, whose reply answers the client's PASS/AUTH.
    pub fn handed_off(config: SessionConfig, tls: bool) -> Session {
        Session {
            state: State::Authenticating,
            ..Session::new(config, tls)
        }
    }

    /// RFC 1939 greeting. APOP is off, so no timestamp banner.
    pub fn greeting(&self) -> Vec<u8> {
        format!("+OK {IMPLEMENTATION} POP3 server ready\r\n").into_bytes()
    }

    /// The reply to a connection refused by the connection limits.
    pub fn busy() -> Vec<u8> {
        b"-ERR [SYS/TEMP] Too many connections, try again later\r\n".to_vec()
    }

    /// The reply sent when the idle timer fires; the connection is then closed (no UPDATE).
    pub fn idle_timeout(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        b"-ERR Autologout; idle for too long\r\n".to_vec()
    }

    /// The reply sent when the server shuts down mid-session (no UPDATE).
    pub fn shutting_down(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        b"-ERR [SYS/TEMP] Server shutting down\r\n".to_vec()
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Transaction { .. } | State::Update)
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn login_allowed(&self) -> bool {
        self.tls || self.config.plaintext_login_ok
    }

    /// A line longer than `pop3d.max_line` was skipped.
    pub fn line_too_long(&mut self) -> Step {
        if let State::Authorization { sasl, .. } = &mut self.state {
            if sasl.take().is_some() {
                return Step::reply("-ERR [AUTH] Authentication response too long");
            }
        }
        Step::reply("-ERR Line too long")
    }

    /// Handles one input line (with its line ending).
    pub fn line(&mut self, line: &[u8]) -> Step {
        if let State::Authorization { sasl, .. } = &mut self.state {
            if let Some(exchange) = sasl.take() {
                return self.sasl_response(exchange, line);
            }
        }
        match parser::parse(line) {
            Ok(cmd) => self.command(cmd),
            Err(ParseError::Empty | ParseError::Unknown) => Step::reply("-ERR Unknown command"),
            Err(e) => Step::reply(format!("-ERR {e}")),
        }
    }

    fn command(&mut self, cmd: Command) -> Step {
        match (&self.state, cmd) {
            (_, Command::Capa) => Step::bytes(self.capabilities()),
            (State::Authorization { .. }, Command::Quit) => {
                self.state = State::Closed;
                Step::reply(format!("+OK {IMPLEMENTATION} POP3 server signing off"))
                    .with(Action::Close)
            }
            (State::Authorization { .. }, cmd) => self.authorization(cmd),
            (State::Transaction { .. }, cmd) => self.transaction(cmd),
            (State::Authenticating | State::Update | State::Closed, _) => Step::reply(NOT_NOW),
        }
    }

    fn capabilities(&self) -> Vec<u8> {
        let authorization = matches!(self.state, State::Authorization { .. });
        capability_list(
            authorization && self.login_allowed(),
            authorization && self.config.stls_available && !self.tls,
        )
    }

    fn authorization(&mut self, cmd: Command) -> Step {
        match cmd {
            Command::Stls => {
                if self.tls {
                    Step::reply("-ERR Already using TLS")
                } else if !self.config.stls_available {
                    Step::reply("-ERR STLS not available")
                } else {
                    Step::reply("+OK Begin TLS negotiation").with(Action::StartTls)
                }
            }
            Command::Apop => Step::reply("-ERR APOP is not supported; use USER/PASS or AUTH"),
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !self.login_allowed() => {
                Step::reply(PLAINTEXT_REFUSED)
            }
            Command::User(name) => {
                self.state = State::Authorization {
                    user: Some(name),
                    sasl: None,
                };
                Step::reply("+OK Send your password")
            }
            Command::Pass(password) => {
                let State::Authorization { user, .. } = &mut self.state else {
                    return Step::reply(NOT_NOW);
                };
                // USER names no one to act for, so the cluster login is refused here.
                match user.take() {
                    Some(authcid) => self.begin_login(Credentials {
                        authzid: String::new(),
                        authcid,
                        password,
                    }),
                    None => Step::reply("-ERR USER first"),
                }
            }
            Command::Auth {
                mechanism: None, ..
            } => Step::reply("+OK Supported mechanisms follow\r\nPLAIN\r\nLOGIN\r\n."),
            Command::Auth {
                mechanism: Some(m),
                initial_response,
            } => match Mechanism::from_name(&m) {
                Some(mechanism) => {
                    let mut exchange = Exchange::new(mechanism, ferrymail_users::login_key)
                        .with_master(self.config.master_login.as_deref());
                    let step = exchange.begin(initial_response.as_deref());
                    self.sasl_step(exchange, step)
                }
                None => Step::reply("-ERR Unsupported authentication mechanism"),
            },
            _ => Step::reply(NOT_NOW),
        }
    }

    fn sasl_response(&mut self, mut exchange: Exchange, line: &[u8]) -> Step {
        let text = String::from_utf8_lossy(parser_strip(line)).into_owned();
        let step = exchange.respond(&text);
        self.sasl_step(exchange, step)
    }

    fn sasl_step(&mut self, exchange: Exchange, step: Result<SaslStep, SaslError>) -> Step {
        match step {
            Ok(SaslStep::Challenge(challenge)) => {
                self.state = State::Authorization {
                    user: None,
                    sasl: Some(exchange),
                };
                Step::reply(format!("+ {challenge}"))
            }
            Ok(SaslStep::Done(c)) => self.begin_login(c),
            Err(SaslError::Cancelled) => Step::reply("-ERR Authentication cancelled"),
            Err(SaslError::NotAuthorized) => {
                self.login_failed("-ERR [AUTH] Not authorized to act as another user".to_string())
            }
            Err(SaslError::Base64) => Step::reply("-ERR [AUTH] Invalid base64 in response"),
            Err(SaslError::Malformed) => Step::reply("-ERR [AUTH] Malformed response"),
        }
    }

    fn begin_login(&mut self, creds: Credentials) -> Step {
        self.state = State::Authenticating;
        Step::silent(Action::Login(creds))
    }

    fn login_failed(&mut self, reply: String) -> Step {
        self.auth_failures += 1;
        self.state = State::Authorization {
            user: None,
            sasl: None,
        };
        if self.auth_failures >= self.config.max_auth_failures {
            self.state = State::Closed;
            return Step::reply(format!("{reply}\r\n-ERR [AUTH] Too many failures, closing"))
                .with(Action::Close);
        }
        Step::reply(reply)
    }

    /// The outcome of [`Action::Login`].
    pub fn login_finished(&mut self, result: LoginResult) -> Step {
        if !matches!(self.state, State::Authenticating) {
            return Step::reply(NOT_NOW);
        }
        match result {
            LoginResult::Ok(messages) => {
                let deleted = vec![false; messages.len()];
                let octets: u64 = messages.iter().map(|m| m.size).sum();
                let n = messages.len();
                self.state = State::Transaction { messages, deleted };
                Step::reply(format!(
                    "+OK Logged in, maildrop has {n} messages ({octets} octets)"
                ))
            }
            LoginResult::BadCredentials => self.login_failed(AUTH_FAILED.to_string()),
            LoginResult::InUse => {
                self.state = State::Authorization {
                    user: None,
                    sasl: None,
                };
                Step::reply("-ERR [IN-USE] Maildrop is locked by another POP3 session")
            }
            LoginResult::Unavailable => {
                self.state = State::Authorization {
                    user: None,
                    sasl: None,
                };
                Step::reply("-ERR [SYS/TEMP] Maildrop is not available, try again later")
            }
        }
    }

    /// STLS handshake done: the client starts over in AUTHORIZATION (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.state = State::Authorization {
            user: None,
            sasl: None,
        };
    }

    /// The reply when [`Action::Send`] found the message gone (another client expunged it).
    pub fn message_unavailable(&self, index: usize) -> Vec<u8> {
        format!("-ERR Message {} is no longer available\r\n", index + 1).into_bytes()
    }

    /// The outcome of [`Action::Update`].
    pub fn update_finished(&mut self, removed: usize, failed: usize) -> Step {
        self.state = State::Closed;
        if failed == 0 {
            Step::reply(format!(
                "+OK {IMPLEMENTATION} POP3 server signing off ({removed} messages deleted)"
            ))
            .with(Action::Close)
        } else {
            Step::reply(format!(
                "-ERR [SYS/TEMP] {failed} deleted messages could not be removed"
            ))
            .with(Action::Close)
        }
    }

    fn transaction(&mut self, cmd: Command) -> Step {
        let State::Transaction { messages, deleted } = &mut self.state else {
            return Step::reply(NOT_NOW);
        };
        let live = || {
            messages
                .iter()
                .zip(deleted.iter())
                .enumerate()
                .filter(|(_, (_, &d))| !d)
                .map(|(i, (m, _))| (i, m))
        };
        match cmd {
            Command::Stat => {
                let (n, octets) = live().fold((0usize, 0u64), |(n, o), (_, m)| (n + 1, o + m.size));
                Step::reply(format!("+OK {n} {octets}"))
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(cmd, Command::Uidl(None));
                let mut out = if uidl {
                    b"+OK Unique-ID listing follows\r\n".to_vec()
                } else {
                    let (n, octets) =
                        live().fold((0usize, 0u64), |(n, o), (_, m)| (n + 1, o + m.size));
                    format!("+OK {n} messages ({octets} octets)\r\n").into_bytes()
                };
                out.reserve(messages.len() * if uidl { 64 } else { 16 });
                for (i, m) in live() {
                    let line = if uidl {
                        format!("{} {}\r\n", i + 1, m.uidl)
                    } else {
                        format!("{} {}\r\n", i + 1, m.size)
                    };
                    out.extend_from_slice(line.as_bytes());
                }
                out.extend_from_slice(b".\r\n");
                Step::bytes(out)
            }
            Command::List(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => Step::reply(format!("+OK {n} {}", messages[i].size)),
                Err(e) => Step::reply(e),
            },
            Command::Uidl(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => Step::reply(format!("+OK {n} {}", messages[i].uidl)),
                Err(e) => Step::reply(e),
            },
            Command::Retr(n) => match lookup(messages, deleted, n) {
                Ok(i) => Step::silent(Action::Send {
                    index: i,
                    top: None,
                    mark_seen: true,
                    ok_line: format!("+OK {} octets\r\n", messages[i].size),
                }),
                Err(e) => Step::reply(e),
            },
            Command::Top(n, lines) => match lookup(messages, deleted, n) {
                Ok(i) => Step::silent(Action::Send {
                    index: i,
                    top: Some(lines),
                    mark_seen: false,
                    ok_line: "+OK Top of message follows\r\n".to_string(),
                }),
                Err(e) => Step::reply(e),
            },
            Command::Dele(n) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    deleted[i] = true;
                    Step::reply(format!("+OK Message {n} deleted"))
                }
                Err(e) => Step::reply(e),
            },
            Command::Noop => Step::reply("+OK"),
            Command::Rset => {
                deleted.iter_mut().for_each(|d| *d = false);
                let octets: u64 = messages.iter().map(|m| m.size).sum();
                Step::reply(format!(
                    "+OK Maildrop has {} messages ({octets} octets)",
                    messages.len()
                ))
            }
            Command::Quit => {
                let delete: Vec<usize> = deleted
                    .iter()
                    .enumerate()
                    .filter(|(_, &d)| d)
                    .map(|(i, _)| i)
                    .collect();
                self.state = State::Update;
                Step::silent(Action::Update { delete })
            }
            Command::User(_)
            | Command::Pass(_)
            | Command::Auth { .. }
            | Command::Apop
            | Command::Stls => Step::reply("-ERR Already authenticated"),
            Command::Capa => Step::bytes(self.capabilities()),
        }
    }
}

fn parser_strip(line: &[u8]) -> &[u8] {
    ferrymail_net::lines::strip_eol(line)
}

/// The 0-based index of message `n`, or the `-ERR` reply.
fn lookup(messages: &[MessageInfo], deleted: &[bool], n: MsgNum) -> Result<usize, String> {
    let i = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < messages.len());
    match i {
        None => Err(format!(
            "-ERR No such message {n} (maildrop has {})",
            messages.len()
        )),
        Some(i) if deleted.get(i).copied().unwrap_or(false) => {
            Err(format!("-ERR Message {n} is deleted"))
        }
        Some(i) => Ok(i),
    }
}

/// A UIDL value for a Maildir base name: the base itself when RFC 1939 allows it (1–70
/// characters in 0x21..=0x7E), which is the case for every name Dovecot or ferrymail
/// writes on a host name of sane length; otherwise a stable digest of it, so the value is
/// still a pure function of the file name and survives across sessions.
pub fn uidl_for_base(base: &str) -> String {
    let ok =
        !base.is_empty() && base.len() <= 70 && base.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        return base.to_owned();
    }
    // Two independent FNV-1a 64-bit hashes: 128 bits, collision-free in practice.
    let fnv = |seed: u64| {
        base.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "H{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x84222325_cbf29ce4)
    )
}

/// The CAPA answer (RFC 2449): `login` offers USER and SASL, `stls` offers STLS. Shared with
/// the front end, which answers CAPA before a session has a backend.
pub fn capability_list(login: bool, stls: bool) -> Vec<u8> {
    let mut caps = vec![
        "+OK Capability list follows",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
    ];
    if login {
        caps.push("USER");
        caps.push("SASL PLAIN LOGIN");
    }
    if stls {
        caps.push("STLS");
    }
    let implementation = format!("IMPLEMENTATION {IMPLEMENTATION}");
    caps.push(&implementation);
    caps.push(".");
    let mut out = caps.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests;
