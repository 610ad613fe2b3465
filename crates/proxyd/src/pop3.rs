//! POP3 before login (RFC 1939, RFC 2449, RFC 5034): the greeting, CAPA, STLS, USER+PASS,
//! AUTH PLAIN/LOGIN (with an initial response), NOOP and QUIT. Commands are parsed by
//! pop3d's own parser; once the password is checked the session is opened on the user's
//! backend and the backend's `+OK` is the answer to the login.

use ferrymail_metrics::conn::Protocol;
use ferrymail_net::sasl::{Credentials, Exchange, Mechanism};
use ferrymail_net::server::ConnInfo;
use pop3d::parser::{parse, Command};

use crate::backend::Proto;
use crate::client::{Challenges, Client, ClientError};
use crate::context::{Context, Verified};

/// RFC 2449 §4: 255 octets for a command, more for SASL responses.
const MAX_LINE: usize = 4096;

const PLAINTEXT_REFUSED: &[u8] =
    b"-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS\r\n";

pub async fn run(ctx: &Context, client: Client, info: &ConnInfo) -> Result<(), ClientError> {
    let mut c = client;
    let mut user: Option<String> = None;
    let mut failures = 0u32;
    let max_failures = ctx.config.proxy.limits.max_auth_failures.max(1);
    c.send(b"+OK ferrymail POP3 proxy ready\r\n").await?;
    loop {
        let Some(line) = c.line(MAX_LINE).await? else {
            c.send(b"-ERR line too long\r\n").await?;
            continue;
        };
        let allowed = ctx.login_allowed(info, c.is_tls());
        let creds = match parse(&line) {
            Err(e) => {
                c.send(format!("-ERR {e}\r\n").as_bytes()).await?;
                continue;
            }
            Ok(Command::Capa) => {
                c.send(&capabilities(ctx, allowed, c.is_tls())).await?;
                continue;
            }
            Ok(Command::Noop) => {
                c.send(b"-ERR log in first\r\n").await?;
                continue;
            }
            Ok(Command::Quit) => {
                c.send(b"+OK bye\r\n").await?;
                return Ok(());
            }
            Ok(Command::Stls) => {
                if c.is_tls() || ctx.tls.is_none() {
                    c.send(b"-ERR STLS not available\r\n").await?;
                    continue;
                }
                c.send(b"+OK Begin TLS negotiation\r\n").await?;
                c.handshake(ctx).await?;
                user = None;
                continue;
            }
            Ok(Command::User(_) | Command::Pass(_) | Command::Auth { .. }) if !allowed => {
                c.send(PLAINTEXT_REFUSED).await?;
                continue;
            }
            Ok(Command::User(name)) => {
                user = Some(name);
                c.send(b"+OK send your password\r\n").await?;
                continue;
            }
            Ok(Command::Pass(password)) => match user.take() {
                Some(u) => Credentials {
                    authzid: String::new(),
                    authcid: u,
                    password,
                },
                None => {
                    c.send(b"-ERR USER first\r\n").await?;
                    continue;
                }
            },
            Ok(Command::Auth {
                mechanism: None, ..
            }) => {
                c.send(b"+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n").await?;
                continue;
            }
            Ok(Command::Auth {
                mechanism: Some(m),
                initial_response,
            }) => {
                let Some(mech) = Mechanism::from_name(&m) else {
                    c.send(b"-ERR unsupported mechanism\r\n").await?;
                    continue;
                };
                let ex = Exchange::new(mech, ferrymail_users::login_key);
                match c
                    .sasl(ex, initial_response.as_deref(), Challenges::Plus)
                    .await?
                {
                    Ok(creds) => creds,
                    Err(_) => {
                        c.send(b"-ERR [AUTH] authentication failed\r\n").await?;
                        continue;
                    }
                }
            }
            Ok(Command::Apop) => {
                c.send(b"-ERR APOP is not supported; use USER/PASS or AUTH\r\n")
                    .await?;
                continue;
            }
            Ok(_) => {
                c.send(b"-ERR log in first\r\n").await?;
                continue;
            }
        };
        let verified = ctx
            .verify(info, Protocol::Pop3, &creds.authcid, creds.password)
            .await
            .map_err(ClientError::Internal)?;
        let Verified::Ok(account) = verified else {
            failures += 1;
            c.send(b"-ERR [AUTH] authentication failed\r\n").await?;
            if failures >= max_failures {
                return Ok(());
            }
            continue;
        };
        let login = account.login().to_owned();
        let unavailable = b"-ERR [SYS/TEMP] mailbox server unavailable, try again later\r\n";
        return c.proxy(ctx, Proto::Pop3, &login, |r| r, unavailable).await;
    }
}

fn capabilities(ctx: &Context, allowed: bool, tls: bool) -> Vec<u8> {
    pop3d::session::capability_list(allowed, !tls && ctx.tls.is_some())
}
