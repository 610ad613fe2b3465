//! IMAP before login (RFC 3501, RFC 9051): the greeting, CAPABILITY, NOOP, ID, LOGOUT,
//! STARTTLS, LOGIN and AUTHENTICATE PLAIN/LOGIN (with SASL-IR). Commands are framed and
//! parsed by `ferrymail_imap_proto`; passwords are checked here, then the session is opened
//! on the user's backend and the backend's tagged OK (with its logged-in CAPABILITY) goes
//! to the client under the client's own tag.

use ferrymail_imap_proto::{parse_command, peek_tag, Collected, Command, CommandCollector};
use ferrymail_metrics::conn::Protocol;
use ferrymail_net::sasl::{Exchange, Mechanism};
use ferrymail_net::server::ConnInfo;

use crate::backend::Proto;
use crate::client::{Challenges, Client, ClientError};
use crate::context::{Context, Verified};

/// Largest literal before login (a login name or password).
const MAX_LITERAL: u64 = 4 * 1024;

/// Serves one client connection to its end.
pub async fn run(ctx: &Context, client: Client, info: &ConnInfo) -> Result<(), ClientError> {
    let mut c = client;
    let mut failures = 0u32;
    let max_failures = ctx.config.proxy.limits.max_auth_failures.max(1);
    let greeting = format!(
        "* OK [CAPABILITY {}] ferrymail IMAP4rev1 proxy ready\r\n",
        capabilities(ctx, info, c.is_tls())
    );
    c.send(greeting.as_bytes()).await?;
    // The same line limit as imapd's, so a client cannot tell the front end from a backend
    // (clients send long ID lists before logging in).
    let max_line = ctx.config.imapd.max_command_line;
    loop {
        let Some(command) = read_command(&mut c, max_line).await? else {
            // A literal it would send anyway cannot be told from commands: end here.
            c.send(b"* BYE command too long\r\n").await?;
            return Ok(());
        };
        let tag = peek_tag(&command).unwrap_or_else(|| "*".into());
        let parsed = parse_command(&command);
        let login = match parsed {
            Err(_) => {
                c.send(format!("{tag} BAD syntax error\r\n").as_bytes())
                    .await?;
                continue;
            }
            Ok((_, Command::Capability)) => {
                let caps = capabilities(ctx, info, c.is_tls());
                c.send(
                    format!("* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed\r\n").as_bytes(),
                )
                .await?;
                continue;
            }
            Ok((_, Command::Noop)) => {
                c.send(format!("{tag} OK NOOP completed\r\n").as_bytes())
                    .await?;
                continue;
            }
            Ok((_, Command::Id(_))) => {
                c.send(
                    format!("* ID (\"name\" \"ferrymail\")\r\n{tag} OK ID completed\r\n")
                        .as_bytes(),
                )
                .await?;
                continue;
            }
            Ok((_, Command::Logout)) => {
                c.send(format!("* BYE logging out\r\n{tag} OK LOGOUT completed\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            Ok((_, Command::StartTls)) => {
                if c.is_tls() || ctx.tls.is_none() {
                    c.send(format!("{tag} BAD STARTTLS not available\r\n").as_bytes())
                        .await?;
                    continue;
                }
                c.send(format!("{tag} OK begin TLS negotiation now\r\n").as_bytes())
                    .await?;
                c.handshake(ctx).await?;
                continue;
            }
            Ok((_, Command::Login { user, password })) => {
                if !ctx.login_allowed(info, c.is_tls()) {
                    c.send(format!("{tag} NO [PRIVACYREQUIRED] use STARTTLS first\r\n").as_bytes())
                        .await?;
                    continue;
                }
                match String::from_utf8(user) {
                    Ok(u) => Some((u, password)),
                    Err(_) => None,
                }
            }
            Ok((_, Command::Authenticate { mechanism, initial })) => {
                if !ctx.login_allowed(info, c.is_tls()) {
                    c.send(format!("{tag} NO [PRIVACYREQUIRED] use STARTTLS first\r\n").as_bytes())
                        .await?;
                    continue;
                }
                let Some(mech) = Mechanism::from_name(&mechanism) else {
                    c.send(format!("{tag} NO unsupported mechanism\r\n").as_bytes())
                        .await?;
                    continue;
                };
                let ex = Exchange::new(mech, ferrymail_users::login_key);
                match c.sasl(ex, initial.as_deref(), Challenges::Plus).await? {
                    Ok(creds) => Some((creds.authcid, creds.password)),
                    Err(why) => {
                        c.send(format!("{tag} BAD {why}\r\n").as_bytes()).await?;
                        continue;
                    }
                }
            }
            Ok(_) => {
                c.send(format!("{tag} BAD log in first\r\n").as_bytes())
                    .await?;
                continue;
            }
        };
        let account = match login {
            Some((user, password)) => ctx
                .verify(info, Protocol::Imap, &user, password)
                .await
                .map_err(ClientError::Internal)?,
            None => Verified::Refused,
        };
        let Verified::Ok(account) = account else {
            failures += 1;
            if failures >= max_failures {
                c.send(format!("* BYE too many failures\r\n{tag} NO [AUTHENTICATIONFAILED] authentication failed\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            c.send(format!("{tag} NO [AUTHENTICATIONFAILED] authentication failed\r\n").as_bytes())
                .await?;
            continue;
        };
        let user = account.login().to_owned();
        let unavailable =
            format!("{tag} NO [UNAVAILABLE] mailbox server unavailable, try again later\r\n");
        let reword = |reply: Vec<u8>| under_tag(&tag, reply);
        return c
            .proxy(ctx, Proto::Imap, &user, reword, unavailable.as_bytes())
            .await;
    }
}

/// The capabilities before login.
fn capabilities(ctx: &Context, info: &ConnInfo, tls: bool) -> String {
    let mut caps = vec![
        "IMAP4rev1",
        "IMAP4rev2",
        "SASL-IR",
        "LITERAL+",
        "ID",
        "ENABLE",
        "IDLE",
    ];
    if !tls && ctx.tls.is_some() {
        caps.push("STARTTLS");
    }
    if ctx.login_allowed(info, tls) {
        caps.extend(["AUTH=PLAIN", "AUTH=LOGIN"]);
    } else {
        caps.push("LOGINDISABLED");
    }
    caps.join(" ")
}

/// One complete command, literals inline; `None` when it is over the limits.
async fn read_command(c: &mut Client, max_line: usize) -> Result<Option<Vec<u8>>, ClientError> {
    let mut collector = CommandCollector::new(max_line, MAX_LITERAL);
    loop {
        let Some(line) = c.line(max_line + 2).await? else {
            return Ok(None);
        };
        match collector.push_line(&line) {
            Ok(Collected::Complete) => return Ok(Some(collector.take())),
            Ok(Collected::Literal { size, sync }) => {
                if sync {
                    c.send(b"+ ready\r\n").await?;
                }
                let n = usize::try_from(size).map_err(|_| ClientError::Internal("literal size"))?;
                let data = c.exact(n).await?;
                collector.push_literal(&data);
            }
            Err(_) => return Ok(None),
        }
    }
}

/// The backend's login reply for the client: its untagged lines as they are, its tagged
/// line (the last) under the client's `tag`.
fn under_tag(tag: &str, mut reply: Vec<u8>) -> Vec<u8> {
    let body = reply.strip_suffix(b"\r\n").unwrap_or(&reply);
    let last_line = body
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |i| i + 2);
    reply.splice(last_line..last_line, format!("{tag} ").into_bytes());
    reply
}

#[cfg(test)]
mod tests {
    use super::under_tag;

    #[test]
    fn the_backends_tagged_line_gets_the_clients_tag() {
        let reply = b"* CAPABILITY IMAP4rev1\r\nOK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n";
        assert_eq!(
            under_tag("a7", reply.to_vec()),
            b"* CAPABILITY IMAP4rev1\r\na7 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        );
        assert_eq!(under_tag("x", b"OK done\r\n".to_vec()), b"x OK done\r\n");
    }
}
