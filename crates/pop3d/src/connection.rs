//! The thin tokio layer around [`Session`]: reads lines (length-limited, with the idle
//! timeout), writes replies (batched while the client pipelines), and carries out the
//! session's actions: TLS upgrades, logins on the blocking pool with back-off, streaming
//! messages from the Maildir, and the UPDATE-state deletions.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_net::limits::AuthThrottle;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_users::UserDb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::maildrop::{self, LockTable, Maildrop, MaildropError, SizeCache};
use crate::session::{Action, LoginResult, Session, SessionConfig};
use crate::transfer::Encoder;

/// Output is sent once this much is pending even while the client is still pipelining.
const FLUSH_AT: usize = 64 * 1024;

/// Everything sessions share.
pub struct Context {
    pub config: Arc<Config>,
    pub userdb: UserDb,
    pub tls: TlsStore,
    pub throttle: AuthThrottle,
    pub locks: LockTable,
    pub sizes: SizeCache,
    pub shutdown: Shutdown,
}

type Io = BufReader<MaybeTls>;

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
    let mut stream = MaybeTls::Plain(tcp);
    let implicit = info.role.implicit_tls();
    if implicit {
        handshake(ctx, &mut stream).await?;
    }
    let session_cfg = SessionConfig {
        stls_available: !implicit,
        plaintext_login_ok: cfg.limits.plaintext_auth_on_loopback && info.is_loopback(),
        max_auth_failures: cfg.limits.max_auth_failures.max(1),
    };
    let mut session = Session::new(session_cfg, implicit);
    let mut io: Io = BufReader::with_capacity(16 * 1024, stream);
    let mut out = session.greeting();
    let mut maildrop: Option<Maildrop> = None;
    let mut user = String::new();
    let mut line = Vec::with_capacity(256);
    let mut shutdown = ctx.shutdown.clone();
    loop {
        // Flush unless another complete command is already queued (pipelining): otherwise
        // the client is waiting for these answers.
        let queued = memchr::memchr(b'\n', io.buffer()).is_some();
        if !out.is_empty() && (!queued || out.len() >= FLUSH_AT) {
            send(&mut io, &mut out).await?;
        }
        let read = tokio::select! {
            r = tokio::time::timeout(cfg.idle_timeout, read_line(&mut io, &mut line, cfg.max_line)) => r,
            _ = shutdown.wait() => {
                out.extend_from_slice(&session.shutting_down());
                send(&mut io, &mut out).await?;
                return Ok(());
            }
        };
        let step = match read {
            Err(_) => {
                out.extend_from_slice(&session.idle_timeout());
                send(&mut io, &mut out).await?;
                tracing::info!(user, "idle timeout");
                return Ok(());
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(Line::Eof)) => {
                if session.is_authenticated() {
                    tracing::info!(user, "client disconnected without QUIT; nothing deleted");
                }
                return Ok(());
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
                    send(&mut io, &mut out).await?;
                    let _ = io.get_mut().shutdown().await;
                    return Ok(());
                }
                Action::StartTls => {
                    send(&mut io, &mut out).await?;
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
                Action::Login {
                    user: login,
                    password,
                } => {
                    let (result, opened) = login_action(ctx, info, &login, password).await?;
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
                    send_message(
                        &mut io, &mut out, m, index, top, mark_seen, &ok_line, &session,
                    )
                    .await?;
                    break;
                }
                Action::Update { delete } => {
                    let (removed, failed) = match maildrop.take() {
                        Some(m) => {
                            tokio::task::spawn_blocking(move || maildrop::delete(&m, &delete))
                                .await?
                        }
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

async fn handshake(ctx: &Context, stream: &mut MaybeTls) -> Result<(), ConnError> {
    let acceptor = ctx.tls.acceptor();
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

/// Verifies, waits out any back-off, then locks and lists the maildrop.
async fn login_action(
    ctx: &Context,
    info: &ConnInfo,
    login: &str,
    password: Vec<u8>,
) -> Result<(LoginResult, Option<Maildrop>), ConnError> {
    let ip = info.peer_ip();
    let owed = ctx.throttle.pending_delay(ip);
    if !owed.is_zero() {
        tokio::time::sleep(owed).await;
    }
    let userdb = ctx.userdb.clone();
    let config = ctx.config.clone();
    let locks = ctx.locks.clone();
    let sizes = ctx.sizes.clone();
    let login_owned = login.to_owned();
    let exempt = info.trusted && ctx.config.pop3d.limits.exempt_trusted;
    let outcome = ctx
        .throttle
        .check_password(ip, exempt, move || {
            let account = userdb.verify(&login_owned, &password)?;
            let path = maildrop::maildir_path(&config, &account);
            Ok::<_, ferrymail_users::AuthError>(
                path.and_then(|p| maildrop::open(&locks, &sizes, &p)),
            )
        })
        .await
        .ok_or(ConnError::Internal("the password check failed"))?;
    match outcome {
        Err(auth) => {
            let delay = ctx.throttle.failed(ip);
            tracing::warn!(user = login, reason = %auth, ?delay, "login failed");
            tokio::time::sleep(delay).await;
            Ok((LoginResult::BadCredentials, None))
        }
        Ok(Err(MaildropError::InUse)) => {
            ctx.throttle.succeeded(ip);
            tracing::info!(user = login, "maildrop in use");
            Ok((LoginResult::InUse, None))
        }
        Ok(Err(e)) => {
            ctx.throttle.succeeded(ip);
            tracing::error!(user = login, error = %e, "cannot open maildrop");
            Ok((LoginResult::Unavailable, None))
        }
        Ok(Ok((m, infos))) => {
            ctx.throttle.succeeded(ip);
            tracing::info!(
                user = login,
                messages = infos.len(),
                maildir = %m.maildir.path().display(),
                "logged in"
            );
            Ok((LoginResult::Ok(infos), Some(m)))
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

/// How long shutdown waits for sessions that are mid-transfer: sessions waiting for a
/// command end at once (`-ERR` and close, no UPDATE).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
