//! Start-up after the sockets are bound and privileges dropped: builds the shared state from
//! the config, serves every listener, reloads on SIGHUP and shuts down on SIGTERM (stop
//! accepting, close idle sessions with 421, let messages in flight finish for
//! `shutdown_grace`, then close the rest with 421).

use std::sync::Arc;

use ferrymail_config::{BareLinePolicy, Config, Role};
use ferrymail_net::limits::{AuthThrottle, ConnLimiter};
use ferrymail_net::notify;
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::signals::{self, shutdown_pair};
use ferrymail_net::tls::TlsStore;
use ferrymail_spool::Spool;
use ferrymail_users::UserDb;

use crate::conn::{self, Shared};
use crate::policy::Policy;
use crate::session::SessionConfig;

/// Extra time the accept loop's grace gets beyond ours, so sessions can send their 421.
const CLOSE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

pub fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        hostname: config.hostname(),
        role: Role::Mx,
        max_message_size: config.smtpd.max_message_size,
        max_recipients: config.smtpd.max_recipients,
        max_command_line: config.smtpd.max_command_line,
        max_text_line: config.smtpd.max_text_line,
        max_errors: config.smtpd.max_errors,
        max_auth_failures: config.smtpd.limits.max_auth_failures,
        vrfy: config.smtpd.vrfy,
        tls_available: false,
        normalize_bare_line_endings: config.smtpd.bare_lf == BareLinePolicy::Normalize,
    }
}

/// Runs until SIGTERM/SIGINT and the grace period are over.
pub async fn run(
    config: Config,
    listeners: Vec<(Role, std::net::TcpListener)>,
    tls: Option<TlsStore>,
    userdb: UserDb,
    spool: Spool,
) -> std::io::Result<()> {
    let (shutdown, mut reload) = signals::install()?;
    let (stop_trigger, hard_stop) = shutdown_pair();
    let policy = Arc::new(Policy::new(
        Arc::new(userdb.clone()),
        config.smtpd.enforce_sender_login,
        config.postmaster(),
    ));
    let limits = &config.smtpd.limits;
    let verifier = if config.mailauth.verify {
        match ferrymail_mailauth::Verifier::from_config(&config) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                return Err(std::io::Error::other(format!("mail authentication: {e}")));
            }
        }
    } else {
        None
    };
    let shared = Arc::new(Shared {
        session: session_config(&config),
        policy,
        userdb: userdb.clone(),
        spool,
        tls: tls.clone(),
        throttle: AuthThrottle::new(limits),
        wake_socket: config.wake_socket(),
        command_timeout: config.smtpd.command_timeout,
        data_timeout: config.smtpd.data_timeout,
        plaintext_auth_on_loopback: limits.plaintext_auth_on_loopback,
        exempt_trusted: limits.exempt_trusted,
        shutdown: shutdown.clone(),
        hard_stop,
        verifier,
    });
    let trusted_config = config.clone();
    let opts = ServeOptions {
        limiter: ConnLimiter::new(limits),
        is_trusted: Arc::new(move |ip| trusted_config.is_trusted(ip)),
        exempt_trusted: limits.exempt_trusted,
        shutdown: shutdown.clone(),
        grace: config.smtpd.shutdown_grace + CLOSE_MARGIN,
    };
    // SIGHUP: new certificate and user data without dropping connections.
    tokio::spawn(async move {
        while reload.recv().await.is_some() {
            notify::reloading();
            if let Some(t) = &tls {
                if let Err(e) = t.reload() {
                    tracing::error!(error = %e, "TLS reload failed, keeping the old certificate");
                }
            }
            userdb.reload_if_changed();
            notify::ready();
        }
    });
    let grace = config.smtpd.shutdown_grace;
    let mut on_shutdown = shutdown.clone();
    tokio::spawn(async move {
        on_shutdown.wait().await;
        notify::stopping();
        tokio::time::sleep(grace).await;
        stop_trigger.trigger();
    });
    let roles: Vec<String> = listeners
        .iter()
        .filter_map(|(r, l)| l.local_addr().ok().map(|a| format!("{r}={a}")))
        .collect();
    tracing::info!(listeners = %roles.join(" "), "mta-smtpd ready");
    notify::ready();
    serve(listeners, opts, move |tcp, info, adm| {
        conn::handle(tcp, info, adm, shared.clone())
    })
    .await
}
