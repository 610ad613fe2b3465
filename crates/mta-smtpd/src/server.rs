//! Serving after the start-up (`ferrymail_net::startup`) has bound the sockets, loaded TLS and
//! the user database and dropped privileges: builds the shared state from the config, serves
//! every listener, and shuts down on SIGTERM (stop accepting, close idle sessions with 421, let
//! messages in flight finish for `shutdown_grace`, then close the rest with 421). SIGHUP is the
//! start-up's: it reloads the certificate and user database these sessions share.

use std::sync::Arc;

use ferrymail_config::{BareLinePolicy, Config, Role};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::notify;
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::signals::{shutdown_pair, Shutdown};
use ferrymail_net::tls::TlsStore;
use ferrymail_spool::Spool;
use ferrymail_users::UserDb;

use crate::conn::{self, Shared};
use crate::policy::Policy;
use crate::rate::{MonotonicClock, RateLimiter};
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

/// Runs until `shutdown` and the grace period are over. `verifier` checks inbound mail
/// (`mailauth.verify`); `cluster` lets the other hosts of a cluster relay.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    config: Config,
    listeners: Vec<(Role, std::net::TcpListener)>,
    tls: Option<TlsStore>,
    userdb: UserDb,
    spool: Spool,
    verifier: Option<Arc<ferrymail_mailauth::Verifier>>,
    cluster: Option<ferrymail_net::cluster::ClusterAuth>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let (stop_trigger, hard_stop) = shutdown_pair();
    let policy = Arc::new(Policy::new(
        Arc::new(userdb.clone()),
        config.smtpd.enforce_sender_login,
        config.postmaster(),
    ));
    let limits = &config.smtpd.limits;
    let screener = crate::screen::Screener::from_config(&config)
        .map_err(|e| std::io::Error::other(format!("[smtpd.screen]: {e}")))?;
    let shared = Arc::new(Shared {
        session: session_config(&config),
        policy,
        rate: Arc::new(RateLimiter::new(
            &config.smtpd.rate,
            limits.exempt_trusted,
            Box::new(MonotonicClock::new()),
        )),
        userdb,
        spool,
        tls,
        throttle: AuthThrottle::new(limits).with_cluster(cluster),
        wake_socket: config.wake_socket().into(),
        command_timeout: config.smtpd.command_timeout,
        data_timeout: config.smtpd.data_timeout,
        plaintext_auth_on_loopback: limits.plaintext_auth_on_loopback,
        exempt_trusted: limits.exempt_trusted,
        shutdown: shutdown.clone(),
        hard_stop,
        verifier,
        screener: screener.clone(),
        milters: config.smtpd.milters.iter().cloned().map(Arc::new).collect(),
        client_names: client_name_resolver(&config)?,
    });
    let opts = ServeOptions::new(
        Arc::new(config.clone()),
        limits,
        shutdown.clone(),
        config.smtpd.shutdown_grace + CLOSE_MARGIN,
    );
    let grace = config.smtpd.shutdown_grace;
    let mut on_shutdown = shutdown.clone();
    tokio::spawn(async move {
        on_shutdown.wait().await;
        tokio::time::sleep(grace).await;
        stop_trigger.trigger();
    });
    let roles: Vec<String> = listeners
        .iter()
        .filter_map(|(r, l)| l.local_addr().ok().map(|a| format!("{r}={a}")))
        .collect();
    tracing::info!(listeners = %roles.join(" "), "mta-smtpd ready");
    notify::ready();
    let served = serve(listeners, opts, move |tcp, info, adm| {
        conn::handle(tcp, info, adm, shared.clone())
    })
    .await;
    if let Some(s) = screener {
        s.close();
    }
    served
}

/// The resolver for the milters' client names, when some role has milters and the lookup is on.
fn client_name_resolver(
    config: &Config,
) -> std::io::Result<Option<(ferrymail_net::dns::TokioResolver, std::time::Duration)>> {
    let timeout = config.smtpd.client_name_timeout;
    if config.smtpd.milters.is_empty() || timeout.is_zero() {
        return Ok(None);
    }
    let options = ferrymail_net::dns::Options {
        timeout,
        ..ferrymail_net::dns::Options::default()
    };
    ferrymail_net::dns::resolver(&config.queue.dns_servers, &options)
        .map(|r| Some((r, timeout)))
        .map_err(|e| std::io::Error::other(format!("DNS resolver for client names: {e}")))
}
