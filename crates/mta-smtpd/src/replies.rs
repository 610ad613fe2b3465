//! Every reply mta-smtpd sends, in one place, so a reply code and its enhanced status code
//! (RFC 3463) are chosen once and stay consistent across the session, the policy and the shell.

use ferrymail_smtp::Reply;

use crate::rate::{Budget, Exceeded, Scope};

pub fn greeting(host: &str) -> Reply {
    Reply::plain(220, format!("{host} ESMTP ferrymail"))
}

/// The first line of a delayed greeting (postscreen's `220-`), sent before the wait; the
/// client must not talk until [`greeting`] completes it.
pub fn greeting_start(host: &str) -> Vec<u8> {
    format!("220-{host} ESMTP ferrymail\r\n").into_bytes()
}

/// A client that talked before the greeting, with `greet_action = "drop"`; then close.
pub fn pregreet_drop() -> Reply {
    Reply::new(521, "5.5.1", "Protocol error")
}

/// Every recipient of a client that talked before the greeting (`greet_action = "reject"`).
pub fn pregreet_refused() -> Reply {
    Reply::new(550, "5.5.1", "Protocol error")
}

/// Every recipient of a client whose DNS list score reached the threshold; `temporary` for
/// `dnsbl_action = "tempfail"`.
pub fn dnsbl_blocked(client: std::net::IpAddr, zone: &str, temporary: bool) -> Reply {
    let (code, enhanced) = if temporary {
        (450, "4.7.1")
    } else {
        (550, "5.7.1")
    };
    Reply::new(
        code,
        enhanced,
        format!("Service unavailable; client [{client}] blocked using {zone}"),
    )
}

/// A recipient whose (client network, sender, recipient) triplet is new or too recent.
pub fn greylisted(retry_in: u64) -> Reply {
    Reply::new(
        451,
        "4.7.1",
        format!("Greylisted, try again in {retry_in} seconds"),
    )
}

pub fn busy(host: &str) -> Reply {
    Reply::new(421, "4.7.0", format!("{host} Error: too many connections"))
}

pub fn ok() -> Reply {
    Reply::new(250, "2.0.0", "Ok")
}

pub fn helo(host: &str, client_helo: &str) -> Reply {
    Reply::plain(250, format!("{host} greets {client_helo}"))
}

pub fn bye() -> Reply {
    Reply::new(221, "2.0.0", "Bye")
}

pub fn help() -> Reply {
    Reply::new(214, "2.0.0", "See RFC 5321")
}

pub fn need_helo() -> Reply {
    Reply::new(503, "5.5.1", "Error: send HELO/EHLO first")
}

pub fn need_ehlo_for_params() -> Reply {
    Reply::new(555, "5.5.4", "Error: ESMTP parameters need EHLO")
}

/// A parameter this server parses but never offers (XQUEUEID is between ferrymail's own
/// queue-runner and local-delivery).
pub fn param_not_offered(name: &str) -> Reply {
    Reply::new(
        555,
        "5.5.4",
        format!("Error: {name} parameter not supported"),
    )
}

pub fn nested_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: nested MAIL command")
}

pub fn need_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: need MAIL command")
}

pub fn need_rcpt() -> Reply {
    Reply::new(503, "5.5.1", "Error: need RCPT command")
}

pub fn no_valid_recipients() -> Reply {
    Reply::new(554, "5.5.1", "Error: no valid recipients")
}

pub fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0", "Ok")
}

pub fn recipient_ok() -> Reply {
    Reply::new(250, "2.1.5", "Ok")
}

pub fn start_data() -> Reply {
    Reply::plain(354, "End data with <CR><LF>.<CR><LF>")
}

pub fn chunk_ok(size: u64) -> Reply {
    Reply::new(250, "2.0.0", format!("Ok: {size} octets received"))
}

pub fn queued(qid: &str) -> Reply {
    Reply::new(250, "2.0.0", format!("Ok: queued as {qid}"))
}

pub fn size_exceeded() -> Reply {
    Reply::new(552, "5.3.4", "Error: message size exceeds fixed limit")
}

pub fn bare_line_ending() -> Reply {
    Reply::new(
        554,
        "5.6.11",
        "Error: bare CR or LF in message data is not allowed (RFC 5321 §2.3.8)",
    )
}

pub fn text_line_too_long(limit: usize) -> Reply {
    Reply::new(
        554,
        "5.6.0",
        format!("Error: message has a line longer than {limit} octets"),
    )
}

pub fn binarymime_needs_bdat() -> Reply {
    Reply::new(503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT")
}

pub fn data_after_bdat() -> Reply {
    Reply::new(503, "5.5.1", "Error: DATA not allowed after BDAT")
}

pub fn storage_failure() -> Reply {
    Reply::new(452, "4.3.1", "Error: insufficient system storage")
}

pub fn command_line_too_long() -> Reply {
    Reply::new(500, "5.5.2", "Error: line too long")
}

pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(421, "4.7.0", format!("{host} Error: too many errors"))
}

pub fn timeout(host: &str) -> Reply {
    Reply::new(421, "4.4.2", format!("{host} Error: timeout exceeded"))
}

pub fn shutting_down(host: &str) -> Reply {
    Reply::new(421, "4.3.2", format!("{host} Service shutting down"))
}

pub fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3", "Error: too many recipients")
}

pub fn vrfy_disabled() -> Reply {
    Reply::new(
        252,
        "2.5.2",
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}

pub fn vrfy_ok(addr: &str) -> Reply {
    Reply::new(250, "2.1.5", format!("<{addr}>"))
}

pub fn expn_disabled() -> Reply {
    Reply::new(502, "5.5.1", "Error: EXPN is not supported")
}

pub fn not_implemented() -> Reply {
    Reply::new(502, "5.5.1", "Error: command not implemented")
}

// STARTTLS (RFC 3207)

pub fn tls_ready() -> Reply {
    Reply::new(220, "2.0.0", "Ready to start TLS")
}

pub fn tls_already_active() -> Reply {
    Reply::new(503, "5.5.1", "Error: TLS already active")
}

pub fn tls_unavailable() -> Reply {
    Reply::new(454, "4.7.0", "TLS not available")
}

/// RFC 8689: REQUIRETLS is only offered, and only honoured, under TLS.
pub fn requiretls_needs_tls() -> Reply {
    Reply::new(
        530,
        "5.7.10",
        "REQUIRETLS needs a TLS session: issue STARTTLS first",
    )
}

pub fn starttls_first() -> Reply {
    Reply::new(530, "5.7.0", "Must issue a STARTTLS command first")
}

// AUTH (RFC 4954)

pub fn auth_required() -> Reply {
    Reply::new(530, "5.7.0", "Authentication required")
}

pub fn auth_needs_encryption() -> Reply {
    Reply::new(
        538,
        "5.7.11",
        "Encryption required for requested authentication mechanism",
    )
}

pub fn auth_already() -> Reply {
    Reply::new(503, "5.5.1", "Error: already authenticated")
}

pub fn auth_in_transaction() -> Reply {
    Reply::new(
        503,
        "5.5.1",
        "Error: MAIL transaction in progress, AUTH not permitted",
    )
}

pub fn auth_need_ehlo() -> Reply {
    Reply::new(503, "5.5.1", "Error: send EHLO first")
}

pub fn auth_unknown_mechanism() -> Reply {
    Reply::new(504, "5.5.4", "Unrecognized authentication type")
}

pub fn auth_challenge(b64: &str) -> Reply {
    Reply::plain(334, b64)
}

pub fn auth_cancelled() -> Reply {
    Reply::new(501, "5.0.0", "Authentication cancelled")
}

pub fn auth_bad_response() -> Reply {
    Reply::new(501, "5.5.2", "Error: cannot decode response")
}

pub fn auth_line_too_long() -> Reply {
    Reply::new(500, "5.5.6", "Authentication exchange line is too long")
}

pub fn auth_ok() -> Reply {
    Reply::new(235, "2.7.0", "Authentication successful")
}

/// The one answer to every failed login, whatever the reason (RFC 4954 §6): a client must not
/// learn whether the user exists.
pub fn auth_failed() -> Reply {
    Reply::new(535, "5.7.8", "Authentication credentials invalid")
}

/// RFC 4954 has no code of its own for an authorization identity the user may not act as;
/// 535 5.7.8 is its answer for credentials that do not grant what was asked.
pub fn auth_not_authorized() -> Reply {
    Reply::new(535, "5.7.8", "Not authorized to act as another user")
}

pub fn too_many_auth_failures(host: &str) -> Reply {
    Reply::new(
        421,
        "4.7.0",
        format!("{host} Error: too many failed authentication attempts"),
    )
}

// Policy

pub fn unknown_user(addr: &str) -> Reply {
    Reply::new(
        550,
        "5.1.1",
        format!("<{addr}>: Recipient address rejected: User unknown"),
    )
}

pub fn alias_loop(addr: &str) -> Reply {
    Reply::new(
        550,
        "5.4.6",
        format!("<{addr}>: Recipient address rejected: alias loop"),
    )
}

pub fn relay_denied(addr: &str) -> Reply {
    Reply::new(554, "5.7.1", format!("<{addr}>: Relay access denied"))
}

pub fn bad_recipient_syntax(why: &str) -> Reply {
    Reply::new(501, "5.1.3", format!("Bad recipient address syntax: {why}"))
}

pub fn bad_sender_syntax(why: &str) -> Reply {
    Reply::new(553, "5.1.7", format!("Bad sender address syntax: {why}"))
}

pub fn needs_smtputf8() -> Reply {
    Reply::new(
        553,
        "5.6.7",
        "Error: non-ASCII address requires the SMTPUTF8 parameter",
    )
}

pub fn sender_not_owned(addr: &str) -> Reply {
    Reply::new(
        553,
        "5.7.1",
        format!("<{addr}>: Sender address rejected: not owned by the authenticated user"),
    )
}

/// A submission rate limit (`[smtpd.rate]`) has run out: 450 4.7.1, as Postfix's anvil answers.
/// RFC 5321 describes 450 as a mailbox "temporarily blocked for policy reasons" and lists it
/// for RCPT; at MAIL every client takes a 4yz as "try again later", which is the point.
pub fn rate_limited(e: &Exceeded) -> Reply {
    let what = match e.budget {
        Budget::Messages => "messages",
        Budget::Recipients => "recipients",
    };
    let from = match e.scope {
        Scope::User => format!("user {}", e.who),
        Scope::Address => format!("address {}", e.who),
    };
    Reply::new(
        450,
        "4.7.1",
        format!(
            "Error: too many {what} from {from} (limit {} per hour)",
            e.limit
        ),
    )
}
