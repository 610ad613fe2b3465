//! Logging in: the password check (the shared `AuthThrottle`), the per-user connection limit,
//! SASL exchanges, opening the user's store — and for Unix accounts served by a per-login
//! child process, handing the connection over ([`relay`]) and the child's side of it
//! ([`run_relayed`]).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferrymail_imap_proto::response::{Code, Response};
use ferrymail_imap_proto::session::{Action, Output};
use ferrymail_maildir::{MailboxName, Store};
use ferrymail_net::auth_throttle::LoginCheck;
use ferrymail_net::sasl::Credentials;
use ferrymail_net::server::ConnInfo;
use ferrymail_net::signals::Shutdown;
use ferrymail_spawn::child::ConnHeader;
use ferrymail_spawn::session_stream::SessionStream;
use ferrymail_users::{Account, MailboxLocation};
use tokio::net::UnixStream;

use super::{Ctx, Session};
use crate::child::SessionHeader;
use crate::conn::{Conn, LineResult};
use crate::mailbox::StoreError;
use crate::spawner::Spawner;
use crate::store::{failure, MaildirStorage};
use crate::subscriptions;

/// Longest SASL response line.
const MAX_SASL_LINE: usize = 8192;

/// Marker in a store root: the special-use folders were created once (and may since have
/// been deleted by the user, which we respect).
const SPECIAL_USE_MARKER: &str = "ferrymail-specialuse";

/// Counts a user's connections; dropping it releases the slot.
pub(super) struct UserSlot {
    ctx: Arc<Ctx>,
    login: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut m = self
            .ctx
            .user_conns
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.login) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.login);
            }
        }
    }
}

/// A logged-in Unix account whose session continues in a child process.
pub(super) struct Handoff {
    sock: UnixStream,
    tag: String,
    _slot: UserSlot,
}

/// Relays a connection to the session child serving it (`ferrymail_spawn::relay`): first
/// the header and whatever the client pipelined behind its login, then bytes both ways until
/// either side closes.
pub(super) async fn relay(conn: Conn, info: &ConnInfo, h: Box<Handoff>, shutdown: Shutdown) {
    let (stream, pending) = conn.into_parts();
    let SessionStream::Net(client) = stream else {
        return;
    };
    let header = SessionHeader {
        tag: h.tag.clone(),
        conn: ConnHeader::new(info, client.is_tls()),
    };
    let Handoff {
        sock, _slot: slot, ..
    } = *h;
    let mut first = header.to_line();
    first.extend_from_slice(&pending);
    drop(pending);
    // The child died before it answered the login: the client still gets a reply.
    let mut if_silent = Vec::new();
    Response::no(
        &header.tag,
        Some(Code::Unavailable),
        "Cannot serve this account right now",
    )
    .encode(&mut if_silent);
    Response::bye("Closing").encode(&mut if_silent);
    let end = ferrymail_spawn::relay::relay(client, sock, first, &if_silent, shutdown).await;
    tracing::debug!(?end, "relayed session ended");
    // The user's connection slot is held for as long as the child serves the session.
    drop(slot);
}

/// A session child's session: the login already succeeded in the main process, which
/// relays the connection over `sock`. Prepares the store as the account, answers the login
/// command and serves the authenticated session.
pub async fn run_relayed(
    ctx: Arc<Ctx>,
    info: ConnInfo,
    sock: UnixStream,
    header: &SessionHeader,
    login: String,
    root: PathBuf,
) {
    let stream = SessionStream::Relayed {
        sock,
        tls: header.conn.tls,
    };
    let mut s = Session::new(ctx, info, stream);
    let store = Store::new(root);
    let tag = header.tag.clone();
    if let Err(e) = prepare_user_store(&store).await {
        s.push(&Response::no(
            &tag,
            Some(failure(&e).code()),
            failure(&e).to_string(),
        ));
        s.push(&Response::bye("Closing"));
        let _ = s.flush().await;
        return;
    }
    tracing::info!(user = %login, uid = nix::unistd::Uid::current().as_raw(), "logged in; serving as the account");
    s.user = Some((login.clone(), None));
    // Unix accounts have no quota of ferrymail's (the filesystem's applies).
    let storage = MaildirStorage::new(store, s.ctx.hub.clone(), Default::default());
    if s.with_proto(move |p, out| {
        p.set_login(&login);
        p.logged_in(&tag, storage, out)
    })
    .await
    .is_err()
        || s.flush().await.is_err()
    {
        return;
    }
    s.command_loop().await;
    tracing::debug!("session ended");
}

/// Creates INBOX and, the first time, the special-use folders, as whoever runs this.
async fn prepare_user_store(store: &Store) -> Result<(), StoreError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || prepare_store(&store)).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// Creates INBOX, and the special-use folders the first time a user logs in.
fn prepare_store(store: &Store) -> Result<(), StoreError> {
    store.ensure_inbox()?;
    let marker = store.root().join(SPECIAL_USE_MARKER);
    if marker.exists() {
        return Ok(());
    }
    // Concurrent first logins of one user (threads here, or session children) must not
    // both do this: the subscriptions lock covers the whole first-time setup.
    let _lock = subscriptions::lock_subscriptions(store.root())?;
    if marker.exists() {
        return Ok(());
    }
    let mut subs = subscriptions::load_subscriptions(store.root());
    for (name, _) in ferrymail_imap_proto::list::SPECIAL_USE {
        let n = MailboxName::new(name).map_err(ferrymail_maildir::Error::from)?;
        match store.create_folder(&n) {
            Ok(_) | Err(ferrymail_maildir::Error::MailboxExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if !subs.iter().any(|s| s == name) {
            subs.push(name.to_owned());
        }
    }
    subscriptions::save_subscriptions(store.root(), &subs)?;
    std::fs::write(&marker, b"")?;
    Ok(())
}

impl Session {
    /// A refused login: counted by the state machine, which ends the session past the limit.
    async fn refuse_login(
        &mut self,
        tag: String,
        code: Code,
        text: &'static str,
    ) -> std::io::Result<bool> {
        let action = self
            .with_proto(move |p, out| p.login_failed(&tag, code, text, out))
            .await?;
        Ok(matches!(action, Action::Close))
    }

    pub(super) async fn authenticate(
        &mut self,
        tag: String,
        mechanism: String,
        initial: Option<String>,
    ) -> std::io::Result<bool> {
        use ferrymail_net::sasl::{Exchange, Mechanism, SaslError, Step};
        let Some(mechanism) = Mechanism::from_name(&mechanism) else {
            self.push(&Response::no(
                &tag,
                None,
                "Unsupported authentication mechanism",
            ));
            return Ok(false);
        };
        let mut exchange = Exchange::new(mechanism, ferrymail_users::login_key)
            .with_master(self.ctx.throttle.master_login());
        let mut step = exchange.begin(initial.as_deref());
        loop {
            match step {
                Ok(Step::Challenge(challenge)) => {
                    self.push(&Response::Continue(challenge.to_owned()));
                    self.flush().await?;
                    let response = match self.conn.read_line(MAX_SASL_LINE).await? {
                        LineResult::Line(l) => String::from_utf8_lossy(&l).into_owned(),
                        LineResult::TooLong(_) => {
                            self.push(&Response::bad(&tag, "Authentication response too long"));
                            return Ok(false);
                        }
                        LineResult::Eof => return Ok(true),
                    };
                    step = exchange.respond(&response);
                }
                Ok(Step::Done(creds)) => return self.finish_login(tag, creds).await,
                Err(SaslError::Cancelled) => {
                    self.push(&Response::bad(&tag, "Authentication cancelled"));
                    return Ok(false);
                }
                Err(SaslError::NotAuthorized) => {
                    return self
                        .refuse_login(
                            tag,
                            Code::AuthorizationFailed,
                            "Not authorized to act as another user",
                        )
                        .await
                }
                Err(e @ (SaslError::Base64 | SaslError::Malformed)) => {
                    self.push(&Response::bad(
                        &tag,
                        format!("Invalid authentication data: {e}"),
                    ));
                    return Ok(false);
                }
            }
        }
    }

    /// Checks credentials and logs in (or hands a Unix account to its session child).
    /// Ok(true): the connection closes here.
    pub(super) async fn finish_login(
        &mut self,
        tag: String,
        creds: Credentials,
    ) -> std::io::Result<bool> {
        let login = creds.authcid.clone();
        let ip: IpAddr = self.info.peer_ip();
        let Some(users) = self.ctx.users.clone() else {
            self.push(&Response::bad(&tag, "Already logged in"));
            return Ok(false);
        };
        let exempt = self.info.trusted && self.config().imapd.limits.exempt_trusted;
        let account = match self
            .ctx
            .throttle
            .verify_credentials(&users, ip, exempt, creds)
            .await
        {
            LoginCheck::Accepted(account) => account,
            LoginCheck::Refused { reason, delay } => {
                ferrymail_metrics::conn::auth_failed(ferrymail_metrics::conn::Protocol::Imap);
                tracing::info!(user = %login, %reason, "authentication failed");
                tokio::time::sleep(delay).await;
                return self
                    .refuse_login(tag, Code::AuthenticationFailed, "Authentication failed.")
                    .await;
            }
            LoginCheck::Broken => {
                tracing::warn!(user = %login, "password check task failed");
                return self
                    .refuse_login(tag, Code::AuthenticationFailed, "Authentication failed.")
                    .await;
            }
        };
        let root = match account.mailbox(self.config()) {
            MailboxLocation::Maildir(p) => p,
            MailboxLocation::Mbox(_) => {
                self.push(&Response::no(
                    &tag,
                    Some(Code::Unavailable),
                    "This account's mailbox is an mbox, which IMAP does not serve",
                ));
                return Ok(false);
            }
        };
        let spawner = match &account {
            Account::Unix(_) => self.ctx.spawner.clone(),
            Account::Virtual(_) => None,
        };
        if spawner.is_none() && matches!(account, Account::Unix(_)) {
            // Not root (a development setup): no spawner, so served as the daemon user,
            // which must be able to read the account's Maildir.
            tracing::debug!(user = %account.login(), "serving a Unix account in-process");
        }
        let canonical = account.login().to_owned();
        let limit = self.config().imapd.max_connections_per_user;
        {
            let mut m = self
                .ctx
                .user_conns
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = m.entry(canonical.clone()).or_insert(0);
            if *n >= limit {
                drop(m);
                self.push(&Response::no(
                    &tag,
                    Some(Code::Limit),
                    "Too many connections for this user",
                ));
                return Ok(false);
            }
            *n += 1;
        }
        let slot = UserSlot {
            ctx: self.ctx.clone(),
            login: canonical.clone(),
        };
        if let Some(spawner) = spawner {
            return Ok(self.hand_off(&tag, &canonical, slot, spawner).await);
        }
        let store = Store::new(root);
        if let Err(e) = prepare_user_store(&store).await {
            let f = failure(&e);
            self.push(&Response::no(&tag, Some(f.code()), f.to_string()));
            return Ok(false);
        }
        tracing::info!(user = %canonical, "logged in");
        self.user = Some((canonical.clone(), Some(slot)));
        let storage = MaildirStorage::new(store, self.ctx.hub.clone(), account.quota());
        self.with_proto(move |p, out: &mut Output| {
            p.set_login(&canonical);
            p.logged_in(&tag, storage, out)
        })
        .await?;
        Ok(false)
    }

    /// Gives the connection to a session child running as the Unix account, which answers
    /// the login command itself. Never falls back to serving the account in-process.
    async fn hand_off(
        &mut self,
        tag: &str,
        login: &str,
        slot: UserSlot,
        spawner: Arc<Spawner>,
    ) -> bool {
        match spawner.open_session(login).await {
            Ok((sock, pid)) => {
                tracing::info!(user = %login, pid, "logged in; handed to a session child");
                self.handoff = Some(Box::new(Handoff {
                    sock,
                    tag: tag.to_owned(),
                    _slot: slot,
                }));
                true
            }
            Err(e) => {
                tracing::error!(user = %login, error = %e, "no session child for a Unix account");
                self.push(&Response::no(
                    tag,
                    Some(Code::Unavailable),
                    "Cannot serve this account right now",
                ));
                false
            }
        }
    }
}
