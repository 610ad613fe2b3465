//! LMTP over TCP (`delivery.lmtp_listen`), sans-IO: what the Unix socket's permissions
//! guarantee there, a TCP peer must prove before any transaction — STARTTLS first, then AUTH
//! PLAIN as the cluster login (`[cluster]`). Nobody else may authenticate: ordinary users
//! have no business delivering here. The Unix socket has no gate.

use ferrymail_net::cluster::{ClusterAuth, ClusterLogin};
use ferrymail_net::sasl::{Exchange, Mechanism, SaslError, Step as SaslStep};
use ferrymail_smtp::{Command, Reply};

/// The gate's answer to one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Reply(Reply),
    /// A refusal the session counts among its protocol errors.
    Error(Reply),
    /// Send the reply, then run the TLS handshake.
    StartTls(Reply),
}

#[derive(Debug)]
pub struct Gate {
    cluster: ClusterAuth,
    tls: bool,
    authenticated: bool,
    /// An AUTH exchange waiting for the client's response line.
    sasl: Option<Exchange>,
}

impl Gate {
    pub fn new(cluster: ClusterAuth) -> Gate {
        Gate {
            cluster,
            tls: false,
            authenticated: false,
            sasl: None,
        }
    }

    /// The LHLO keyword of the next step the peer must take, if any.
    pub fn keyword(&self) -> Option<&'static str> {
        match (self.tls, self.authenticated) {
            (false, _) => Some("STARTTLS"),
            (true, false) => Some("AUTH PLAIN"),
            (true, true) => None,
        }
    }

    /// Whether the next line is a SASL response for [`Gate::response`], not a command.
    pub fn awaiting_response(&self) -> bool {
        self.sasl.is_some()
    }

    /// The TLS handshake after STARTTLS succeeded; the peer starts over (RFC 3207 §4.2).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.authenticated = false;
        self.sasl = None;
    }

    /// Answers the commands the gate owns (STARTTLS, AUTH, and MAIL until AUTH succeeded);
    /// `None` leaves the command to the session.
    pub fn command(&mut self, cmd: &Command, greeted: bool) -> Option<Answer> {
        let error =
            |code, enhanced, text: &str| Some(Answer::Error(Reply::new(code, enhanced, text)));
        match cmd {
            Command::StartTls if self.tls => error(503, "5.5.1", "TLS already active"),
            Command::StartTls => Some(Answer::StartTls(Reply::new(
                220,
                "2.0.0",
                "Ready to start TLS",
            ))),
            Command::Auth { .. } if !self.tls => {
                error(530, "5.7.0", "Must issue a STARTTLS command first")
            }
            Command::Auth { .. } if !greeted => error(503, "5.5.1", "send LHLO first"),
            Command::Auth { .. } if self.authenticated => {
                error(503, "5.5.1", "already authenticated")
            }
            Command::Auth { mechanism, initial } => {
                if Mechanism::from_name(mechanism) != Some(Mechanism::Plain) {
                    return error(504, "5.5.4", "only AUTH PLAIN here");
                }
                let mut exchange = Exchange::new(Mechanism::Plain, ferrymail_users::login_key)
                    .with_master(Some(self.cluster.login()));
                let step = exchange.begin(initial.as_deref());
                Some(self.sasl_step(exchange, step))
            }
            Command::Mail { .. } if !self.authenticated => {
                error(530, "5.7.0", "Authentication required")
            }
            _ => None,
        }
    }

    /// The client's response to a `334` challenge.
    pub fn response(&mut self, line: &[u8]) -> Answer {
        let Some(mut exchange) = self.sasl.take() else {
            return Answer::Error(Reply::new(503, "5.5.1", "no authentication in progress"));
        };
        let step = exchange.respond(&String::from_utf8_lossy(line));
        self.sasl_step(exchange, step)
    }

    fn sasl_step(&mut self, exchange: Exchange, step: Result<SaslStep, SaslError>) -> Answer {
        let refused = || {
            Answer::Error(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            ))
        };
        match step {
            Ok(SaslStep::Challenge(challenge)) => {
                self.sasl = Some(exchange);
                Answer::Reply(Reply::plain(334, challenge))
            }
            Ok(SaslStep::Done(creds)) => match self.cluster.check(&creds) {
                ClusterLogin::Accepted { .. } => {
                    self.authenticated = true;
                    tracing::info!(user = %creds.authcid, via = "cluster", "LMTP peer authenticated");
                    Answer::Reply(Reply::new(235, "2.7.0", "Authentication successful"))
                }
                ClusterLogin::Refused | ClusterLogin::NotCluster => {
                    tracing::warn!(user = %creds.authcid, "cluster login refused");
                    refused()
                }
            },
            Err(SaslError::Cancelled) => {
                Answer::Error(Reply::new(501, "5.0.0", "Authentication cancelled"))
            }
            Err(SaslError::NotAuthorized) => refused(),
            Err(SaslError::Base64 | SaslError::Malformed) => {
                Answer::Error(Reply::new(501, "5.5.2", "Invalid authentication data"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::session::{Session, SessionConfig, Step};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn session(dir: &std::path::Path) -> (Session, ClusterAuth) {
        let path = dir.join("secret");
        std::fs::write(&path, SECRET).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cluster = ClusterAuth::load(&ferrymail_config::Cluster {
            secret_file: Some(path),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        let cfg = SessionConfig {
            hostname: "b1.test".into(),
            max_message_size: 1000,
            max_recipients: 10,
            max_errors: 10,
        };
        (Session::over_tcp(cfg, cluster.clone()), cluster)
    }

    fn line(s: &mut Session, text: &str) -> Step {
        s.command(format!("{text}\r\n").as_bytes(), &mut |_| Ok(()))
    }

    fn reply(step: Step) -> (u16, String) {
        match step {
            Step::Reply(r) | Step::Data(r) | Step::Close(r) | Step::StartTls(r) => {
                (r.code, r.lines.join("\n"))
            }
        }
    }

    #[test]
    fn tls_then_the_cluster_login_before_any_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, cluster) = session(dir.path());
        let (_, lhlo) = reply(line(&mut s, "LHLO mx1"));
        assert!(
            lhlo.contains("STARTTLS") && !lhlo.contains("AUTH"),
            "{lhlo}"
        );
        assert_eq!(reply(line(&mut s, "MAIL FROM:<a@b>")).0, 530);
        assert_eq!(
            reply(line(
                &mut s,
                &format!("AUTH PLAIN {}", cluster.plain_response(""))
            ))
            .0,
            530
        );
        assert!(matches!(line(&mut s, "STARTTLS"), Step::StartTls(_)));
        s.tls_started();
        // The client greets again; only now AUTH is offered.
        assert_eq!(reply(line(&mut s, "AUTH PLAIN =")).0, 503);
        let (_, lhlo) = reply(line(&mut s, "LHLO mx1"));
        assert!(
            lhlo.contains("AUTH PLAIN") && !lhlo.contains("STARTTLS"),
            "{lhlo}"
        );
        assert_eq!(reply(line(&mut s, "STARTTLS")).0, 503);
        assert_eq!(reply(line(&mut s, "AUTH LOGIN")).0, 504);
        let user = ferrymail_net::sasl::encode(b"\0joe@a.test\0pw");
        assert_eq!(reply(line(&mut s, &format!("AUTH PLAIN {user}"))).0, 535);
        // Without an initial response: a 334 challenge, then the response line.
        assert_eq!(reply(line(&mut s, "AUTH PLAIN")).0, 334);
        assert_eq!(reply(line(&mut s, &cluster.plain_response(""))).0, 235);
        let (_, lhlo) = reply(line(&mut s, "LHLO mx1"));
        assert!(!lhlo.contains("AUTH"), "{lhlo}");
        assert_eq!(reply(line(&mut s, "MAIL FROM:<a@b>")).0, 250);
    }

    #[test]
    fn the_unix_socket_has_no_gate() {
        let mut s = Session::new(SessionConfig {
            hostname: "b1.test".into(),
            max_message_size: 1000,
            max_recipients: 10,
            max_errors: 10,
        });
        let (_, lhlo) = reply(line(&mut s, "LHLO mx1"));
        assert!(
            !lhlo.contains("STARTTLS") && !lhlo.contains("AUTH"),
            "{lhlo}"
        );
        assert_eq!(reply(line(&mut s, "STARTTLS")).0, 502);
        assert_eq!(reply(line(&mut s, "MAIL FROM:<a@b>")).0, 250);
    }
}
