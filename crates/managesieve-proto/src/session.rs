//! The ManageSieve session state machine (RFC 5804 §2-3), sans-IO: it takes framed input and
//! returns the reply plus what the connection must do next ([`Action`]): upgrade to TLS,
//! check a password, run a storage [`Request`], or close. Non-authenticated → (AUTHENTICATE)
//! → authenticated → (UNAUTHENTICATE) back, LOGOUT from either.
//!
//! Passwords only over TLS, as on the other ports: before STARTTLS the SASL capability is
//! empty and AUTHENTICATE is refused with `ENCRYPT-NEEDED`, unless the connection's policy
//! allows plaintext (loopback, for local tools).

use ferrymail_net::sasl::{Credentials, Exchange, Mechanism, Step as SaslStep};

use crate::command::{self, Command, ParseError};
use crate::framing::Frame;
use crate::response::{self, Capabilities, Code};
use crate::storage::Request;

/// Per-connection policy.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The `IMPLEMENTATION` capability.
    pub implementation: String,
    pub starttls_available: bool,
    /// Passwords accepted without TLS (loopback policy).
    pub plaintext_auth_ok: bool,
    /// Failed logins before the connection is closed.
    pub max_auth_failures: u32,
    /// The user database's login normalisation, for the SASL authorization rule.
    pub login_key: fn(&str) -> String,
    /// The `MAXREDIRECTS` capability: delivery's `[delivery.sieve] max_redirects`.
    pub max_redirects: usize,
    /// The cluster login, which may act as any user (`[cluster]`); None outside a cluster.
    pub master_login: Option<String>,
}

/// What the connection does after sending [`Step::reply`].
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Send the reply, then close.
    Close,
    /// Send the reply, discard buffered input, handshake, then [`Session::tls_started`].
    StartTls,
    /// Check the credentials, then [`Session::login_finished`].
    Login(Credentials),
    /// Run the request (blocking) and send its reply.
    Storage(Request),
}

#[derive(Debug)]
pub struct Step {
    pub reply: Vec<u8>,
    pub action: Action,
}

impl Step {
    fn reply(reply: Vec<u8>) -> Step {
        Step {
            reply,
            action: Action::None,
        }
    }
}

/// How a password check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    /// Logged in as this (normalised) login; its storage is ready.
    Ok(String),
    BadCredentials,
    /// The account exists but cannot be served (the text says why).
    Refused(String),
    /// A temporary failure.
    Unavailable,
}

#[derive(Debug)]
enum State {
    NotAuthenticated { sasl: Option<Exchange> },
    Authenticated { user: String },
    Logout,
}

#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    tls: bool,
    failures: u32,
}

impl Session {
    pub fn new(config: SessionConfig, tls: bool) -> Session {
        Session {
            config,
            state: State::NotAuthenticated { sasl: None },
            tls,
            failures: 0,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated { .. })
    }

    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } => Some(user),
            _ => None,
        }
    }

    fn passwords_ok(&self) -> bool {
        self.tls || self.config.plaintext_auth_ok
    }

    fn capabilities(&self) -> Capabilities {
        let sasl = match self.passwords_ok() && !self.is_authenticated() {
            true => Mechanism::ALL.iter().map(|m| m.name()).collect(),
            false => Vec::new(),
        };
        Capabilities {
            implementation: self.config.implementation.clone(),
            sasl,
            sieve: ferrymail_sieve::CAPABILITIES.to_vec(),
            starttls: self.config.starttls_available && !self.tls,
            max_redirects: self.config.max_redirects,
            owner: self.user().map(str::to_owned),
        }
    }

    /// The greeting: the capability listing.
    pub fn greeting(&self) -> Vec<u8> {
        let mut out = Vec::new();
        response::capabilities(&mut out, &self.capabilities());
        out
    }

    /// After the TLS handshake: the capabilities again (RFC 5804 §2.2).
    pub fn tls_started(&mut self) -> Vec<u8> {
        self.tls = true;
        self.greeting()
    }

    pub fn idle_timeout(&mut self) -> Vec<u8> {
        self.state = State::Logout;
        let mut out = Vec::new();
        response::bye(&mut out, "Disconnected for inactivity");
        out
    }

    pub fn shutting_down(&mut self) -> Vec<u8> {
        self.state = State::Logout;
        let mut out = Vec::new();
        response::bye(&mut out, "Server shutting down");
        out
    }

    /// The reply to the connection-limit refusal, before any session exists.
    pub fn busy() -> Vec<u8> {
        let mut out = Vec::new();
        response::bye(&mut out, "Too many connections, try again later");
        out
    }

    /// One frame of client input.
    pub fn frame(&mut self, frame: Frame) -> Step {
        let mut out = Vec::new();
        let bytes = match frame {
            Frame::Command(b) => b,
            Frame::LiteralTooLarge => {
                self.cancel_sasl();
                response::no(&mut out, Some(Code::QuotaMaxSize), "Literal too large");
                return Step::reply(out);
            }
            Frame::LineTooLong => {
                self.state = State::Logout;
                response::bye(&mut out, "Line too long");
                return Step {
                    reply: out,
                    action: Action::Close,
                };
            }
        };
        if let State::NotAuthenticated { sasl } = &mut self.state {
            if let Some(exchange) = sasl.take() {
                return self.sasl_response(exchange, &bytes);
            }
        }
        match command::parse(&bytes) {
            Ok(cmd) => self.command(cmd),
            Err(ParseError::Empty) => Step::reply(Vec::new()),
            Err(e) => {
                let text = match e {
                    ParseError::Unknown => "Unknown command".to_owned(),
                    e => format!("Syntax error: {e}"),
                };
                response::no(&mut out, None, &text);
                Step::reply(out)
            }
        }
    }

    fn cancel_sasl(&mut self) {
        if let State::NotAuthenticated { sasl } = &mut self.state {
            *sasl = None;
        }
    }

    fn command(&mut self, cmd: Command) -> Step {
        let mut out = Vec::new();
        let authed = self.is_authenticated();
        match cmd {
            Command::Capability => response::capabilities(&mut out, &self.capabilities()),
            Command::Noop(tag) => match tag {
                Some(t) => {
                    response::reply(&mut out, response::Kind::Ok, Some(&Code::Tag(t)), "Done")
                }
                None => response::ok(&mut out, "Done"),
            },
            Command::Logout => {
                self.state = State::Logout;
                response::ok(&mut out, "Logout completed");
                return Step {
                    reply: out,
                    action: Action::Close,
                };
            }
            Command::StartTls if authed => response::no(&mut out, None, "Already authenticated"),
            Command::StartTls if self.tls => response::no(&mut out, None, "TLS already active"),
            Command::StartTls if !self.config.starttls_available => {
                response::no(&mut out, None, "TLS is not available")
            }
            Command::StartTls => {
                response::ok(&mut out, "Begin TLS negotiation now");
                return Step {
                    reply: out,
                    action: Action::StartTls,
                };
            }
            Command::Authenticate { .. } if authed => {
                response::no(&mut out, None, "Already authenticated")
            }
            Command::Authenticate { mechanism, initial } => {
                return self.authenticate(&mechanism, initial)
            }
            Command::Unauthenticate if authed => {
                self.state = State::NotAuthenticated { sasl: None };
                response::ok(&mut out, "");
            }
            _ if !authed => response::no(&mut out, None, "Authenticate first"),
            cmd => return self.authenticated(cmd),
        }
        Step::reply(out)
    }

    fn authenticate(&mut self, mechanism: &str, initial: Option<Vec<u8>>) -> Step {
        let mut out = Vec::new();
        if !self.passwords_ok() {
            response::no(
                &mut out,
                Some(Code::EncryptNeeded),
                "Use STARTTLS before authenticating",
            );
            return Step::reply(out);
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            response::no(&mut out, None, "Unsupported SASL mechanism");
            return Step::reply(out);
        };
        let mut exchange = Exchange::new(mech, self.config.login_key)
            .with_master(self.config.master_login.as_deref());
        let initial = initial.map(|ir| String::from_utf8_lossy(&ir).into_owned());
        let step = exchange.begin(initial.as_deref());
        self.sasl_step(exchange, step)
    }

    fn sasl_response(&mut self, mut exchange: Exchange, bytes: &[u8]) -> Step {
        let step = match command::parse_sasl_response(bytes) {
            Ok(r) => exchange.respond(&String::from_utf8_lossy(&r)),
            Err(_) => Err(ferrymail_net::sasl::SaslError::Malformed),
        };
        self.sasl_step(exchange, step)
    }

    fn sasl_step(
        &mut self,
        exchange: Exchange,
        step: Result<SaslStep, ferrymail_net::sasl::SaslError>,
    ) -> Step {
        let mut out = Vec::new();
        match step {
            Ok(SaslStep::Challenge(c)) => {
                response::string(&mut out, c.as_bytes());
                out.extend_from_slice(b"\r\n");
                self.state = State::NotAuthenticated {
                    sasl: Some(exchange),
                };
                Step::reply(out)
            }
            Ok(SaslStep::Done(creds)) => Step {
                reply: out,
                action: Action::Login(creds),
            },
            Err(ferrymail_net::sasl::SaslError::Cancelled) => {
                response::no(&mut out, None, "Authentication cancelled");
                Step::reply(out)
            }
            Err(e) => self.failed(&format!("Authentication failed: {e}")),
        }
    }

    fn failed(&mut self, text: &str) -> Step {
        let mut out = Vec::new();
        self.failures += 1;
        if self.failures >= self.config.max_auth_failures.max(1) {
            self.state = State::Logout;
            response::bye(&mut out, "Too many failed logins");
            return Step {
                reply: out,
                action: Action::Close,
            };
        }
        response::no(&mut out, None, text);
        Step::reply(out)
    }

    /// The password check's outcome.
    pub fn login_finished(&mut self, result: LoginResult) -> Step {
        let mut out = Vec::new();
        match result {
            LoginResult::Ok(user) => {
                self.state = State::Authenticated { user };
                response::ok(&mut out, "Logged in");
                Step::reply(out)
            }
            LoginResult::BadCredentials => self.failed("Authentication failed"),
            LoginResult::Refused(why) => {
                response::no(&mut out, None, &why);
                Step::reply(out)
            }
            LoginResult::Unavailable => {
                response::no(
                    &mut out,
                    Some(Code::TryLater),
                    "Temporary failure, try again later",
                );
                Step::reply(out)
            }
        }
    }

    fn authenticated(&mut self, cmd: Command) -> Step {
        let mut out = Vec::new();
        let request = match cmd {
            Command::ListScripts => Request::List,
            Command::GetScript(n) => Request::Get(n),
            Command::SetActive(n) => Request::SetActive(n),
            Command::DeleteScript(n) => Request::Delete(n),
            Command::RenameScript(a, b) => Request::Rename(a, b),
            Command::HaveSpace(n, size) => Request::HaveSpace(n, size),
            Command::CheckScript(script) => {
                match check(&script) {
                    Ok(()) => response::ok(&mut out, ""),
                    Err(e) => response::no(&mut out, None, &e),
                }
                return Step::reply(out);
            }
            Command::PutScript { name, script } => match check(&script) {
                Ok(()) => Request::Put { name, script },
                Err(e) => {
                    response::no(&mut out, None, &e);
                    return Step::reply(out);
                }
            },
            _ => {
                response::no(&mut out, None, "Not allowed now");
                return Step::reply(out);
            }
        };
        Step {
            reply: out,
            action: Action::Storage(request),
        }
    }
}

/// A script's verdict: it must be UTF-8 and parse; the error names the line.
pub fn check(script: &[u8]) -> Result<(), String> {
    let src = std::str::from_utf8(script).map_err(|_| "Script is not UTF-8".to_owned())?;
    ferrymail_sieve::Script::parse(src)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
