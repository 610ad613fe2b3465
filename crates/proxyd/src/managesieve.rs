//! ManageSieve before login (RFC 5804): the capability greeting, CAPABILITY, STARTTLS (with
//! the capabilities again after it), AUTHENTICATE PLAIN/LOGIN (initial response or quoted
//! continuation), NOOP and LOGOUT. Commands are parsed by `ferrymail_managesieve`; once the
//! password is checked the session is opened on the user's backend and the backend's `OK`
//! is the answer to AUTHENTICATE.

use ferrymail_managesieve::command::{parse, Command};
use ferrymail_managesieve::response::{self, Capabilities, Code};
use ferrymail_metrics::conn::Protocol;
use ferrymail_net::sasl::{Exchange, Mechanism};
use ferrymail_net::server::ConnInfo;

use crate::backend::Proto;
use crate::client::{Challenges, Client, ClientError};
use crate::context::{Context, Verified};

/// Longest line before login; literals (only a SASL response) are bounded apart.
const MAX_LINE: usize = 8 * 1024;
const MAX_LITERAL: u64 = 8 * 1024;

pub async fn run(ctx: &Context, client: Client, info: &ConnInfo) -> Result<(), ClientError> {
    let mut c = client;
    let mut failures = 0u32;
    let max_failures = ctx.config.proxy.limits.max_auth_failures.max(1);
    c.send(&capabilities(ctx, info, c.is_tls())).await?;
    loop {
        let Some(frame) = c.sieve_frame(MAX_LINE, MAX_LITERAL).await? else {
            let mut out = Vec::new();
            response::bye(&mut out, "Command too long");
            c.send(&out).await?;
            return Ok(());
        };
        let mut out = Vec::new();
        let creds = match parse(&frame) {
            Err(e) => {
                response::no(&mut out, None, &e.to_string());
                c.send(&out).await?;
                continue;
            }
            Ok(Command::Capability) => {
                c.send(&capabilities(ctx, info, c.is_tls())).await?;
                continue;
            }
            Ok(Command::Noop(tag)) => {
                let code = tag.map(Code::Tag);
                response::reply(&mut out, response::Kind::Ok, code.as_ref(), "Done");
                c.send(&out).await?;
                continue;
            }
            Ok(Command::Logout) => {
                response::ok(&mut out, "Logout completed");
                c.send(&out).await?;
                return Ok(());
            }
            Ok(Command::StartTls) => {
                if c.is_tls() || ctx.tls.is_none() {
                    response::no(&mut out, None, "STARTTLS not available");
                    c.send(&out).await?;
                    continue;
                }
                response::ok(&mut out, "Begin TLS negotiation now");
                c.send(&out).await?;
                c.handshake(ctx).await?;
                c.send(&capabilities(ctx, info, true)).await?;
                continue;
            }
            Ok(Command::Authenticate { mechanism, initial }) => {
                if !ctx.login_allowed(info, c.is_tls()) {
                    let text = "Use STARTTLS before authenticating";
                    response::no(&mut out, Some(Code::EncryptNeeded), text);
                    c.send(&out).await?;
                    continue;
                }
                let Some(mech) = Mechanism::from_name(&mechanism) else {
                    response::no(&mut out, None, "Unsupported SASL mechanism");
                    c.send(&out).await?;
                    continue;
                };
                let initial = initial.map(|ir| String::from_utf8_lossy(&ir).into_owned());
                let ex = Exchange::new(mech, ferrymail_users::login_key);
                match c.sasl(ex, initial.as_deref(), Challenges::Sieve).await? {
                    Ok(creds) => creds,
                    Err(_) => {
                        response::no(&mut out, None, "Authentication failed");
                        c.send(&out).await?;
                        continue;
                    }
                }
            }
            Ok(_) => {
                response::no(&mut out, None, "Authenticate first");
                c.send(&out).await?;
                continue;
            }
        };
        let verified = ctx
            .verify(info, Protocol::ManageSieve, &creds.authcid, creds.password)
            .await
            .map_err(ClientError::Internal)?;
        let Verified::Ok(account) = verified else {
            failures += 1;
            if failures >= max_failures {
                response::bye(&mut out, "Too many failed logins");
                c.send(&out).await?;
                return Ok(());
            }
            response::no(&mut out, None, "Authentication failed");
            c.send(&out).await?;
            continue;
        };
        let login = account.login().to_owned();
        let text = "Mailbox server unavailable, try again later";
        response::no(&mut out, Some(Code::TryLater), text);
        return c.proxy(ctx, Proto::ManageSieve, &login, |r| r, &out).await;
    }
}

fn capabilities(ctx: &Context, info: &ConnInfo, tls: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let sasl = match ctx.login_allowed(info, tls) {
        true => Mechanism::ALL.iter().map(|m| m.name()).collect(),
        false => Vec::new(),
    };
    response::capabilities(
        &mut out,
        &Capabilities {
            implementation: "ferrymail".into(),
            sasl,
            sieve: ferrymail_sieve::CAPABILITIES.to_vec(),
            starttls: !tls && ctx.tls.is_some(),
            max_redirects: ctx.config.delivery.sieve.max_redirects,
            owner: None,
        },
    );
    out
}
