//! The one configuration file every ferrymail program reads.
//!
//! All daemons and tools take `-c PATH` (default [`DEFAULT_PATH`]) and parse the same TOML file into
//! [`Config`]. Every key has a documented default (see `deploy/ferrymail.toml`), unknown keys are
//! rejected rather than ignored (a typo must not silently fall back to a default), and values are
//! checked by [`Config::validate`] so a daemon refuses to start on a bad config instead of guessing.
//! Errors name the file, the key and the reason; `mailctl config check` prints exactly these.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod cluster;
mod managesieve;
mod metrics;
mod milter;
mod mta_sts;
mod proxy;
mod rate;
mod screen;
mod sieve;
mod spam;
mod tls_policy;
mod tls_rpt;

pub use cluster::{Cluster, ClusterPeer};
pub use managesieve::Managesieve;
pub use metrics::Metrics;
pub use milter::{parse_address as parse_milter_address, Milter, MilterAddress, MilterDefault};
pub use mta_sts::MtaSts;
pub use proxy::{Backend as ProxyBackend, Proxy};
pub use rate::{RateLimits, UserRate};
pub use screen::{DnsblAction, DnsblSite, GreetAction, Greylist, Screen};
pub use sieve::Sieve;
pub use spam::parse_spam_header;
pub use tls_policy::TlsPolicy;
pub use tls_rpt::TlsRpt;

/// Where packaged installs keep the config.
pub const DEFAULT_PATH: &str = "/etc/ferrymail/ferrymail.toml";

/// A config that could not be loaded: the file, where in it, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors, unknown keys and wrongly typed values, as reported by the TOML parser
    /// (its message carries the line, column and key).
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    /// Values that parse but make no sense together (checked after parsing).
    #[error("{file}: {}", .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One semantic problem in a parsed config: the dotted key and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key `{}`: {}", self.key, self.reason)
    }
}

/// The whole configuration. Sections map one-to-one to TOML tables.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: General,
    pub paths: Paths,
    pub tls: Tls,
    pub userdb: UserDb,
    pub log: Log,
    pub smtpd: Smtpd,
    pub queue: Queue,
    pub delivery: Delivery,
    pub pop3d: Pop3d,
    pub imapd: Imapd,
    pub managesieve: Managesieve,
    pub dkim: Dkim,
    pub mailauth: MailAuth,
    pub metrics: Metrics,
    pub cluster: Cluster,
    pub proxy: Proxy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// The name this host gives in greetings, `Received:` headers and bounces. Empty means
    /// "the system host name" (resolved at start, see [`Config::hostname`]).
    pub hostname: String,
    /// Domains whose mail is delivered here (more can be listed in `userdb.domains_file`).
    pub local_domains: Vec<String>,
    /// Clients allowed to relay without authenticating (Postfix's `mynetworks`).
    pub trusted_networks: Vec<IpNet>,
    /// Address of the postmaster, who receives copies of problems. Empty = `postmaster@hostname`.
    pub postmaster: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            hostname: String::new(),
            local_domains: Vec::new(),
            trusted_networks: vec![
                "127.0.0.0/8".parse().expect("literal network"),
                "::1/128".parse().expect("literal network"),
            ],
            postmaster: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    /// The queue: written by mta-smtpd and sendmail, owned by queue-runner.
    pub spool_dir: PathBuf,
    /// Root of the virtual mailboxes: `<mail_root>/<domain>/<user>/Maildir`.
    pub mail_root: PathBuf,
    /// Unix sockets between the daemons (LMTP, queue wake-up, control).
    pub run_dir: PathBuf,
    /// Private state (sled databases): one subdirectory per owning daemon.
    pub state_dir: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            spool_dir: "/var/spool/ferrymail".into(),
            mail_root: "/var/mail/vhosts".into(),
            run_dir: "/run/ferrymail".into(),
            state_dir: "/var/lib/ferrymail".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: "/etc/ferrymail/tls/cert.pem".into(),
            key: "/etc/ferrymail/tls/key.pem".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UserDb {
    /// Virtual users in Dovecot's passwd-file format.
    pub passwd_file: PathBuf,
    /// Aliases in `/etc/aliases` format.
    pub aliases_file: PathBuf,
    /// Extra local domains, one per line (what `mailctl domain add` edits).
    pub domains_file: PathBuf,
    /// Also accept mail for, and log in, the system's own accounts (passwd/shadow).
    pub unix_accounts: bool,
    pub unix_passwd_file: PathBuf,
    pub unix_shadow_file: PathBuf,
    /// Lowest uid treated as a mail account; system accounts below it get mail only via aliases.
    pub unix_min_uid: u32,
    /// Where Unix accounts' mail goes.
    pub unix_mailbox: UnixMailbox,
    /// `joe+tag@domain` is delivered to `joe@domain` when set (empty = off).
    pub recipient_delimiter: String,
    /// How long a successful password check is remembered, so the next logins of that user with
    /// that password skip the slow hash (0 = no cache). Counted from the check itself, never
    /// extended by a hit; a changed stored password is never matched by an older entry.
    #[serde(with = "humantime_serde")]
    pub auth_cache_ttl: Duration,
    /// Successful checks remembered at most (0 = no cache); the oldest go first when full.
    pub auth_cache_size: usize,
}

impl Default for UserDb {
    fn default() -> Self {
        UserDb {
            passwd_file: "/etc/ferrymail/passwd".into(),
            aliases_file: "/etc/ferrymail/aliases".into(),
            domains_file: "/etc/ferrymail/domains".into(),
            unix_accounts: false,
            unix_passwd_file: "/etc/passwd".into(),
            unix_shadow_file: "/etc/shadow".into(),
            unix_min_uid: 1000,
            unix_mailbox: UnixMailbox::Maildir,
            recipient_delimiter: "+".into(),
            auth_cache_ttl: Duration::from_secs(300),
            auth_cache_size: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnixMailbox {
    /// `~/Maildir`
    Maildir,
    /// `/var/mail/<user>` (see `delivery.mbox_dir`)
    Mbox,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// A `tracing` filter: `info`, `debug`, `mta_smtpd=debug,info`, ... `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
        }
    }
}

/// What a listening socket is for; decides the policy applied to its sessions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// SMTP port 25: mail from the world for local domains.
    Mx,
    /// Port 587: STARTTLS then AUTH before MAIL.
    Submission,
    /// Port 465: implicit TLS, AUTH required.
    Submissions,
    /// IMAP 143 (STARTTLS).
    Imap,
    /// IMAP 993 (implicit TLS).
    Imaps,
    /// POP3 110 (STLS).
    Pop3,
    /// POP3 995 (implicit TLS).
    Pop3s,
    /// ManageSieve 4190 (STARTTLS).
    Managesieve,
    /// LMTP over TCP, 24 (STARTTLS, then the cluster login): the front end's side for the
    /// MX hosts' queue-runners.
    Lmtp,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mx => "mx",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
            Role::Imap => "imap",
            Role::Imaps => "imaps",
            Role::Pop3 => "pop3",
            Role::Pop3s => "pop3s",
            Role::Managesieve => "managesieve",
            Role::Lmtp => "lmtp",
        }
    }

    /// True where the connection starts with a TLS handshake.
    pub fn implicit_tls(self) -> bool {
        matches!(self, Role::Submissions | Role::Imaps | Role::Pop3s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One listening socket. Under systemd socket activation the socket whose
/// `FileDescriptorName=` equals `name` (default: the role) is used instead of binding `listen`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub role: Role,
    pub listen: SocketAddr,
    #[serde(default)]
    pub name: Option<String>,
}

impl Listener {
    pub fn new(role: Role, listen: &str) -> Self {
        Listener {
            role,
            listen: listen.parse().expect("literal socket address"),
            name: None,
        }
    }

    /// The systemd `FileDescriptorName` this listener accepts.
    pub fn fd_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.role.as_str())
    }
}

/// Limits every network daemon shares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnLimits {
    /// Concurrent connections in total. One async process serves them all and an idle
    /// connection costs a few KiB, so the default is sized for 50,000 idle IMAP clients; the
    /// per-address limit is what stops a single abuser.
    pub max_connections: usize,
    /// Concurrent connections from one client address.
    pub max_connections_per_ip: usize,
    /// Failed logins tolerated per connection before it is closed.
    pub max_auth_failures: u32,
    /// Delay added after each failed login (doubles per failure from the same address, capped
    /// at a minute); an address with failures also waits it before its next check.
    #[serde(with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// Clients in `general.trusted_networks` are exempt from the per-address limits.
    pub exempt_trusted: bool,
    /// Allow passwords before TLS from loopback clients (for local tools and tests).
    pub plaintext_auth_on_loopback: bool,
    /// Password checks (deliberately slow hashes) running at once; 0 = one per CPU core.
    /// A client address with recent failed logins also gets one check at a time (unless exempt
    /// as trusted), so a flood of bad logins queues behind itself instead of starving everyone's
    /// logins; logins remembered by `userdb.auth_cache_ttl` need no check at all.
    pub max_concurrent_password_checks: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 100_000,
            max_connections_per_ip: 20,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(2),
            exempt_trusted: true,
            plaintext_auth_on_loopback: false,
            max_concurrent_password_checks: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BareLinePolicy {
    /// Refuse the message (554 5.6.11): the safe default against SMTP smuggling.
    Reject,
    /// Turn a lone CR or LF into CRLF inside the message; never a line end that can close DATA.
    Normalize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Smtpd {
    /// Unix user (and its primary group) the daemon runs as after binding.
    pub user: String,
    pub listeners: Vec<Listener>,
    /// SIZE limit in bytes, advertised in EHLO and enforced at MAIL and during DATA/BDAT.
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Command line limit in octets including CRLF (RFC 5321 §4.5.3.1.4: at least 512).
    pub max_command_line: usize,
    /// Text line limit in octets including CRLF (RFC 5321 §4.5.3.1.6: at least 1000).
    pub max_text_line: usize,
    /// Protocol errors tolerated before `421` and close.
    pub max_errors: u32,
    pub bare_lf: BareLinePolicy,
    /// Authenticated users may only use MAIL FROM addresses they own.
    pub enforce_sender_login: bool,
    /// Answer VRFY with user information instead of `252`.
    pub vrfy: bool,
    /// Idle timeout waiting for a command (RFC 5321 §4.5.3.2.7: 5 minutes).
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Timeout between data blocks (RFC 5321 §4.5.3.2.5 client side is 3 min; server 5 min).
    #[serde(with = "humantime_serde")]
    pub data_timeout: Duration,
    /// How long a shutdown waits for sessions in progress.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub limits: ConnLimits,
    /// Submission rate limits per authenticated user and client address.
    #[serde(default)]
    pub rate: RateLimits,
    /// Serve Prometheus metrics at `http://<this address>/metrics` (bound with the other
    /// listeners, before the privilege drop; systemd may pass it as `metrics`). Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Defenses of the `mx` role: DNS lists, greeting delay, greylisting (all off by default).
    pub screen: Screen,
    /// Mail filters (milters) asked in order, as Postfix's `smtpd_milters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milters: Vec<Milter>,
    /// Time for the reverse and forward-confirming lookups of a client's name, made at connect
    /// on roles with milters (their `{client_name}`, `{client_ptr}`); zero: no lookup, the name
    /// is `unknown`.
    #[serde(with = "humantime_serde")]
    pub client_name_timeout: Duration,
}

impl Default for Smtpd {
    fn default() -> Self {
        Smtpd {
            user: "ferrymail".into(),
            listeners: vec![
                Listener::new(Role::Mx, "[::]:25"),
                Listener::new(Role::Submission, "[::]:587"),
                Listener::new(Role::Submissions, "[::]:465"),
            ],
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 512,
            max_text_line: 1000,
            max_errors: 10,
            bare_lf: BareLinePolicy::Reject,
            enforce_sender_login: true,
            vrfy: false,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            limits: ConnLimits::default(),
            rate: RateLimits::default(),
            metrics_listen: None,
            screen: Screen::default(),
            milters: Vec::new(),
            client_name_timeout: Duration::from_secs(5),
        }
    }
}

/// A static route: mail for `domain` (or every non-local domain when `domain = "*"`) goes to
/// `host:port` instead of the MX hosts (Postfix's `transport` and `relayhost`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub domain: String,
    /// `host` or `host:port` or `[ip]:port`; brackets mean "no MX lookup" as in Postfix.
    pub relay: String,
    /// Credentials file for AUTH to the relay (`user` line then `password` line), never inline.
    #[serde(default)]
    pub auth_file: Option<PathBuf>,
    #[serde(default)]
    pub require_tls: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Queue {
    pub user: String,
    /// Datagram socket producers poke after enqueueing (relative paths are under `paths.run_dir`).
    pub wake_socket: PathBuf,
    /// Control socket for `mailctl queue`.
    pub control_socket: PathBuf,
    /// Mode of the control socket (group `queue.control_group` may use it).
    pub control_socket_mode: u32,
    /// Full scan of the spool even without wake-ups, so a lost wake-up only delays.
    #[serde(with = "humantime_serde")]
    pub scan_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// After this long in the queue a message is bounced.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// Send a delay warning after this long (0 = never).
    #[serde(with = "humantime_serde")]
    pub delay_warning: Duration,
    pub max_parallel: usize,
    pub max_per_domain: usize,
    /// LMTP connections to local-delivery kept open between messages (0: one per message).
    pub lmtp_idle_connections: usize,
    /// Local-domain mail over TCP LMTP to this cluster host (the front end) instead of the
    /// local socket: STARTTLS verified against `cluster.trust_anchors`, then AUTH as the
    /// cluster login. Needs `[cluster]`. Absent: the local LMTP socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lmtp_server: Option<ClusterPeer>,
    /// On a clean stop (and `mailctl queue handoff`), relay every message still queued to
    /// this peer MX host over SMTP (STARTTLS verified against `cluster.trust_anchors`, AUTH as
    /// the cluster login) and remove it once the peer took every recipient. Needs `[cluster]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_relay: Option<ClusterPeer>,
    /// How long a stop may spend handing the queue over; what is left stays queued here.
    #[serde(with = "humantime_serde")]
    pub handoff_timeout: Duration,
    /// Remote SMTP port (25; tests point it elsewhere).
    pub smtp_port: u16,
    /// How mail to other domains uses TLS unless `tls_policies` names the domain.
    pub tls_policy: TlsPolicy,
    /// Per-destination TLS policy: domain (lower case) → policy, overriding `tls_policy`.
    pub tls_policies: BTreeMap<String, TlsPolicy>,
    /// DNSKEY records trusted for DNSSEC validation (DANE), in zone-file syntax like unbound's
    /// `root.key`. Absent: the IANA root keys built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec_trust_anchors: Option<PathBuf>,
    /// Domains that must be reached over TLS.
    pub require_tls_domains: Vec<String>,
    /// MTA-STS policies of receiving domains (RFC 8461).
    pub mta_sts: MtaSts,
    /// SMTP TLS Reporting (RFC 8460) to receiving domains.
    pub tls_rpt: TlsRpt,
    /// PEM files of CA certificates trusted, besides the system's, wherever a next hop's
    /// certificate must validate (`tls_policy = "verify"`, required TLS, REQUIRETLS, MTA-STS
    /// policy hosts and MX hosts under an MTA-STS policy).
    pub tls_trust_anchors: Vec<PathBuf>,
    pub routes: Vec<Route>,
    /// DNS servers to use instead of `/etc/resolv.conf` (`ip:port`).
    pub dns_servers: Vec<SocketAddr>,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for each SMTP/LMTP reply other than the end of data: greeting, EHLO,
    /// MAIL, RCPT, DATA (RFC 5321 §4.5.3.2: at least 5 minutes on the public internet).
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Time allowed for sending each block of message data (RFC 5321 §4.5.3.2.5: 3 minutes).
    #[serde(with = "humantime_serde")]
    pub data_block_timeout: Duration,
    /// Time allowed for the reply to the final "." (RFC 5321 §4.5.3.2.6: 10 minutes).
    #[serde(with = "humantime_serde")]
    pub data_done_timeout: Duration,
    /// Where this daemon serves `/metrics`, as [`Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            user: "ferrymail".into(),
            wake_socket: "queue-wake.sock".into(),
            control_socket: "queue-control.sock".into(),
            control_socket_mode: 0o660,
            scan_interval: Duration::from_secs(60),
            retry_initial: Duration::from_secs(300),
            retry_max: Duration::from_secs(4 * 3600),
            max_lifetime: Duration::from_secs(5 * 24 * 3600),
            delay_warning: Duration::from_secs(4 * 3600),
            max_parallel: 100,
            max_per_domain: 20,
            lmtp_idle_connections: 32,
            lmtp_server: None,
            handoff_relay: None,
            handoff_timeout: Duration::from_secs(60),
            smtp_port: 25,
            tls_policy: TlsPolicy::Dane,
            tls_policies: BTreeMap::new(),
            dnssec_trust_anchors: None,
            require_tls_domains: Vec::new(),
            mta_sts: MtaSts::default(),
            tls_rpt: TlsRpt::default(),
            tls_trust_anchors: Vec::new(),
            routes: Vec::new(),
            dns_servers: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_block_timeout: Duration::from_secs(180),
            data_done_timeout: Duration::from_secs(600),
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QuotaAction {
    /// `452 4.2.2`: the sender keeps retrying until the user makes room.
    Defer,
    /// `552 5.2.2`: bounce at once.
    Bounce,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    /// Owner of the virtual mailboxes.
    pub user: String,
    /// LMTP socket (relative paths are under `paths.run_dir`).
    pub lmtp_socket: PathBuf,
    pub lmtp_socket_mode: u32,
    /// TCP LMTP listeners for the other hosts of a cluster (the front end, MX hosts): they
    /// must STARTTLS (`[tls]` certificate) and AUTH as the cluster login before MAIL. Needs
    /// `[cluster]`. Empty: the Unix socket only.
    pub lmtp_listen: Vec<SocketAddr>,
    /// Directory of classic mbox spools (`/var/mail/<user>`).
    pub mbox_dir: PathBuf,
    /// Create a missing Maildir (and folders named by `fileinto`) on delivery.
    pub create_maildirs: bool,
    pub quota_action: QuotaAction,
    /// Refuse a message that already carries this many `Delivered-To:` lines for the recipient.
    pub max_delivered_to: usize,
    /// The user's active Sieve script, relative to their Sieve home (the home, else the mail
    /// directory's parent): Pigeonhole's symlink to `sieve/<name>.sieve`. When it is absent a
    /// legacy `.sieve` there is read instead.
    pub sieve_script: String,
    /// Allow `|command` and `/file` targets in `.forward` and aliases (run as the owning user).
    pub allow_forward_commands: bool,
    /// How many (queue id, recipient) deliveries local-delivery remembers, in memory and in
    /// `paths.state_dir/local-delivery/delivered`, so a message queue-runner sends again
    /// after dying before it recorded the 250 is acknowledged without a second copy.
    /// About 100 bytes each; 0 turns the check off.
    pub remembered_deliveries: usize,
    /// Where a message with a spam verdict goes instead of INBOX when the user's Sieve script
    /// does not say (its implicit keep); empty = off. Created when missing.
    pub spam_folder: String,
    /// Header fields that are a spam verdict, `Field-Name: value` (name and value compared
    /// without case, the value trimmed; only the message's top-level header).
    pub spam_headers: Vec<String>,
    /// `[delivery.sieve]`: limits of a Sieve run and the spam score header.
    #[serde(default)]
    pub sieve: Sieve,
    // Sieve at delivery: vacation replies, includes, duplicate tracking, site scripts. Kept
    // together; the language's own limits (include depth among them) are `[delivery.sieve]`.
    /// Most vacation replies one user sends in 24 hours, all senders together; 0 = none.
    pub vacation_max_replies_per_day: u32,
    /// Shortest period between two replies to one sender a script may set with `:days` or
    /// `:seconds` (shorter ones are raised to it). Pigeonhole's `sieve_vacation_min_period`.
    #[serde(with = "humantime_serde")]
    pub vacation_min_period: Duration,
    /// Longest such period (longer ones are lowered to it).
    #[serde(with = "humantime_serde")]
    pub vacation_max_period: Duration,
    /// Most vacation and duplicate tracking entries kept per user (the oldest go first).
    pub duplicate_max_entries: usize,
    /// Site scripts run, in order, before the user's (Pigeonhole's `sieve_before`).
    pub sieve_before: Vec<PathBuf>,
    /// Where `include :global "name"` finds `name.sieve`; empty = no global scripts.
    pub sieve_global_dir: PathBuf,
    /// Where this daemon serves `/metrics`, as [`Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            user: "vmail".into(),
            lmtp_socket: "lmtp.sock".into(),
            lmtp_socket_mode: 0o660,
            lmtp_listen: Vec::new(),
            mbox_dir: "/var/mail".into(),
            create_maildirs: true,
            quota_action: QuotaAction::Defer,
            max_delivered_to: 1,
            sieve_script: ".dovecot.sieve".into(),
            allow_forward_commands: false,
            remembered_deliveries: 100_000,
            spam_folder: "Junk".into(),
            spam_headers: vec!["X-Spam: Yes".into(), "X-Spam-Flag: YES".into()],
            sieve: Sieve::default(),
            vacation_max_replies_per_day: 100,
            vacation_min_period: Duration::from_secs(86_400),
            vacation_max_period: Duration::from_secs(60 * 86_400),
            duplicate_max_entries: 10_000,
            sieve_before: Vec::new(),
            sieve_global_dir: PathBuf::new(),
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3d {
    pub user: String,
    pub listeners: Vec<Listener>,
    /// RFC 1939 §3: at least 10 minutes.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    pub max_line: usize,
    pub limits: ConnLimits,
    /// Where this daemon serves `/metrics`, as [`Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Pop3d {
    fn default() -> Self {
        Pop3d {
            user: "vmail".into(),
            listeners: vec![
                Listener::new(Role::Pop3, "[::]:110"),
                Listener::new(Role::Pop3s, "[::]:995"),
            ],
            idle_timeout: Duration::from_secs(600),
            max_line: 1024,
            limits: ConnLimits::default(),
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Imapd {
    pub user: String,
    pub listeners: Vec<Listener>,
    /// RFC 3501 §5.4: at least 30 minutes.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Timeout while in IDLE (clients re-issue IDLE every 29 minutes).
    #[serde(with = "humantime_serde")]
    pub idle_command_timeout: Duration,
    /// While a session idles, its mailbox is also rescanned this often, besides inotify:
    /// inotify never reports changes made by another host on a shared file system
    /// (GlusterFS, NFS, CephFS), so without this an idling client would only see them at
    /// its next command. A rescan that finds nothing changed costs a few `stat` calls.
    /// 0 turns it off (a mailbox store on a local disk only).
    #[serde(with = "humantime_serde")]
    pub idle_poll_interval: Duration,
    /// A client that has not logged in this long after connecting is disconnected, however
    /// slowly it keeps sending (slowloris); the 30-minute autologout applies after login.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    pub max_command_line: usize,
    pub max_literal: u64,
    pub max_connections_per_user: usize,
    /// METADATA (RFC 5464): the longest value a client may store, in octets.
    pub metadata_max_value: usize,
    /// METADATA: the most entries per mailbox (and for the server).
    pub metadata_max_entries: usize,
    /// CONTEXT=SEARCH/SORT (RFC 5267): the most searches a session keeps updating at once;
    /// one more is answered without updates (`NO [NOUPDATE]`).
    pub max_search_updates: usize,
    /// Mailboxes kept open (their message facts in memory) after the last session on them
    /// closed, most recently used first: webmail opens a connection per page view, and
    /// reopening a large mailbox would reload every cached fact. 0 keeps none.
    pub keep_closed_mailboxes: usize,
    pub limits: ConnLimits,
    /// Where this daemon serves `/metrics`, as [`Smtpd::metrics_listen`]. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Imapd {
    fn default() -> Self {
        Imapd {
            user: "vmail".into(),
            listeners: vec![
                Listener::new(Role::Imap, "[::]:143"),
                Listener::new(Role::Imaps, "[::]:993"),
            ],
            idle_timeout: Duration::from_secs(30 * 60),
            idle_command_timeout: Duration::from_secs(60 * 60),
            idle_poll_interval: Duration::from_secs(30),
            login_timeout: Duration::from_secs(180),
            max_command_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_connections_per_user: 50,
            metadata_max_value: 64 * 1024,
            metadata_max_entries: 100,
            max_search_updates: 10,
            keep_closed_mailboxes: 16,
            limits: ConnLimits::default(),
            metrics_listen: None,
        }
    }
}

/// Outbound DKIM signing (RFC 6376): queue-runner signs mail from authenticated users and
/// local submissions before remote delivery, never mail merely relayed from outside.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Dkim {
    pub enabled: bool,
    /// Where keys live: `<keys_dir>/<domain>.<selector>.key` (PEM, PKCS#8 RSA or Ed25519,
    /// or PKCS#1 RSA), as `mailctl dkim keygen` writes them.
    pub keys_dir: PathBuf,
    /// Selector (`s=`; the record is at `<selector>._domainkey.<domain>`) unless a
    /// `[[dkim.domains]]` entry says otherwise.
    pub selector: String,
    /// Domains to sign for, with their own selector or key path; empty = every domain in
    /// `general.local_domains`, with `selector` and the key in `keys_dir`.
    pub domains: Vec<DkimDomain>,
    /// Header fields signed when present (`From` is required by RFC 6376).
    pub headers: Vec<String>,
    /// Header fields signed once more than they occur, so none can be added after signing.
    pub oversign: Vec<String>,
}

impl Default for Dkim {
    fn default() -> Self {
        Dkim {
            enabled: false,
            keys_dir: "/etc/ferrymail/dkim".into(),
            selector: "ferrymail".into(),
            domains: Vec::new(),
            headers: [
                "From",
                "Reply-To",
                "Subject",
                "Date",
                "To",
                "Cc",
                "Message-ID",
                "In-Reply-To",
                "References",
                "MIME-Version",
                "Content-Type",
                "Content-Transfer-Encoding",
            ]
            .map(String::from)
            .to_vec(),
            oversign: vec!["From".into(), "Subject".into()],
        }
    }
}

/// One signing domain with its own selector or key file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DkimDomain {
    pub domain: String,
    /// Empty = `dkim.selector`.
    #[serde(default)]
    pub selector: String,
    /// Empty = `<keys_dir>/<domain>.<selector>.key`.
    #[serde(default)]
    pub key: PathBuf,
}

/// Inbound mail authentication on the `mx` role: SPF, DKIM, DMARC and ARC results in one
/// `Authentication-Results:` header, and DMARC policy enforcement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailAuth {
    /// Check SPF/DKIM/DMARC/ARC on the `mx` role and add `Authentication-Results:`.
    pub verify: bool,
    /// The authserv-id of our `Authentication-Results:` headers (RFC 8601); empty = the host
    /// name. Incoming headers claiming this id are forgeries and are removed.
    pub authserv_id: String,
    /// Refuse DMARC failures of `p=reject` domains at the end of DATA (550 5.7.1) instead of
    /// only recording them in the header.
    pub dmarc_enforce: bool,
    /// Verify ARC chains (RFC 8617) and record the result.
    pub arc: bool,
    /// Time allowed for each DNS query attempt (two attempts per server).
    #[serde(with = "humantime_serde")]
    pub dns_timeout: Duration,
    /// Time allowed for a whole verification; past it the unfinished checks are `temperror`.
    #[serde(with = "humantime_serde")]
    pub verify_timeout: Duration,
    /// DNS answers kept in the resolver cache.
    pub dns_cache_size: u64,
}

impl Default for MailAuth {
    fn default() -> Self {
        MailAuth {
            verify: true,
            authserv_id: String::new(),
            dmarc_enforce: true,
            arc: true,
            dns_timeout: Duration::from_secs(5),
            verify_timeout: Duration::from_secs(30),
            dns_cache_size: 4096,
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `file` is only used in messages and to resolve
    /// relative paths against the config's directory.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: describe_toml_error(&e, text),
        })?;
        config.normalize();
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems,
            })
        }
    }

    /// Canonical forms that make later comparisons simple (domains are case-insensitive).
    fn normalize(&mut self) {
        for d in &mut self.general.local_domains {
            *d = d.trim_end_matches('.').to_ascii_lowercase();
        }
        for d in &mut self.queue.require_tls_domains {
            *d = d.trim_end_matches('.').to_ascii_lowercase();
        }
        for d in &mut self.smtpd.screen.greylist.allowlist_domains {
            *d = d.trim_end_matches('.').to_ascii_lowercase();
        }
        for r in &mut self.queue.routes {
            r.domain = r.domain.trim_end_matches('.').to_ascii_lowercase();
        }
        for d in &mut self.dkim.domains {
            d.domain = d.domain.trim_end_matches('.').to_ascii_lowercase();
        }
    }

    /// Every semantic problem at once, so an admin fixes them in one round.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut bad = |key: &str, reason: String| {
            p.push(Problem {
                key: key.to_owned(),
                reason,
            })
        };
        if !self.general.hostname.is_empty() && !is_domain(&self.general.hostname) {
            bad(
                "general.hostname",
                format!("`{}` is not a valid host name", self.general.hostname),
            );
        }
        for (i, d) in self.general.local_domains.iter().enumerate() {
            if !is_domain(d) {
                bad(
                    &format!("general.local_domains[{i}]"),
                    format!("`{d}` is not a valid domain name"),
                );
            }
        }
        for (key, reason) in self.queue.tls_rpt.problems() {
            bad(&format!("queue.tls_rpt.{key}"), reason);
        }
        if !self.general.postmaster.is_empty() && !self.general.postmaster.contains('@') {
            bad(
                "general.postmaster",
                "must be a full address (user@domain)".into(),
            );
        }
        for (key, path) in [
            ("paths.spool_dir", &self.paths.spool_dir),
            ("paths.mail_root", &self.paths.mail_root),
            ("paths.run_dir", &self.paths.run_dir),
            ("paths.state_dir", &self.paths.state_dir),
        ] {
            if !path.is_absolute() {
                bad(
                    key,
                    format!("`{}` must be an absolute path", path.display()),
                );
            }
        }
        if tracing_level_is_bad(&self.log.level) {
            bad(
                "log.level",
                format!(
                    "`{}` is not a tracing filter (e.g. `info` or `imapd=debug,info`)",
                    self.log.level
                ),
            );
        }
        if self.userdb.auth_cache_ttl > Duration::from_secs(24 * 3600) {
            bad("userdb.auth_cache_ttl", "must be at most 1 day".into());
        }
        if self.userdb.recipient_delimiter.chars().count() > 1 {
            bad(
                "userdb.recipient_delimiter",
                "must be empty or a single character".into(),
            );
        }
        for (section, user) in [
            ("smtpd.user", &self.smtpd.user),
            ("queue.user", &self.queue.user),
            ("delivery.user", &self.delivery.user),
            ("pop3d.user", &self.pop3d.user),
            ("imapd.user", &self.imapd.user),
            ("managesieve.user", &self.managesieve.user),
        ] {
            if user.is_empty() || user.contains([':', '/', ' ']) {
                bad(section, format!("`{user}` is not a valid user name"));
            }
        }

        let s = &self.smtpd;
        check_listeners(
            &mut bad,
            "smtpd",
            &s.listeners,
            &[Role::Mx, Role::Submission, Role::Submissions],
        );
        if s.max_command_line < 512 {
            bad(
                "smtpd.max_command_line",
                "RFC 5321 requires at least 512".into(),
            );
        }
        if s.max_text_line < 1000 {
            bad(
                "smtpd.max_text_line",
                "RFC 5321 requires at least 1000".into(),
            );
        }
        if s.max_message_size == 0 {
            bad("smtpd.max_message_size", "must be positive".into());
        }
        if s.max_recipients == 0 {
            bad(
                "smtpd.max_recipients",
                "must be positive (RFC 5321 requires at least 100)".into(),
            );
        }
        check_limits(&mut bad, "smtpd.limits", &s.limits);
        rate::check(&mut bad, &s.rate);
        screen::check(&mut bad, &s.screen);

        let q = &self.queue;
        if q.retry_initial.is_zero() || q.retry_max < q.retry_initial {
            bad(
                "queue.retry_max",
                "retry_initial must be positive and retry_max at least retry_initial".into(),
            );
        }
        if q.max_lifetime.is_zero() {
            bad("queue.max_lifetime", "must be positive".into());
        }
        if q.scan_interval.is_zero() {
            bad("queue.scan_interval", "must be positive".into());
        }
        if q.max_parallel == 0 || q.max_per_domain == 0 {
            bad(
                "queue.max_parallel",
                "max_parallel and max_per_domain must be positive".into(),
            );
        }
        for (key, t) in [
            ("queue.connect_timeout", q.connect_timeout),
            ("queue.command_timeout", q.command_timeout),
            ("queue.data_block_timeout", q.data_block_timeout),
            ("queue.data_done_timeout", q.data_done_timeout),
        ] {
            if t.is_zero() {
                bad(key, "must be positive".into());
            }
        }
        if q.smtp_port == 0 {
            bad("queue.smtp_port", "must be a port number".into());
        }
        for (i, r) in q.routes.iter().enumerate() {
            if r.domain != "*" && !is_domain(&r.domain) {
                bad(
                    &format!("queue.routes[{i}].domain"),
                    format!("`{}` is neither `*` nor a domain", r.domain),
                );
            }
            if r.relay.is_empty() {
                bad(
                    &format!("queue.routes[{i}].relay"),
                    "must not be empty".into(),
                );
            }
        }
        spam::check(&mut bad, &self.delivery);
        sieve::check(&mut bad, &self.delivery.sieve);
        if self.delivery.max_delivered_to == 0 {
            bad("delivery.max_delivered_to", "must be at least 1".into());
        }
        check_listeners(
            &mut bad,
            "pop3d",
            &self.pop3d.listeners,
            &[Role::Pop3, Role::Pop3s],
        );
        check_limits(&mut bad, "pop3d.limits", &self.pop3d.limits);
        if self.pop3d.max_line < 255 {
            bad(
                "pop3d.max_line",
                "must be at least 255 (RFC 2449 allows 255-octet commands)".into(),
            );
        }
        check_listeners(
            &mut bad,
            "imapd",
            &self.imapd.listeners,
            &[Role::Imap, Role::Imaps],
        );
        check_limits(&mut bad, "imapd.limits", &self.imapd.limits);
        if self.imapd.idle_timeout < Duration::from_secs(30 * 60) {
            bad(
                "imapd.idle_timeout",
                "RFC 3501 §5.4 requires at least 30 minutes".into(),
            );
        }
        if self.imapd.login_timeout.is_zero() {
            bad("imapd.login_timeout", "must be positive".into());
        }
        if self.imapd.max_command_line < 1000 {
            bad("imapd.max_command_line", "must be at least 1000".into());
        }
        managesieve::check(&mut bad, &self.managesieve);
        cluster::check(&mut bad, &self.cluster);
        cluster::check_users(&mut bad, self);
        proxy::check(&mut bad, &self.proxy);
        check_dkim(&mut bad, &self.dkim, &self.general.local_domains);
        metrics::check(&mut bad, self);
        milter::check(&mut bad, &self.smtpd.milters);
        let m = &self.mailauth;
        if !m.authserv_id.is_empty() && !is_domain(&m.authserv_id) {
            bad(
                "mailauth.authserv_id",
                format!("`{}` is not a host name", m.authserv_id),
            );
        }
        for (key, t) in [
            ("mailauth.dns_timeout", m.dns_timeout),
            ("mailauth.verify_timeout", m.verify_timeout),
        ] {
            if t.is_zero() {
                bad(key, "must be positive".into());
            }
        }
        p
    }

    /// The authserv-id our `Authentication-Results:` headers carry.
    pub fn authserv_id(&self) -> String {
        if self.mailauth.authserv_id.is_empty() {
            self.hostname()
        } else {
            self.mailauth.authserv_id.clone()
        }
    }

    /// The (domain, selector, key file) triples DKIM signs with: the `[[dkim.domains]]`
    /// entries, or every local domain with the default selector and key location.
    pub fn dkim_keys(&self) -> Vec<(String, String, PathBuf)> {
        let d = &self.dkim;
        let key_path =
            |domain: &str, selector: &str| d.keys_dir.join(format!("{domain}.{selector}.key"));
        if d.domains.is_empty() {
            return self
                .general
                .local_domains
                .iter()
                .map(|dom| (dom.clone(), d.selector.clone(), key_path(dom, &d.selector)))
                .collect();
        }
        d.domains
            .iter()
            .map(|e| {
                let selector = if e.selector.is_empty() {
                    d.selector.clone()
                } else {
                    e.selector.clone()
                };
                let key = if e.key.as_os_str().is_empty() {
                    key_path(&e.domain, &selector)
                } else {
                    e.key.clone()
                };
                (e.domain.clone(), selector, key)
            })
            .collect()
    }

    /// The configured host name, or the system's when unset.
    pub fn hostname(&self) -> String {
        if !self.general.hostname.is_empty() {
            return self.general.hostname.clone();
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    }

    pub fn postmaster(&self) -> String {
        if self.general.postmaster.is_empty() {
            format!("postmaster@{}", self.hostname())
        } else {
            self.general.postmaster.clone()
        }
    }

    /// A socket path from the config: relative names live in `paths.run_dir`.
    pub fn run_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.paths.run_dir.join(p)
        }
    }

    pub fn wake_socket(&self) -> PathBuf {
        self.run_path(&self.queue.wake_socket)
    }

    pub fn control_socket(&self) -> PathBuf {
        self.run_path(&self.queue.control_socket)
    }

    pub fn lmtp_socket(&self) -> PathBuf {
        self.run_path(&self.delivery.lmtp_socket)
    }

    /// Whether `ip` is in `general.trusted_networks`.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.general
            .trusted_networks
            .iter()
            .any(|n| n.contains(&ip))
    }

    /// The default config as TOML (what `mailctl config defaults` prints).
    pub fn defaults_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }

    /// Serialises this config as TOML (used by `mailctl dev` to write its config).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// IPv4-mapped IPv6 clients (`::ffff:127.0.0.1` on a dual-stack socket) are their IPv4 selves.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub(crate) fn check_listeners(
    bad: &mut impl FnMut(&str, String),
    section: &str,
    listeners: &[Listener],
    allowed: &[Role],
) {
    for (i, l) in listeners.iter().enumerate() {
        if !allowed.contains(&l.role) {
            let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
            bad(
                &format!("{section}.listeners[{i}].role"),
                format!(
                    "`{}` is not a role of this daemon (one of: {})",
                    l.role,
                    names.join(", ")
                ),
            );
        }
        for (j, other) in listeners.iter().enumerate().skip(i + 1) {
            if other.listen == l.listen {
                bad(
                    &format!("{section}.listeners[{j}].listen"),
                    format!("{} is already used by listeners[{i}]", l.listen),
                );
            }
        }
    }
}

fn check_dkim(bad: &mut impl FnMut(&str, String), d: &Dkim, local_domains: &[String]) {
    // A selector is one or more DNS labels (RFC 6376 §3.1).
    if !is_domain(&d.selector) {
        bad(
            "dkim.selector",
            format!("`{}` is not a valid selector", d.selector),
        );
    }
    if !d.keys_dir.is_absolute() {
        bad(
            "dkim.keys_dir",
            format!("`{}` must be an absolute path", d.keys_dir.display()),
        );
    }
    let header_ok = |h: &String| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_graphic() && b != b':' && b != b';')
    };
    if !d.headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
        bad("dkim.headers", "must include `From` (RFC 6376 §5.4)".into());
    }
    for (key, list) in [("dkim.headers", &d.headers), ("dkim.oversign", &d.oversign)] {
        for (i, h) in list.iter().enumerate() {
            if !header_ok(h) {
                bad(
                    &format!("{key}[{i}]"),
                    format!("`{h}` is not a header field name"),
                );
            }
        }
    }
    for (i, e) in d.domains.iter().enumerate() {
        if !is_domain(&e.domain) {
            bad(
                &format!("dkim.domains[{i}].domain"),
                format!("`{}` is not a valid domain name", e.domain),
            );
        }
        if !e.selector.is_empty() && !is_domain(&e.selector) {
            bad(
                &format!("dkim.domains[{i}].selector"),
                format!("`{}` is not a valid selector", e.selector),
            );
        }
        if !e.key.as_os_str().is_empty() && !e.key.is_absolute() {
            bad(
                &format!("dkim.domains[{i}].key"),
                format!("`{}` must be an absolute path", e.key.display()),
            );
        }
    }
    if d.enabled && d.domains.is_empty() && local_domains.is_empty() {
        bad(
            "dkim.domains",
            "DKIM is enabled but there is no domain to sign for (no [[dkim.domains]] and no \
             general.local_domains)"
                .into(),
        );
    }
}

pub(crate) fn check_limits(bad: &mut impl FnMut(&str, String), section: &str, l: &ConnLimits) {
    if l.max_connections == 0 {
        bad(
            &format!("{section}.max_connections"),
            "must be positive".into(),
        );
    }
    if l.max_connections_per_ip == 0 {
        bad(
            &format!("{section}.max_connections_per_ip"),
            "must be positive".into(),
        );
    }
    if l.max_auth_failures == 0 {
        bad(
            &format!("{section}.max_auth_failures"),
            "must be positive".into(),
        );
    }
}

/// RFC 1035 host name syntax (letters, digits, hyphens, dots; labels 1–63; total ≤ 253).
pub fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn tracing_level_is_bad(filter: &str) -> bool {
    // A cheap syntax check; the subscriber does the real parse. Directives are `target=level`,
    // `level` or `target`, comma-separated.
    filter.trim().is_empty()
        || filter.split(',').any(|d| {
            let d = d.trim();
            match d.split_once('=') {
                Some((target, level)) => target.is_empty() || !is_level(level),
                None => d.is_empty() || d.contains(char::is_whitespace),
            }
        })
}

fn is_level(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "trace" | "debug" | "info" | "warn" | "error" | "off"
    )
}

/// The TOML parser's own message spans several lines (with a caret under the column); keep the
/// line, the table and the reason on one line so it reads well in logs and `mailctl config check`.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim();
    let Some(span) = e.span() else {
        return msg.to_owned();
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| format!(" in {l}"))
        .unwrap_or_default();
    format!("line {line}, column {column}{table}: {msg}")
}

#[cfg(test)]
mod tests;
