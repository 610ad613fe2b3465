//! The thin tokio layer around the sans-IO session (`ferrymail_managesieve`): reads what the
//! client sends into the framer (with the login and idle timeouts), writes replies, and
//! carries out the session's actions: the STARTTLS handshake, password checks through the
//! shared throttle, and the script store's file work on the blocking pool.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_managesieve::{Action, Framer, LoginResult, Session, SessionConfig};
use ferrymail_net::auth_throttle::{AuthThrottle, LoginCheck};
use ferrymail_net::sasl::Credentials;
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_sieve::store::{Limits, ScriptStore};
use ferrymail_users::{Account, UserDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What every connection shares.
pub struct Context {
    pub config: Arc<Config>,
    pub users: UserDb,
    /// `None` when no certificate loaded: no STARTTLS, so no logins (except loopback policy).
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub shutdown: Shutdown,
}

/// How long shutdown lets a session finish the command it is running.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const READ_CHUNK: usize = 16 * 1024;

/// Told to a Unix account that logs in: its scripts live in a home only it may write.
const UNIX_ACCOUNTS_REFUSED: &str =
    "Sieve scripts of system accounts are not managed here; edit ~/sieve and ~/.dovecot.sieve";

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
    #[error("the password check failed")]
    CheckFailed,
    #[error("no TLS configured")]
    NoTls,
    #[error("{0}")]
    Internal(&'static str),
}

/// Serves one accepted connection to its end.
pub async fn handle(ctx: Arc<Context>, tcp: TcpStream, info: ConnInfo, admission: Admission) {
    let _guard = match admission {
        Ok(g) => g,
        Err(_) => {
            let mut tcp = tcp;
            let _ = tcp.write_all(&Session::busy()).await;
            return;
        }
    };
    match run(&ctx, tcp, &info).await {
        Ok(()) => tracing::debug!("connection closed"),
        Err(e) => tracing::info!(error = %e, "connection ended"),
    }
}

async fn run(ctx: &Context, tcp: TcpStream, info: &ConnInfo) -> Result<(), ConnError> {
    let cfg = &ctx.config.managesieve;
    let mut stream = MaybeTls::Plain(tcp);
    let mut session = Session::new(
        SessionConfig {
            implementation: "ferrymail".into(),
            starttls_available: ctx.tls.is_some(),
            plaintext_auth_ok: cfg.limits.plaintext_auth_on_loopback && info.is_loopback(),
            max_auth_failures: cfg.limits.max_auth_failures.max(1),
            login_key: ferrymail_users::login_key,
            max_redirects: ctx.config.delivery.sieve.max_redirects,
            master_login: ctx.throttle.master_login().map(str::to_owned),
        },
        false,
    );
    let mut framer = Framer::new(cfg.max_line, cfg.max_script_size);
    let mut frames = VecDeque::new();
    let mut store: Option<ScriptStore> = None;
    let mut out = session.greeting();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut shutdown = ctx.shutdown.clone();
    let mut login_deadline = Instant::now() + cfg.login_timeout;
    let mut was_authenticated = false;
    loop {
        let Some(frame) = frames.pop_front() else {
            send(&mut stream, &mut out).await?;
            let authenticated = session.is_authenticated();
            if was_authenticated && !authenticated {
                // After UNAUTHENTICATE the next login gets the whole login time again.
                login_deadline = Instant::now() + cfg.login_timeout;
            }
            was_authenticated = authenticated;
            let deadline = match authenticated {
                true => Instant::now() + cfg.idle_timeout,
                false => login_deadline.min(Instant::now() + cfg.idle_timeout),
            };
            let read = tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => r,
                _ = shutdown.wait() => {
                    out.extend_from_slice(&session.shutting_down());
                    send(&mut stream, &mut out).await?;
                    return Ok(());
                }
            };
            match read {
                Err(_) => {
                    out.extend_from_slice(&session.idle_timeout());
                    send(&mut stream, &mut out).await?;
                    tracing::info!(user = session.user(), "timeout");
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => {
                    let mut got = Vec::new();
                    framer.push(&buf[..n], &mut got);
                    frames.extend(got);
                }
            }
            continue;
        };
        let mut step = session.frame(frame);
        loop {
            out.extend_from_slice(&step.reply);
            match step.action {
                Action::None => break,
                Action::Close => {
                    send(&mut stream, &mut out).await?;
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
                Action::StartTls => {
                    send(&mut stream, &mut out).await?;
                    // CVE-2011-0411: nothing sent in plaintext may be read as if it came
                    // over TLS.
                    if !frames.is_empty() || framer.is_partial() {
                        tracing::warn!("discarding input pipelined after STARTTLS");
                    }
                    frames.clear();
                    framer.clear();
                    handshake(ctx, &mut stream).await?;
                    out.extend_from_slice(&session.tls_started());
                    break;
                }
                Action::Login(creds) => {
                    let (result, opened) = login(ctx, info, creds).await?;
                    if opened.is_some() {
                        store = opened;
                    }
                    step = session.login_finished(result);
                }
                Action::Storage(request) => {
                    let Some(s) = store.clone() else {
                        // The session asks only after a login, which set the store.
                        return Err(ConnError::Internal("storage request without a login"));
                    };
                    let done = tokio::task::spawn_blocking(move || request.execute(&s)).await?;
                    if let Some(e) = done.failure {
                        tracing::error!(user = session.user(), error = %e, "script storage");
                    }
                    out.extend_from_slice(&done.reply);
                    break;
                }
            }
        }
    }
}

async fn send(stream: &mut MaybeTls, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    stream.write_all(out).await?;
    stream.flush().await?;
    out.clear();
    Ok(())
}

async fn handshake(ctx: &Context, stream: &mut MaybeTls) -> Result<(), ConnError> {
    let acceptor = ctx.tls.as_ref().ok_or(ConnError::NoTls)?.acceptor();
    let limit = ctx.config.managesieve.login_timeout;
    match tokio::time::timeout(limit, stream.upgrade(&acceptor)).await {
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

/// Checks the password (waiting out any back-off) and, for a virtual user, opens the
/// script store in the user's Sieve home.
async fn login(
    ctx: &Context,
    info: &ConnInfo,
    creds: Credentials,
) -> Result<(LoginResult, Option<ScriptStore>), ConnError> {
    let cfg = &ctx.config.managesieve;
    let exempt = info.trusted && cfg.limits.exempt_trusted;
    let login = creds.authcid.clone();
    let login = login.as_str();
    let account = match ctx
        .throttle
        .verify_credentials(&ctx.users, info.peer_ip(), exempt, creds)
        .await
    {
        LoginCheck::Accepted(account) => account,
        LoginCheck::Refused { reason, delay } => {
            tracing::warn!(user = login, %reason, ?delay, "login failed");
            ferrymail_metrics::conn::auth_failed(ferrymail_metrics::conn::Protocol::ManageSieve);
            tokio::time::sleep(delay).await;
            return Ok((LoginResult::BadCredentials, None));
        }
        LoginCheck::Broken => return Err(ConnError::CheckFailed),
    };
    if let Account::Unix(_) = &account {
        tracing::info!(
            user = account.login(),
            "Unix account refused: not served by managesieved"
        );
        return Ok((LoginResult::Refused(UNIX_ACCOUNTS_REFUSED.into()), None));
    }
    let home = account.sieve_home(&ctx.config);
    tracing::info!(user = account.login(), home = %home.display(), "logged in");
    let store = ScriptStore::new(home, limits(&ctx.config));
    Ok((LoginResult::Ok(account.login().to_owned()), Some(store)))
}

/// The per-user script limits of `[managesieve]`.
pub fn limits(c: &Config) -> Limits {
    let m = &c.managesieve;
    Limits {
        max_scripts: m.max_scripts,
        max_script_size: m.max_script_size,
        max_total_size: m.max_total_size,
        max_name_len: m.max_name_length,
    }
}
