//! The control socket of `mailctl proxy` (`proxy.control_socket`), in the style of
//! queue-runner's: one JSON [`Request`] line per connection, one JSON [`Response`] line back.
//! The types live here so that mailctl speaks the protocol through this crate's library, the
//! client is the one of every control socket (`ferrymail_queue_control::exchange`); the
//! daemon side is [`serve`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_net::signals::Shutdown;
pub use ferrymail_queue_control::ControlError;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use crate::context::Context;
use crate::route::Why;

/// Longest request line.
pub const MAX_REQUEST_LINE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Every backend's state.
    Backends,
    /// Where the user's next session would go, and why.
    Where { user: String },
    /// Re-read the routes file and close the user's sessions (after `mailctl proxy move` or
    /// `unmove` rewrote the file), so that the clients reconnect to the new backend.
    Moved { user: String },
    /// Close the user's sessions.
    Kick { user: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendState {
    pub name: String,
    pub address: String,
    pub up: bool,
    /// Failed checks in a row.
    pub failures: u32,
    /// Unix seconds of its last change between up and down (or of proxyd's start).
    pub since: u64,
    pub sessions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub user: String,
    /// None: no healthy backend.
    pub backend: Option<String>,
    pub why: Option<Why>,
    pub override_backend: Option<String>,
    pub sessions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub backends: Vec<BackendState>,
    #[serde(default)]
    pub placement: Option<Placement>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: message.into(),
            backends: Vec::new(),
            placement: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            ..Response::ok(message)
        }
    }
}

/// Sends one request and waits for the answer (the client side, blocking).
pub fn request(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    ferrymail_queue_control::exchange("proxyd", socket, req, timeout)
}

/// Answers requests on `listener` until shutdown.
pub async fn serve(ctx: Arc<Context>, listener: UnixListener, mut shutdown: Shutdown) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.wait() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = tokio::io::BufReader::new(r);
            let mut line = Vec::new();
            let mut limited = (&mut r).take(MAX_REQUEST_LINE as u64);
            let read = tokio::time::timeout(
                Duration::from_secs(10),
                limited.read_until(b'\n', &mut line),
            )
            .await;
            let resp = match read {
                Ok(Ok(_)) => match serde_json::from_slice::<Request>(&line) {
                    Ok(req) => answer(&ctx, req),
                    Err(e) => Response::error(format!("bad request: {e}")),
                },
                _ => return,
            };
            let mut out = serde_json::to_vec(&resp).unwrap_or_else(|_| {
                br#"{"ok":false,"message":"response not serialisable"}"#.to_vec()
            });
            out.push(b'\n');
            let _ = w.write_all(&out).await;
        });
    }
}

fn answer(ctx: &Context, req: Request) -> Response {
    match req {
        Request::Backends => {
            let per = ctx.sessions.per_backend();
            let backends = ctx
                .config
                .proxy
                .backends
                .iter()
                .map(|b| {
                    let h = ctx.health.snapshot(&b.name);
                    BackendState {
                        name: b.name.clone(),
                        address: b.address.clone(),
                        up: h.as_ref().is_some_and(|h| h.up),
                        failures: h.as_ref().map_or(0, |h| h.failures),
                        since: h.as_ref().map_or(0, |h| h.since),
                        sessions: per.get(&b.name).copied().unwrap_or(0),
                    }
                })
                .collect();
            Response {
                backends,
                ..Response::ok("")
            }
        }
        Request::Where { user } => {
            let key = ferrymail_users::login_key(&user);
            let first = ctx.candidates(&key).into_iter().next();
            let placement = Placement {
                user: key.clone(),
                backend: first.map(|(b, _)| b.name.clone()),
                why: first.map(|(_, w)| w),
                override_backend: ctx.routes.get(&key),
                sessions: ctx.sessions.count(&key),
            };
            Response {
                placement: Some(placement),
                ..Response::ok("")
            }
        }
        Request::Moved { user } => {
            ctx.routes.reload();
            let key = ferrymail_users::login_key(&user);
            let n = ctx.sessions.kick(&key);
            tracing::info!(user = %key, sessions = n, "routes reloaded; sessions closed");
            Response::ok(format!("{n} session(s) closed"))
        }
        Request::Kick { user } => {
            let key = ferrymail_users::login_key(&user);
            let n = ctx.sessions.kick(&key);
            tracing::info!(user = %key, sessions = n, "sessions closed");
            Response::ok(format!("{n} session(s) closed"))
        }
    }
}
