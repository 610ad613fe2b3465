//! What every connection shares, and the two steps every protocol's login takes the same way:
//! the password check (through the shared throttle, as imapd does it) and opening a session
//! on the user's backend (route, connect, cluster login, falling back past refused backends).

use std::sync::Arc;

use ferrymail_config::{Config, ProxyBackend};
use ferrymail_metrics::conn::Protocol;
use ferrymail_net::auth_throttle::{AuthThrottle, LoginCheck};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_net::server::ConnInfo;
use ferrymail_net::signals::Shutdown;
use ferrymail_net::tls::TlsStore;
use ferrymail_users::{Account, UserDb};
use tokio_rustls::TlsConnector;

use crate::backend::{self, BackendError, LoggedIn};
use crate::health::{self, Health, Outcome};
use crate::route::{self, Candidate, Why};
use crate::routes_file::Routes;
use crate::sessions::Registry;

pub struct Context {
    pub config: Arc<Config>,
    pub users: UserDb,
    /// `None` when no certificate loaded: no STARTTLS, so no logins except on loopback
    /// where `limits.plaintext_auth_on_loopback` allows them.
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub shutdown: Shutdown,
    pub cluster: ClusterAuth,
    pub connector: TlsConnector,
    pub health: Health,
    pub routes: Routes,
    pub sessions: Registry,
}

/// The result of a password check.
pub enum Verified {
    Ok(Account),
    /// Wrong credentials; the back-off has been waited out.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no backend is available")]
    NoBackend,
    #[error("backend {backend}: {error}")]
    Backend {
        backend: String,
        error: BackendError,
    },
}

/// A session open on a backend, logged in as the user.
pub struct Opened<'a> {
    pub backend: &'a ProxyBackend,
    pub why: Why,
    pub conn: LoggedIn,
}

impl Context {
    /// Whether passwords may be sent on this connection now.
    pub fn login_allowed(&self, info: &ConnInfo, tls_active: bool) -> bool {
        tls_active || (self.config.proxy.limits.plaintext_auth_on_loopback && info.is_loopback())
    }

    /// Checks a password as every daemon does; a failure is logged, counted and delayed.
    pub async fn verify(
        &self,
        info: &ConnInfo,
        protocol: Protocol,
        login: &str,
        password: Vec<u8>,
    ) -> Result<Verified, &'static str> {
        let exempt = info.trusted && self.config.proxy.limits.exempt_trusted;
        match self
            .throttle
            .verify(&self.users, info.peer_ip(), exempt, login, password)
            .await
        {
            LoginCheck::Accepted(account) => {
                crate::metrics::login(protocol, true);
                Ok(Verified::Ok(account))
            }
            LoginCheck::Refused { reason, delay } => {
                tracing::warn!(user = %login, %reason, ?delay, "login failed");
                crate::metrics::login(protocol, false);
                tokio::time::sleep(delay).await;
                Ok(Verified::Refused)
            }
            LoginCheck::Broken => Err("the password check failed"),
        }
    }

    /// The backends to try for the user, best first.
    pub fn candidates(&self, user_key: &str) -> Vec<(&ProxyBackend, Why)> {
        let backends = &self.config.proxy.backends;
        let list: Vec<Candidate> = backends
            .iter()
            .map(|b| Candidate {
                name: &b.name,
                healthy: self.health.is_up(&b.name),
            })
            .collect();
        let over = self.routes.get(user_key);
        let sticky = self.sessions.sticky(user_key);
        route::order(user_key, &list, over.as_deref(), sticky.as_deref())
            .into_iter()
            .filter_map(|(name, why)| Some((backends.iter().find(|b| b.name == name)?, why)))
            .collect()
    }

    /// Connects to the user's backend and logs in there on the user's behalf. A backend
    /// that cannot be reached is marked (down at once when it refuses) and the next is tried;
    /// one that answers but refuses the login ends the attempt.
    pub async fn open(
        &self,
        protocol: backend::Proto,
        user: &str,
    ) -> Result<Opened<'_>, OpenError> {
        let key = ferrymail_users::login_key(user);
        let mut last = OpenError::NoBackend;
        for (b, why) in self.candidates(&key) {
            match backend::login(self, b, protocol, user).await {
                Ok(conn) => {
                    return Ok(Opened {
                        backend: b,
                        why,
                        conn,
                    })
                }
                Err(error) => {
                    crate::metrics::backend_failed(&b.name);
                    let outcome = match &error {
                        BackendError::Refused(_) => Some(Outcome::Refused),
                        BackendError::Connect(_) | BackendError::Timeout => Some(Outcome::Failed),
                        _ => None,
                    };
                    tracing::warn!(backend = %b.name, %error, "backend failed");
                    let retry = outcome.is_some();
                    if let Some(o) = outcome {
                        health::note(&self.health, &b.name, o);
                    }
                    last = OpenError::Backend {
                        backend: b.name.clone(),
                        error,
                    };
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}
