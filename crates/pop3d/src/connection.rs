//! The thin tokio layer around [`Session`]: reads lines (length-limited, with the idle
//! timeout), writes replies (batched while the client pipelines), and carries out the
//! session's actions: TLS upgrades, logins on the blocking pool with back-off, streaming
//! messages from the Maildir, and the UPDATE-state deletions.
//!
//! The same loop runs in a per-login session child ([`serve_relayed`], a Unix account's
//! session as the account): there the bytes come over the Unix socket from the main
//! process, which, after the password checked out, hands the connection over and relays it
//! (`ferrymail_spawn::relay`), keeping TLS.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_net::auth_throttle::{AuthThrottle, LoginCheck};
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::sasl::Credentials;
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_spawn::session_stream::SessionStream;
use ferrymail_spawn::Spawner;
use ferrymail_users::{Account, MailboxLocation, UserDb};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

use crate::maildrop::{self, LockTable, Maildrop, MaildropError, SizeCache};
use crate::mboxdrop::MboxDrop;
use crate::session::{Action, LoginResult, Session, SessionConfig};
use crate::transfer::Encoder;

/// Output is sent once this much is pending even while the client is still pipelining.
const FLUSH_AT: usize = 64 * 1024;

/// Everything sessions share.
pub struct Context {
    pub config: Arc<Config>,
    /// `None` in a session child, which never checks a password.
    pub userdb: Option<UserDb>,
    /// `None` in a session child: TLS stays with the main process.
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub locks: LockTable,
    pub sizes: SizeCache,
    /// Starts session children for Unix accounts; present when pop3d started as root with
    /// `userdb.unix_accounts` on.
    pub spawner: Option<Arc<Spawner>>,
    pub shutdown: Shutdown,
}

type Io = BufReader<SessionStream>;

/// What the main process tells a session child about the connection it relays (the first
/// line on the child's socket): pop3d needs nothing beyond the shared part.
pub use ferrymail_spawn::child::ConnHeader as RelayHeader;

/// How the session loop ended.
enum Ended {
    Closed,
    /// A Unix account's login: the session child running as the account takes over.
    HandOff {
        sock: UnixStream,
        user: String,
    },
}

/// Why a connection ended early; logged, never sent.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Internal(&'static str),
}

/// Serves one accepted connection to its end.
pub async fn handle(ctx: Arc<Context>, tcp: TcpStream, info: ConnInfo, admission: Admission) {
    let _guard = match admission {
        Ok(g) => g,
        Err(_) => {
            let mut tcp = tcp;
            if !info.role.implicit_tls() {
                let _ = tcp.write_all(&Session::busy()).await;
            }
            return;
        }
    };
    match run(&ctx, tcp, &info).await {
        Ok(()) => tracing::debug!("connection closed"),
        Err(e) => tracing::info!(error = %e, "connection ended"),
    }
}

async fn run(ctx: &Context, tcp: TcpStream, info: &ConnInfo) -> Result<(), ConnError> {
    let cfg = &ctx.config.pop3d;
    let mut stream = SessionStream::Net(MaybeTls::Plain(tcp));
    let implicit = info.role.implicit_tls();
    if implicit {
        handshake(ctx, &mut stream).await?;
    }
    let session_cfg = SessionConfig {
        stls_available: !implicit,
        plaintext_login_ok: cfg.limits.plaintext_auth_on_loopback && info.is_loopback(),
        max_auth_failures: cfg.limits.max_auth_failures.max(1),
        master_login: ctx.throttle.master_login().map(str::to_owned),
    };
    let mut session = Session::new(session_cfg, implicit);
    let mut io: Io = BufReader::with_capacity(16 * 1024, stream);
    let greeting = session.greeting();
    let (sock, user) = match serve(
        ctx,
        info,
        &mut io,
        &mut session,
        greeting,
        None,
        String::new(),
    )
    .await?
    {
        Ended::Closed => return Ok(()),
        Ended::HandOff { sock, user } => (sock, user),
    };
    // What the client pipelined behind its login is the child's to answer.
    let pending = io.buffer().to_vec();
    let client = io.into_inner();
    let header = RelayHeader::new(info, client.is_tls());
    let mut first = ferrymail_spawn::child::header_line(&header);
    first.extend_from_slice(&pending);
    drop(pending);
    // A child that dies before answering the PASS/AUTH: the client still gets a reply.
    let if_silent = session.login_finished(LoginResult::Unavailable).reply;
    let end =
        ferrymail_spawn::relay::relay(client, sock, first, &if_silent, ctx.shutdown.clone()).await;
    tracing::info!(user, ?end, "relayed session ended");
    Ok(())
}

/// A session child's session (a Unix account, served as the account): the main process
/// checked the password and relays the client's connection over `sock`. Opens the maildrop
/// and answers the PASS/AUTH itself (so a locked maildrop gets `-ERR [IN-USE]` from here),
/// then serves TRANSACTION and UPDATE with the usual timeouts. Any failure to open the
/// maildrop (a Maildir, or an mbox file) ends the connection: the child may serve no one
/// else.
pub async fn serve_relayed(
    ctx: &Context,
    info: &ConnInfo,
    sock: UnixStream,
    tls: bool,
    login: String,
    mailbox: MailboxLocation,
) {
    let session_cfg = SessionConfig {
        stls_available: false,
        plaintext_login_ok: false,
        max_auth_failures: 1,
        master_login: None,
    };
    let mut session = Session::handed_off(session_cfg, tls);
    let mut io: Io = BufReader::with_capacity(16 * 1024, SessionStream::Relayed { sock, tls });
    let (locks, sizes) = (ctx.locks.clone(), ctx.sizes.clone());
    let opened =
        tokio::task::spawn_blocking(move || maildrop::open_location(&locks, &sizes, &mailbox))
            .await
            .map_err(ConnError::from);
    let (result, opened) = match opened {
        Ok(Ok((m, infos))) => {
            tracing::info!(
                user = login,
                uid = nix::unistd::getuid().as_raw(),
                messages = infos.len(),
                maildrop = %m.path().display(),
                "logged in; serving as the account"
            );
            (LoginResult::Ok(infos), Some(m))
        }
        Ok(Err(MaildropError::InUse)) => {
            tracing::info!(user = login, "maildrop in use");
            (LoginResult::InUse, None)
        }
        Ok(Err(e)) => {
            tracing::error!(user = login, error = %e, "cannot open maildrop");
            (LoginResult::Unavailable, None)
        }
        Err(e) => {
            tracing::error!(user = login, error = %e, "cannot open maildrop");
            (LoginResult::Unavailable, None)
        }
    };
    let mut out = session.login_finished(result).reply;
    if opened.is_none() {
        if let Err(e) = send(&mut io, &mut out).await {
            tracing::info!(error = %e, "connection ended");
        }
        let _ = io.get_mut().shutdown().await;
        return;
    }
    match serve(ctx, info, &mut io, &mut session, out, opened, login).await {
        Ok(_) => tracing::debug!("connection closed"),
        Err(e) => tracing::info!(error = %e, "connection ended"),
    }
}

/// The session loop from `out` (replies not yet sent) on, until the connection ends or a
/// login is handed to a session child.
async fn serve(
    ctx: &Context,
    info: &ConnInfo,
    io: &mut Io,
    session: &mut Session,
    mut out: Vec<u8>,
    mut maildrop: Option<Maildrop>,
    mut user: String,
) -> Result<Ended, ConnError> {
    let cfg = &ctx.config.pop3d;
    let mut line = Vec::with_capacity(256);
    let mut shutdown = ctx.shutdown.clone();
    loop {
        // Flush unless another complete command is already queued (pipelining): otherwise
        // the client is waiting for these answers.
        let queued = memchr::memchr(b'\n', io.buffer()).is_some();
        if !out.is_empty() && (!queued || out.len() >= FLUSH_AT) {
            send(io, &mut out).await?;
        }
        let read = tokio::select! {
            r = tokio::time::timeout(cfg.idle_timeout, read_line(io, &mut line, cfg.max_line)) => r,
            _ = shutdown.wait() => {
                out.extend_from_slice(&session.shutting_down());
                send(io, &mut out).await?;
                return Ok(Ended::Closed);
            }
        };
        let step = match read {
            Err(_) => {
                out.extend_from_slice(&session.idle_timeout());
                send(io, &mut out).await?;
                tracing::info!(user, "idle timeout");
                return Ok(Ended::Closed);
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(Line::Eof)) => {
                if session.is_authenticated() {
                    tracing::info!(user, "client disconnected without QUIT; nothing deleted");
                }
                return Ok(Ended::Closed);
            }
            Ok(Ok(Line::TooLong)) => session.line_too_long(),
            Ok(Ok(Line::Complete)) => session.line(&line),
        };
        let mut step = step;
        // Actions may produce further steps (login → reply); loop until one has no action.
        loop {
            out.extend_from_slice(&step.reply);
            match step.action {
                Action::None => break,
                Action::Close => {
                    send(io, &mut out).await?;
                    let _ = io.get_mut().shutdown().await;
                    return Ok(Ended::Closed);
                }
                Action::StartTls => {
                    send(io, &mut out).await?;
                    // RFC 2595 / CVE-2011-0411: nothing the client sent in plaintext may be
                    // read as if it came over TLS.
                    let buffered = io.buffer().len();
                    if buffered > 0 {
                        tracing::warn!(bytes = buffered, "discarding input pipelined after STLS");
                    }
                    io.consume(buffered);
                    handshake(ctx, io.get_mut()).await?;
                    session.tls_started();
                    break;
                }
                Action::Login(creds) => {
                    let (outcome, login) = login_action(ctx, info, creds).await?;
                    let (result, opened) = match outcome {
                        LoginOutcome::Here(result, opened) => (result, opened),
                        LoginOutcome::HandOff(sock) => {
                            // Our answers so far go out before the child's to the PASS/AUTH.
                            send(io, &mut out).await?;
                            return Ok(Ended::HandOff { sock, user: login });
                        }
                    };
                    if let Some(m) = opened {
                        user = login;
                        maildrop = Some(m);
                    }
                    step = session.login_finished(result);
                }
                Action::Send {
                    index,
                    top,
                    mark_seen,
                    ok_line,
                } => {
                    let Some(m) = maildrop.as_mut() else {
                        out.extend_from_slice(&session.message_unavailable(index));
                        break;
                    };
                    send_message(io, &mut out, m, index, top, mark_seen, &ok_line, session).await?;
                    break;
                }
                Action::Update { delete } => {
                    let (removed, failed) = match maildrop.take() {
                        Some(m) => tokio::task::spawn_blocking(move || m.update(&delete)).await?,
                        None => (0, 0),
                    };
                    tracing::info!(user, removed, failed, "QUIT: maildrop updated");
                    step = session.update_finished(removed, failed);
                }
            }
        }
    }
}

async fn send(io: &mut Io, out: &mut Vec<u8>) -> std::io::Result<()> {
    let s = io.get_mut();
    s.write_all(out).await?;
    s.flush().await?;
    out.clear();
    Ok(())
}

async fn handshake(ctx: &Context, stream: &mut SessionStream) -> Result<(), ConnError> {
    let acceptor = ctx
        .tls
        .as_ref()
        .ok_or(ConnError::Internal("no TLS here"))?
        .acceptor();
    // The idle limit also bounds a handshake that never completes.
    match tokio::time::timeout(ctx.config.pop3d.idle_timeout, stream.upgrade(&acceptor)).await {
        Ok(Ok(())) => {
            tracing::debug!(
                tls = stream.tls_description().as_deref().unwrap_or(""),
                "TLS started"
            );
            Ok(())
        }
        Ok(Err(e)) => Err(ConnError::Handshake(e)),
        Err(_) => Err(ConnError::HandshakeTimeout),
    }
}

/// Where a good login is served.
enum LoginOutcome {
    /// In this process: the result, with the maildrop when it opened.
    Here(LoginResult, Option<Maildrop>),
    /// By a session child running as the Unix account, reached over this socket.
    HandOff(UnixStream),
}

/// Verifies, waits out any back-off, then locks and lists the maildrop — or, for a Unix
/// account when there is a spawner, gets a session child that will. Also returns whom the
/// session serves: the account's login once the credentials are good.
async fn login_action(
    ctx: &Context,
    info: &ConnInfo,
    creds: Credentials,
) -> Result<(LoginOutcome, String), ConnError> {
    let login = creds.authcid.clone();
    let Some(userdb) = ctx.userdb.clone() else {
        return Ok((LoginOutcome::Here(LoginResult::Unavailable, None), login));
    };
    let exempt = info.trusted && ctx.config.pop3d.limits.exempt_trusted;
    let account = match ctx
        .throttle
        .verify_credentials(&userdb, info.peer_ip(), exempt, creds)
        .await
    {
        LoginCheck::Accepted(account) => account,
        LoginCheck::Refused { reason, delay } => {
            tracing::warn!(user = login, %reason, ?delay, "login failed");
            ferrymail_metrics::conn::auth_failed(ferrymail_metrics::conn::Protocol::Pop3);
            tokio::time::sleep(delay).await;
            return Ok((LoginOutcome::Here(LoginResult::BadCredentials, None), login));
        }
        LoginCheck::Broken => return Err(ConnError::Internal("the password check failed")),
    };
    let login = account.login().to_owned();
    Ok((open_maildrop(ctx, account, &login).await?, login))
}

/// A good login's maildrop, locked and listed here or by a session child.
async fn open_maildrop(
    ctx: &Context,
    account: Account,
    login: &str,
) -> Result<LoginOutcome, ConnError> {
    let here = |r| Ok(LoginOutcome::Here(r, None));
    if let Account::Unix(unix) = &account {
        // An account with our own uid can be served right here.
        if ctx.spawner.is_some() && unix.uid != nix::unistd::geteuid().as_raw() {
            return Ok(hand_off(ctx, account.login()).await);
        }
    }
    let (config, locks, sizes) = (ctx.config.clone(), ctx.locks.clone(), ctx.sizes.clone());
    let opened = tokio::task::spawn_blocking(move || {
        maildrop::open_account(&locks, &sizes, &config, &account)
    })
    .await
    .map_err(|_| ConnError::Internal("opening the maildrop failed"))?;
    match opened {
        Err(MaildropError::InUse) => {
            tracing::info!(user = login, "maildrop in use");
            here(LoginResult::InUse)
        }
        Err(e) => {
            tracing::error!(user = login, error = %e, "cannot open maildrop");
            here(LoginResult::Unavailable)
        }
        Ok((m, infos)) => {
            tracing::info!(
                user = login,
                messages = infos.len(),
                maildrop = %m.path().display(),
                "logged in"
            );
            Ok(LoginOutcome::Here(LoginResult::Ok(infos), Some(m)))
        }
    }
}

/// Asks the spawner for a session child serving `login`. Never falls back to serving the
/// account in-process: without a child the login gets `-ERR [SYS/TEMP]`.
async fn hand_off(ctx: &Context, login: &str) -> LoginOutcome {
    let Some(spawner) = &ctx.spawner else {
        return LoginOutcome::Here(LoginResult::Unavailable, None);
    };
    match spawner.open_session(login).await {
        Ok((sock, pid)) => {
            tracing::info!(user = login, pid, "logged in; handed to a session child");
            LoginOutcome::HandOff(sock)
        }
        Err(e) => {
            tracing::error!(user = login, error = %e, "no session child for a Unix account");
            LoginOutcome::Here(LoginResult::Unavailable, None)
        }
    }
}

/// Short file-system work for one command (open, read a chunk, rename). On the
/// multi-threaded runtime it runs in place with this worker's other tasks handed to another
/// thread (`block_in_place`): that keeps the reactor serving while costing far less than a
/// round trip through the blocking pool, which on a busy 2-core machine took longer than the
/// whole rest of a small RETR. Elsewhere (a current-thread runtime) it uses the blocking pool.
async fn file_io<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, tokio::task::JoinError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        Ok(tokio::task::block_in_place(f))
    } else {
        tokio::task::spawn_blocking(f).await
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_message(
    io: &mut Io,
    out: &mut Vec<u8>,
    m: &mut Maildrop,
    index: usize,
    top: Option<u64>,
    mark_seen: bool,
    ok_line: &str,
    session: &Session,
) -> Result<(), ConnError> {
    let m = match m {
        Maildrop::Maildir(m) => m,
        Maildrop::Mbox(m) => {
            return send_mbox_message(io, out, m, index, top, ok_line, session).await;
        }
    };
    let Some(entry) = m.entries.get(index).cloned() else {
        out.extend_from_slice(&session.message_unavailable(index));
        return Ok(());
    };
    let maildir = m.maildir.clone();
    let opened = file_io(move || maildrop::open_for_send(&maildir, &entry, mark_seen)).await?;
    let opened = match opened {
        Ok(o) => o,
        Err(e) => {
            tracing::info!(message = index + 1, error = %e, "message unavailable");
            out.extend_from_slice(&session.message_unavailable(index));
            return Ok(());
        }
    };
    let path = opened.entry.path();
    if let Some(slot) = m.entries.get_mut(index) {
        *slot = opened.entry;
    }
    out.extend_from_slice(ok_line.as_bytes());
    let mut encoder = Encoder::new(top);
    let mut eof = opened.eof;
    let mut file = opened.file;
    let done = encoder.push(&opened.first, out);
    if !done && !eof {
        loop {
            if out.len() >= FLUSH_AT {
                send(io, out).await?;
            }
            let p = path.clone();
            let (f, chunk) = file_io(move || {
                let r = maildrop::read_chunk(&mut file, &p);
                (file, r)
            })
            .await?;
            file = f;
            // The +OK line is already out; a read error mid-message can only end the
            // connection (the client must not take a truncated message as complete).
            let (bytes, end) = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
            eof = end;
            if encoder.push(&bytes, out) || eof {
                break;
            }
        }
    }
    encoder.finish(out);
    Ok(())
}

/// RETR/TOP from an mbox maildrop: the message's lines un-quoted as they are read from the
/// locked file, then encoded like a Maildir message. (No seen flag: an mbox keeps it in a
/// `Status:` header, which would mean rewriting the file; the message is deleted or kept.)
async fn send_mbox_message(
    io: &mut Io,
    out: &mut Vec<u8>,
    m: &MboxDrop,
    index: usize,
    top: Option<u64>,
    ok_line: &str,
    session: &Session,
) -> Result<(), ConnError> {
    let Some(mut reader) = m.reader(index) else {
        out.extend_from_slice(&session.message_unavailable(index));
        return Ok(());
    };
    let mut encoder = Encoder::new(top);
    let mut first = true;
    loop {
        let (r, chunk) = file_io(move || {
            let mut buf = Vec::with_capacity(64 * 1024);
            let res = reader.read_lines(&mut buf, maildrop::CHUNK);
            (reader, res.map(|end| (buf, end)))
        })
        .await?;
        reader = r;
        let (bytes, end) = match chunk {
            Ok(c) => c,
            Err(e) if first => {
                tracing::info!(message = index + 1, error = %e, "message unavailable");
                out.extend_from_slice(&session.message_unavailable(index));
                return Ok(());
            }
            // The +OK line is already out: only ending the connection keeps the client from
            // taking a truncated message as complete.
            Err(e) => return Err(e.into()),
        };
        if first {
            out.extend_from_slice(ok_line.as_bytes());
            first = false;
        }
        if encoder.push(&bytes, out) || end {
            break;
        }
        if out.len() >= FLUSH_AT {
            send(io, out).await?;
        }
    }
    encoder.finish(out);
    Ok(())
}

/// How long shutdown waits for sessions that are mid-transfer: sessions waiting for a
/// command end at once (`-ERR` and close, no UPDATE).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
