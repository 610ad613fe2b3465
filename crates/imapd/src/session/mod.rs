//! One client connection: the tokio shell around `ferrymail-imap-proto`'s session state
//! machine. The shell reads commands off the wire ([`read`]), runs them through the state
//! machine on the blocking pool (the Maildir store does file I/O) while streaming the
//! output back, and does what the state machine hands back to it: password checks and
//! handing Unix accounts to their session child ([`login`]), the TLS handshake, IDLE
//! ([`idle`]) and APPENDs too large to hold in memory ([`read`]).

mod idle;
mod login;
mod read;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_imap_proto::response::{Code, Kind, Response, Status};
use ferrymail_imap_proto::session::{Action, MetadataLimits, Output, Policy, Session as Proto};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_spawn::session_stream::SessionStream;
use ferrymail_users::UserDb;
use tokio::sync::mpsc;

use crate::conn::Conn;
use crate::mailbox::Hub;
use crate::spawner::Spawner;
use crate::store::MaildirStorage;
use login::{Handoff, UserSlot};
use read::Incoming;

pub use login::run_relayed;

/// Size of the chunks a command's output (a large FETCH) is streamed in: each is one hand-over
/// between the thread producing it and the connection's task, so not too small either.
const OUTPUT_CHUNK: usize = 256 * 1024;

/// What every session shares.
pub struct Ctx {
    pub config: Arc<Config>,
    /// None in a session child, which never checks passwords.
    pub users: Option<UserDb>,
    /// Serves Unix accounts in per-login children; None when imapd is not root (they are
    /// then served in-process) or in a session child.
    pub spawner: Option<Arc<Spawner>>,
    pub hub: Arc<Hub>,
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub user_conns: Mutex<HashMap<String, usize>>,
    pub shutdown: Shutdown,
}

type ProtoSession = Proto<MaildirStorage>;

pub struct Session {
    ctx: Arc<Ctx>,
    info: ConnInfo,
    conn: Conn,
    /// The state machine; None only while a command runs on the blocking pool.
    proto: Option<Box<ProtoSession>>,
    /// Output not yet written.
    out: Vec<u8>,
    /// The logged-in user's name (for the log) and connection slot.
    user: Option<(String, Option<UserSlot>)>,
    shutdown: Shutdown,
    /// Boxed: only Unix-account logins use it, and every idle session pays for its size.
    handoff: Option<Box<Handoff>>,
}

/// Serves one accepted connection to its end.
pub async fn run(tcp: tokio::net::TcpStream, info: ConnInfo, admission: Admission, ctx: Arc<Ctx>) {
    let _guard = match admission {
        Ok(g) => g,
        Err(r) => {
            let mut tcp = tcp;
            let bye = Response::Status(Status::untagged(
                Kind::Bye,
                Some(Code::Unavailable),
                format!("Too many connections ({r:?})"),
            ));
            let _ = tokio::io::AsyncWriteExt::write_all(&mut tcp, &bye.to_bytes()).await;
            return;
        }
    };
    let mut stream = MaybeTls::Plain(tcp);
    if info.role.implicit_tls() {
        let Some(tls) = &ctx.tls else {
            tracing::warn!("implicit TLS listener without a certificate");
            return;
        };
        if !stream
            .accept_tls(&tls.acceptor(), Duration::from_secs(60))
            .await
        {
            return;
        }
    }
    let shutdown = ctx.shutdown.clone();
    let mut s = Session::new(ctx, info, SessionStream::Net(stream));
    let greeting = s.proto().greeting();
    s.push(&greeting);
    if s.flush().await.is_ok() {
        s.command_loop().await;
    }
    if let Some(h) = s.handoff.take() {
        login::relay(s.conn, &s.info, h, shutdown).await;
    }
    tracing::debug!("session ended");
}

impl Session {
    fn new(ctx: Arc<Ctx>, info: ConnInfo, stream: SessionStream) -> Session {
        let shutdown = ctx.shutdown.clone();
        let mut s = Session {
            ctx,
            info,
            conn: Conn::new(stream),
            proto: None,
            out: Vec::new(),
            user: None,
            shutdown,
            handoff: None,
        };
        s.proto = Some(Box::new(Proto::new(s.policy())));
        s
    }

    fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// What this connection allows, from the configuration and the transport.
    fn policy(&self) -> Policy {
        let limits = &self.config().imapd.limits;
        Policy {
            tls_active: self.conn.stream.is_tls(),
            starttls: self.ctx.tls.is_some(),
            plaintext_auth: limits.plaintext_auth_on_loopback && self.info.is_loopback(),
            mechanisms: ferrymail_net::sasl::Mechanism::ALL
                .iter()
                .map(|m| m.name().to_owned())
                .collect(),
            max_auth_failures: limits.max_auth_failures,
            metadata: MetadataLimits {
                max_value: self.config().imapd.metadata_max_value,
                max_entries: self.config().imapd.metadata_max_entries,
            },
            max_message: self.config().imapd.max_literal,
            max_search_updates: self.config().imapd.max_search_updates,
        }
    }

    /// The state machine. Absent only while `with_proto` runs it (which holds `&mut self`
    /// throughout) or after a command panicked, when the connection is closing anyway.
    fn proto(&mut self) -> &mut ProtoSession {
        let policy = self.policy();
        self.proto
            .get_or_insert_with(|| Box::new(Proto::new(policy)))
    }

    fn push(&mut self, r: &Response) {
        r.encode(&mut self.out);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.conn.write(&out).await
    }

    /// Runs `f` on the state machine on the blocking pool (the store does file I/O), writing
    /// its output to the client as it is produced. Err: the client is gone.
    async fn with_proto<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut ProtoSession, &mut Output) -> R + Send + 'static,
    ) -> std::io::Result<R> {
        self.flush().await?;
        let Some(mut proto) = self.proto.take() else {
            // A command panicked: nothing to continue with.
            return Err(std::io::Error::other("no session state"));
        };
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let task = tokio::task::spawn_blocking(move || {
            let mut out =
                Output::with_sink(OUTPUT_CHUNK, move |chunk| tx.blocking_send(chunk).is_ok());
            let r = f(&mut proto, &mut out);
            let rest = out.take();
            (proto, r, rest)
        });
        let mut failed = None;
        while let Some(chunk) = rx.recv().await {
            if failed.is_none() {
                failed = self.conn.write(&chunk).await.err();
            }
        }
        let (proto, r, rest) = task.await.map_err(std::io::Error::other)?;
        self.proto = Some(proto);
        if let Some(e) = failed {
            return Err(e);
        }
        self.out.extend_from_slice(&rest);
        Ok(r)
    }

    async fn command_loop(&mut self) {
        let login_deadline = tokio::time::Instant::now() + self.config().imapd.login_timeout;
        loop {
            let mut timeout = self.config().imapd.idle_timeout;
            let before_login = self.user.is_none();
            if before_login {
                // Before login the whole session, not just each read, is bounded: a client
                // trickling bytes must not hold a connection for the 30-minute autologout.
                timeout = timeout
                    .min(login_deadline.saturating_duration_since(tokio::time::Instant::now()));
            }
            let mut shutdown = self.shutdown.clone();
            let incoming = tokio::select! {
                r = tokio::time::timeout(timeout, self.read_command()) => r,
                _ = shutdown.wait() => {
                    self.push(&Response::bye("Server shutting down"));
                    let _ = self.flush().await;
                    return;
                }
            };
            let action = match incoming {
                Err(_) => {
                    let text = if before_login {
                        "Login timeout"
                    } else {
                        "Autologout; idle for too long"
                    };
                    self.push(&Response::bye(text));
                    Action::Close
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "read failed");
                    return;
                }
                Ok(Ok(Incoming::Eof)) => return,
                Ok(Ok(Incoming::Fatal(msg))) => {
                    self.push(&Response::bye(msg));
                    Action::Close
                }
                Ok(Ok(Incoming::Refused(r))) => {
                    self.push(&r);
                    Action::Continue
                }
                Ok(Ok(Incoming::StreamedAppend(a))) => {
                    let a = *a;
                    match self.with_proto(move |p, out| a.finish(p, out)).await {
                        Ok(()) => Action::Continue,
                        Err(_) => return,
                    }
                }
                Ok(Ok(Incoming::Command(bytes))) => {
                    match self.with_proto(move |p, out| p.handle(&bytes, out)).await {
                        Ok(a) => a,
                        Err(_) => return,
                    }
                }
            };
            let close = match self.act(action).await {
                Ok(close) => close,
                Err(_) => return,
            };
            if self.flush().await.is_err() || close {
                return;
            }
        }
    }

    /// Does what the state machine asked for. Ok(true): close the connection.
    async fn act(&mut self, action: Action) -> std::io::Result<bool> {
        match action {
            Action::Continue => Ok(false),
            Action::Close => {
                let logged_out = self.proto().is_logged_out();
                if let (Some((login, _)), true) = (&self.user, logged_out) {
                    tracing::info!(user = %login, "logged out");
                }
                Ok(true)
            }
            Action::StartTls => self.starttls().await,
            Action::Login {
                tag,
                user,
                password,
            } => {
                // LOGIN names no one to act for, so the cluster login is refused here.
                let creds = ferrymail_net::sasl::Credentials {
                    authzid: String::new(),
                    authcid: user,
                    password,
                };
                self.finish_login(tag, creds).await
            }
            Action::Authenticate {
                tag,
                mechanism,
                initial,
            } => self.authenticate(tag, mechanism, initial).await,
            Action::Idle { tag } => self.idle(tag).await,
            Action::Compress => {
                // The tagged OK goes out as it is; everything after it is compressed.
                self.flush().await?;
                self.conn.start_compression()?;
                Ok(false)
            }
        }
    }

    async fn starttls(&mut self) -> std::io::Result<bool> {
        self.flush().await?;
        let Some(tls) = self.ctx.tls.clone() else {
            return Ok(true);
        };
        if self.conn.buffered() > 0 {
            // Bytes pipelined after STARTTLS would be injected into the TLS session
            // (CVE-2011-0411): refuse them by closing.
            tracing::info!("client sent data after STARTTLS; closing");
            return Ok(true);
        }
        let acceptor = tls.acceptor();
        match tokio::time::timeout(Duration::from_secs(60), self.conn.stream.upgrade(&acceptor))
            .await
        {
            Ok(Ok(())) => {
                if let Some(d) = self.conn.stream.tls_description() {
                    tracing::info!(tls = %d, "STARTTLS");
                }
                self.proto().tls_started();
                Ok(false)
            }
            _ => Err(std::io::Error::other("TLS handshake failed")),
        }
    }
}
