//! One client connection: the RFC 3501 state machine (not authenticated → authenticated →
//! selected → logout) over the parser, the response encoder and the shared mailboxes.
//!
//! File I/O always runs on the blocking pool; the reactor thread only parses, encodes and
//! moves bytes. Store errors are mapped to IMAP response codes in one place
//! ([`store_error`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use ferrymail_config::Config;
use ferrymail_maildir::{Flags, MailboxName, Store};
use ferrymail_net::limits::AuthThrottle;
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_users::{Account, MailboxLocation, UserDb};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::child::SessionHeader;
use crate::conn::{Conn, LineResult};
use crate::fetch;
use crate::listing;
use crate::mailbox::{Hub, Meta, SharedMailbox, StoreError};
use crate::search;
use crate::spawner::Spawner;
use ferrymail_imap_proto::{
    self, CollectError, Collected, Command, FetchAtt, Flag, SearchKey, SeqNum, SeqSet, StatusAtt,
    StoreOp,
};
use ferrymail_maildir::PendingDelivery;
use ferrymail_spawn::child::ConnHeader;
use ferrymail_spawn::session_stream::SessionStream;

/// Marker in a store root: the special-use folders were created once (and may since have
/// been deleted by the user, which we respect).
const SPECIAL_USE_MARKER: &str = "ferrymail-specialuse";
/// Size of the chunks FETCH output is streamed in.
const FETCH_CHUNK: usize = 64 * 1024;
/// Longest SASL response line.
const MAX_SASL_LINE: usize = 8192;
/// APPEND literals larger than this are streamed into the mailbox's `tmp/` as they arrive
/// instead of being collected in memory; smaller ones are not worth a file round trip.
const STREAM_APPEND_ABOVE: u64 = 256 * 1024;
/// Size of the pieces a streamed APPEND is read and written in. With the channel between
/// the connection and the writer, an APPEND holds at most a few of these.
const STREAM_CHUNK: usize = 64 * 1024;

/// What every session shares.
pub struct Ctx {
    pub config: Arc<Config>,
    /// None in a session child, which never checks passwords.
    pub users: Option<UserDb>,
    /// Serves Unix accounts in per-login children; None when imapd is not root (they are
    /// then served in-process) or in a session child.
    pub spawner: Option<Arc<Spawner>>,
    pub hub: Arc<Hub>,
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub user_conns: Mutex<HashMap<String, usize>>,
    pub shutdown: Shutdown,
}

/// Counts a user's connections; dropping it releases the slot.
struct UserSlot {
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

struct User {
    login: String,
    store: Store,
    /// None in a session child: the main process holds the slot.
    _slot: Option<UserSlot>,
}

/// A logged-in Unix account whose session continues in a child process.
struct Handoff {
    sock: UnixStream,
    tag: String,
    _slot: UserSlot,
}

struct Selected {
    mb: Arc<SharedMailbox>,
    read_only: bool,
    view: Arc<Vec<Meta>>,
    recent: HashSet<u32>,
    keywords: Vec<String>,
    rx: watch::Receiver<u64>,
}

impl Selected {
    fn max_uid(&self) -> u32 {
        self.view.last().map_or(0, |m| m.uid)
    }

    fn seq_of(&self, uid: u32) -> Option<u32> {
        self.view
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// Indices into the view named by a set. Sequence numbers beyond the mailbox are an
    /// error; UIDs that do not exist are simply not there.
    fn resolve(&self, set: &SeqSet, uid: bool) -> Result<Vec<usize>, String> {
        let mut out = BTreeSet::new();
        if uid {
            let max = self.max_uid();
            for &(a, b) in &set.0 {
                let (a, b) = (a.resolve(max), b.resolve(max));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let start = self.view.partition_point(|m| m.uid < lo);
                let end = self.view.partition_point(|m| m.uid <= hi);
                out.extend(start..end);
            }
        } else {
            let max = self.view.len() as u32;
            for &(a, b) in &set.0 {
                for n in [a, b] {
                    if matches!(n, SeqNum::Value(v) if v > max) || (n == SeqNum::Star && max == 0) {
                        return Err("Invalid message sequence number".to_owned());
                    }
                }
                let (a, b) = (a.resolve(max), b.resolve(max));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                out.extend((lo as usize).saturating_sub(1)..(hi as usize));
            }
        }
        Ok(out.into_iter().collect())
    }
}

enum Flow {
    Continue,
    Close,
}

enum Incoming {
    Command(Vec<u8>),
    /// An APPEND whose message was streamed into the mailbox's `tmp/`.
    StreamedAppend(Box<StreamedAppend>),
    Bad(Option<String>, String),
    /// A tagged reply decided while reading the command (tag, text).
    Reply(String, String),
    Eof,
    Fatal(String),
}

/// A large APPEND read off the wire: the message sits in `tmp/`, committed (or, on error,
/// removed) by [`Session::finish_streamed_append`].
struct StreamedAppend {
    tag: String,
    mb: Arc<SharedMailbox>,
    flags: Vec<Flag>,
    date: Option<i64>,
    message: Result<PendingDelivery, StoreError>,
}

/// A user's folder names and, if `subscriptions`, the names subscribed to (what LIST, LSUB
/// and LIST-EXTENDED work from), read on the blocking pool.
async fn folders(
    store: Store,
    subscriptions: bool,
) -> Result<(Vec<String>, Option<Vec<String>>), StoreError> {
    blocking(move || {
        let names: Vec<String> = store
            .list_folders()?
            .into_iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        let subs = subscriptions.then(|| listing::load_subscriptions(store.root()));
        Ok((names, subs))
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
    }
}

/// The response code and text for a store failure.
fn store_error(e: &StoreError) -> (&'static str, String) {
    use ferrymail_maildir::Error as E;
    match e {
        StoreError::Maildir(E::MailboxNotFound(_)) => {
            ("NONEXISTENT", "Mailbox does not exist".into())
        }
        StoreError::Maildir(E::MailboxExists(_)) => {
            ("ALREADYEXISTS", "Mailbox already exists".into())
        }
        StoreError::Maildir(E::InboxNotAllowed(_))
        | StoreError::Maildir(E::RenameIntoSelf { .. }) => ("CANNOT", e.to_string()),
        StoreError::Maildir(E::InvalidName(n)) => ("CANNOT", n.to_string()),
        StoreError::Maildir(E::TooLarge { .. }) => ("TOOBIG", "Message too large".into()),
        StoreError::TooManyKeywords => ("LIMIT", e.to_string()),
        StoreError::Maildir(E::Io { source, .. }) | StoreError::Io(source)
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ) =>
        {
            ("OVERQUOTA", "Not enough disk space".into())
        }
        _ => {
            tracing::error!(error = %e, "mailbox operation failed");
            ("SERVERBUG", "Internal error, see the server log".into())
        }
    }
}

/// Writes a set of numbers compactly (`1:3,7`), for COPYUID.
fn compact_set(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&start) = nums.get(i) {
        let mut end = start;
        while nums.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

pub struct Session {
    ctx: Arc<Ctx>,
    info: ConnInfo,
    conn: Conn,
    out: Vec<u8>,
    user: Option<User>,
    selected: Option<Selected>,
    auth_failures: u32,
    shutdown: Shutdown,
    /// Boxed: only Unix-account logins use it, and every idle session pays for its size.
    handoff: Option<Box<Handoff>>,
}

/// Serves one accepted connection to its end.
pub async fn run(tcp: TcpStream, info: ConnInfo, admission: Admission, ctx: Arc<Ctx>) {
    let _guard = match admission {
        Ok(g) => g,
        Err(r) => {
            let mut tcp = tcp;
            let _ = tokio::io::AsyncWriteExt::write_all(
                &mut tcp,
                format!("* BYE [UNAVAILABLE] Too many connections ({r:?})\r\n").as_bytes(),
            )
            .await;
            return;
        }
    };
    let mut stream = MaybeTls::Plain(tcp);
    if info.role.implicit_tls() {
        let Some(tls) = &ctx.tls else {
            tracing::warn!("implicit TLS listener without a certificate");
            return;
        };
        let acceptor = tls.acceptor();
        let handshake = stream.upgrade(&acceptor);
        match tokio::time::timeout(Duration::from_secs(60), handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!("TLS handshake timed out");
                return;
            }
        }
    }
    let shutdown = ctx.shutdown.clone();
    let mut s = Session {
        ctx,
        info,
        conn: Conn::new(SessionStream::Net(stream)),
        out: Vec::new(),
        user: None,
        selected: None,
        auth_failures: 0,
        shutdown: shutdown.clone(),
        handoff: None,
    };
    s.serve().await;
    if let Some(h) = s.handoff.take() {
        relay(s.conn, &s.info, h, shutdown).await;
    }
    tracing::debug!("session ended");
}

/// Relays a connection to the session child serving it (`ferrymail_spawn::relay`): first
/// the header and whatever the client pipelined behind its login, then bytes both ways until
/// either side closes.
async fn relay(conn: Conn, info: &ConnInfo, h: Box<Handoff>, shutdown: Shutdown) {
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
    let if_silent = format!(
        "{} NO [UNAVAILABLE] Cannot serve this account right now\r\n* BYE Closing\r\n",
        header.tag
    );
    let end =
        ferrymail_spawn::relay::relay(client, sock, first, if_silent.as_bytes(), shutdown).await;
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
    let shutdown = ctx.shutdown.clone();
    let mut s = Session {
        ctx,
        info,
        conn: Conn::new(SessionStream::Relayed {
            sock,
            tls: header.conn.tls,
        }),
        out: Vec::new(),
        user: None,
        selected: None,
        auth_failures: 0,
        shutdown,
        handoff: None,
    };
    let store = Store::new(root);
    if let Err(e) = prepare_user_store(&store).await {
        s.tagged_err(&header.tag, &e);
        s.untagged("BYE Closing");
        let _ = s.flush().await;
        return;
    }
    tracing::info!(user = %login, uid = nix::unistd::Uid::current().as_raw(), "logged in; serving as the account");
    s.user = Some(User {
        login,
        store,
        _slot: None,
    });
    let caps = s.capabilities();
    s.tagged(&header.tag, &format!("OK [CAPABILITY {caps}] Logged in"));
    if s.flush().await.is_err() {
        return;
    }
    s.command_loop().await;
    tracing::debug!("session ended");
}

/// Creates INBOX and, the first time, the special-use folders, as whoever runs this.
async fn prepare_user_store(store: &Store) -> Result<(), StoreError> {
    let s2 = store.clone();
    blocking(move || prepare_store(&s2)).await
}

impl Session {
    fn config(&self) -> &Config {
        &self.ctx.config
    }

    fn is_tls(&self) -> bool {
        self.conn.stream.is_tls()
    }

    fn login_allowed(&self) -> bool {
        self.is_tls()
            || (self.config().imapd.limits.plaintext_auth_on_loopback && self.info.is_loopback())
    }

    fn capabilities(&self) -> String {
        let mut c = String::from(
            "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS",
        );
        if self.user.is_none() {
            if !self.is_tls() && self.ctx.tls.is_some() {
                c.push_str(" STARTTLS");
            }
            if self.login_allowed() {
                c.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c
    }

    fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn tagged(&mut self, tag: &str, text: &str) {
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn tagged_err(&mut self, tag: &str, e: &StoreError) {
        let (code, text) = store_error(e);
        self.tagged(tag, &format!("NO [{code}] {text}"));
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.conn.write(&out).await
    }

    async fn serve(&mut self) {
        let greeting = format!(
            "OK [CAPABILITY {}] ferrymail IMAP4rev1 ready",
            self.capabilities()
        );
        self.untagged(&greeting);
        if self.flush().await.is_err() {
            return;
        }
        self.command_loop().await;
    }

    async fn command_loop(&mut self) {
        let login_deadline = tokio::time::Instant::now() + self.config().imapd.login_timeout;
        loop {
            let mut timeout = self.config().imapd.idle_timeout;
            let before_login = self.user.is_none();
            if before_login {
                // Before login the whole session, not just each read, is bounded: a client
                // trickling bytes must not hold a connection for the 30-minute autologout.
                timeout = timeout
                    .min(login_deadline.saturating_duration_since(tokio::time::Instant::now()));
            }
            let mut shutdown = self.shutdown.clone();
            let incoming = tokio::select! {
                r = tokio::time::timeout(timeout, self.read_command()) => r,
                _ = shutdown.wait() => {
                    self.untagged("BYE Server shutting down");
                    let _ = self.flush().await;
                    return;
                }
            };
            let flow = match incoming {
                Err(_) if before_login => {
                    self.untagged("BYE Login timeout");
                    Flow::Close
                }
                Err(_) => {
                    self.untagged("BYE Autologout; idle for too long");
                    Flow::Close
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "read failed");
                    return;
                }
                Ok(Ok(Incoming::Eof)) => return,
                Ok(Ok(Incoming::Fatal(msg))) => {
                    self.untagged(&format!("BYE {msg}"));
                    Flow::Close
                }
                Ok(Ok(Incoming::Bad(tag, msg))) => {
                    let tag = tag.unwrap_or_else(|| "*".to_owned());
                    self.tagged(&tag, &format!("BAD {msg}"));
                    Flow::Continue
                }
                Ok(Ok(Incoming::Reply(tag, text))) => {
                    self.tagged(&tag, &text);
                    Flow::Continue
                }
                Ok(Ok(Incoming::StreamedAppend(a))) => {
                    self.finish_streamed_append(*a).await;
                    Flow::Continue
                }
                Ok(Ok(Incoming::Command(bytes))) => self.handle(&bytes).await,
            };
            if self.flush().await.is_err() {
                return;
            }
            if let Flow::Close = flow {
                return;
            }
        }
    }

    async fn read_command(&mut self) -> std::io::Result<Incoming> {
        let max_line = self.config().imapd.max_command_line;
        let max_literal = self.config().imapd.max_literal;
        let mut coll = ferrymail_imap_proto::CommandCollector::new(max_line, max_literal);
        loop {
            let line = match self.conn.read_line(max_line).await? {
                LineResult::Line(l) => l,
                LineResult::TooLong(prefix) => {
                    let tag = if coll.bytes().is_empty() {
                        ferrymail_imap_proto::peek_tag(&prefix)
                    } else {
                        ferrymail_imap_proto::peek_tag(coll.bytes())
                    };
                    return Ok(Incoming::Bad(tag, "Command line too long".into()));
                }
                LineResult::Eof => return Ok(Incoming::Eof),
            };
            if coll.bytes().is_empty() && line.is_empty() {
                continue;
            }
            let tag_source = if coll.bytes().is_empty() {
                line.clone()
            } else {
                coll.bytes().to_vec()
            };
            match coll.push_line(&line) {
                Ok(Collected::Complete) => return Ok(Incoming::Command(coll.take())),
                Ok(Collected::Literal { size, sync }) => {
                    if coll.bytes().len() as u64 + size > max_literal + max_line as u64 {
                        return Ok(Incoming::Fatal("Command too large".into()));
                    }
                    if size > STREAM_APPEND_ABOVE {
                        if let Some((tag, head)) =
                            ferrymail_imap_proto::append_before_literal(coll.bytes())
                        {
                            return self.stream_append(tag, head, size, sync).await;
                        }
                    }
                    if sync {
                        self.conn.write(b"+ Ready for literal data\r\n").await?;
                    }
                    let Some(data) = self.conn.read_exact(size as usize).await? else {
                        return Ok(Incoming::Eof);
                    };
                    coll.push_literal(&data);
                }
                Err(CollectError::LineTooLong) => {
                    return Ok(Incoming::Bad(
                        ferrymail_imap_proto::peek_tag(&tag_source),
                        "Command line too long".into(),
                    ))
                }
                Err(CollectError::LiteralTooLarge { size, sync }) => {
                    let tag = ferrymail_imap_proto::peek_tag(&tag_source);
                    if sync {
                        // The client sends nothing until our '+', so the command just ends.
                        let tag = tag.unwrap_or_else(|| "*".into());
                        return Ok(Incoming::Command(
                            format!("{tag} TOOBIG-LITERAL").into_bytes(),
                        ));
                    }
                    if size > max_literal.saturating_mul(4) {
                        return Ok(Incoming::Fatal("Literal too large".into()));
                    }
                    // LITERAL+ data is already on its way: skip it and the command's rest.
                    if !self.conn.skip(size).await? {
                        return Ok(Incoming::Eof);
                    }
                    let _ = self.conn.read_line(max_line).await?;
                    return Ok(Incoming::Bad(tag, "[TOOBIG] Literal too large".into()));
                }
            }
        }
    }

    /// Reads a large APPEND's message straight into the target mailbox's `tmp/`, through
    /// a writer on the blocking pool fed a few chunks at a time, so memory stays bounded
    /// whatever the size. Everything that can refuse the APPEND is checked first, so a
    /// synchronising literal is refused before the client sends it. If the client goes away
    /// mid-literal (or this future is dropped by a timeout or shutdown) the writer sees its
    /// channel close short of the announced size and removes the file.
    async fn stream_append(
        &mut self,
        tag: String,
        head: ferrymail_imap_proto::AppendHead,
        size: u64,
        sync: bool,
    ) -> std::io::Result<Incoming> {
        let max_line = self.config().imapd.max_command_line;
        let (mb, pending) = match self.prepare_streamed_append(&head).await {
            Ok(v) => v,
            Err(reply) => {
                if !sync {
                    // LITERAL+: the message is on its way regardless; it and the rest of
                    // the command line go unread.
                    if !self.conn.skip(size).await? {
                        return Ok(Incoming::Eof);
                    }
                    let _ = self.conn.read_line(max_line).await?;
                }
                return Ok(Incoming::Reply(tag, reply));
            }
        };
        if sync {
            self.conn.write(b"+ Ready for literal data\r\n").await?;
        }
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(2);
        let writer = tokio::task::spawn_blocking(move || {
            let mut pending = pending;
            let mut failed = None;
            // Drains the channel even after a write error (a full disk), so the connection
            // keeps reading the literal and the session stays in step with the client.
            while let Some(chunk) = rx.blocking_recv() {
                if failed.is_none() {
                    failed = pending.write(&chunk).err();
                }
            }
            if let Some(e) = failed {
                return Err(StoreError::from(e));
            }
            if pending.size() != size {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "client went away during APPEND",
                )));
            }
            pending.sync()?;
            Ok(pending)
        });
        let mut remaining = size;
        while remaining > 0 {
            let want = remaining.min(STREAM_CHUNK as u64) as usize;
            let Some(chunk) = self.conn.read_chunk(want).await? else {
                break;
            };
            remaining -= chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
        drop(tx);
        let message = match writer.await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
        };
        if remaining > 0 {
            // The writer has already removed the partial file.
            tracing::info!(missing = remaining, "client went away during APPEND");
            return Ok(Incoming::Eof);
        }
        let rest = match self.conn.read_line(max_line).await? {
            LineResult::Line(l) => l,
            LineResult::TooLong(_) => b"?".to_vec(),
            LineResult::Eof => return Ok(Incoming::Eof),
        };
        if !rest.is_empty() {
            // MULTIAPPEND is not offered; the message goes with the command.
            let _ = tokio::task::spawn_blocking(move || drop(message)).await;
            return Ok(Incoming::Bad(
                Some(tag),
                "Error in IMAP command: unexpected characters after the command".into(),
            ));
        }
        Ok(Incoming::StreamedAppend(Box::new(StreamedAppend {
            tag,
            mb,
            flags: head.flags,
            date: head.date,
            message,
        })))
    }

    /// The checks an APPEND passes before its message is read, and the file it goes to.
    /// Err is the tagged reply refusing it.
    async fn prepare_streamed_append(
        &mut self,
        head: &ferrymail_imap_proto::AppendHead,
    ) -> Result<(Arc<SharedMailbox>, PendingDelivery), String> {
        if self.user.is_none() {
            return Err("BAD Not logged in".into());
        }
        let name = MailboxName::new(&head.mailbox)
            .map_err(|e| format!("NO [CANNOT] Invalid mailbox name: {e}"))?;
        let refuse = |e: &StoreError| {
            let (code, text) = store_error(e);
            format!("NO [{code}] {text}")
        };
        let mb = match self.open_mailbox(&name, false).await {
            Ok(mb) => mb,
            Err(StoreError::Maildir(ferrymail_maildir::Error::MailboxNotFound(_))) => {
                return Err("NO [TRYCREATE] Mailbox does not exist".into());
            }
            Err(e) => return Err(refuse(&e)),
        };
        let mb2 = mb.clone();
        match blocking(move || mb2.begin_append()).await {
            Ok(pending) => Ok((mb, pending)),
            Err(e) => Err(refuse(&e)),
        }
    }

    /// Gives a streamed message its UID (or reports why it could not be stored), then
    /// answers like [`Session::append`].
    async fn finish_streamed_append(&mut self, a: StreamedAppend) {
        let StreamedAppend {
            tag,
            mb,
            flags,
            date,
            message,
        } = a;
        let r = blocking(move || {
            let pending = message?;
            let f = to_maildir_flags(&mb, &flags, true)?;
            let mtime = date.map(|d| UNIX_EPOCH + Duration::from_secs(d.max(0) as u64));
            let uid = mb.append_pending(pending, f, mtime)?;
            let (_, v, _) = mb.snapshot();
            Ok((v, uid))
        })
        .await;
        match r {
            Ok((v, uid)) => {
                self.tagged(&tag, &format!("OK [APPENDUID {v} {uid}] Append completed"))
            }
            Err(e) => self.tagged_err(&tag, &e),
        }
        self.updates_before_tagged(true, &HashSet::new());
    }

    /// Puts the untagged updates of the selected mailbox before the tagged reply already
    /// in `out`.
    fn updates_before_tagged(&mut self, allow_expunge: bool, silent: &HashSet<u32>) {
        if self.selected.is_some() {
            let tagged_at = self.last_line_start();
            let tagged_line = self.out.split_off(tagged_at);
            self.sync(allow_expunge, silent);
            self.out.extend_from_slice(&tagged_line);
        }
    }

    async fn handle(&mut self, bytes: &[u8]) -> Flow {
        let (tag, cmd) = match ferrymail_imap_proto::parse_command(bytes) {
            Ok(c) => c,
            Err(e) => {
                if let Some(tag) = &e.tag {
                    if bytes.ends_with(b" TOOBIG-LITERAL") {
                        self.tagged(tag, "NO [TOOBIG] Literal too large");
                        return Flow::Continue;
                    }
                }
                let tag = e.tag.unwrap_or_else(|| "*".to_owned());
                if e.message.starts_with("[BADCHARSET") {
                    // RFC 3501 §6.4.4: an unsupported charset is NO with this code.
                    self.tagged(&tag, &format!("NO {}", e.message));
                } else {
                    self.tagged(&tag, &format!("BAD Error in IMAP command: {}", e.message));
                }
                return Flow::Continue;
            }
        };
        let allow_expunge_after = !matches!(
            cmd,
            Command::Fetch { uid: false, .. }
                | Command::Store { uid: false, .. }
                | Command::Search { uid: false, .. }
        );
        let mut silent = HashSet::new();
        let Ok(flow) = self.execute(&tag, cmd, &mut silent).await else {
            return Flow::Close;
        };
        self.updates_before_tagged(allow_expunge_after, &silent);
        flow
    }

    /// Where the last complete line in `out` starts (the tagged response).
    fn last_line_start(&self) -> usize {
        let body = self.out.strip_suffix(b"\r\n").unwrap_or(&self.out);
        body.windows(2)
            .rposition(|w| w == b"\r\n")
            .map_or(0, |i| i + 2)
    }

    fn need_auth(&mut self, tag: &str) -> bool {
        if self.user.is_none() {
            self.tagged(tag, "BAD Not logged in");
            return false;
        }
        true
    }

    fn need_selected(&mut self, tag: &str) -> bool {
        if self.selected.is_none() {
            self.tagged(tag, "BAD No mailbox selected");
            return false;
        }
        true
    }

    /// Runs one command. Err(()) means the connection must close (I/O failure).
    async fn execute(
        &mut self,
        tag: &str,
        cmd: Command,
        silent: &mut HashSet<u32>,
    ) -> Result<Flow, ()> {
        match cmd {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.tagged(tag, "OK Capability completed");
            }
            Command::Noop | Command::Check => {
                if let Some(sel) = &self.selected {
                    let mb = sel.mb.clone();
                    if let Err(e) = blocking(move || mb.rescan()).await {
                        tracing::debug!(error = %e, "rescan failed");
                    }
                }
                self.tagged(tag, "OK Completed");
            }
            Command::Logout => {
                if let Some(u) = &self.user {
                    tracing::info!(user = %u.login, "logged out");
                }
                self.untagged("BYE Logging out");
                self.tagged(tag, "OK Logout completed");
                return Ok(Flow::Close);
            }
            Command::StartTls => return self.starttls(tag).await,
            Command::Login { user, password } => {
                if self.user.is_some() {
                    self.tagged(tag, "BAD Already logged in");
                } else if !self.login_allowed() {
                    self.tagged(
                        tag,
                        "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections",
                    );
                } else {
                    let login = String::from_utf8_lossy(&user).into_owned();
                    return self.finish_login(tag, login, password).await;
                }
            }
            Command::Authenticate { mechanism, initial } => {
                return self.authenticate(tag, &mechanism, initial).await
            }
            Command::Id(_) => {
                self.untagged("ID (\"name\" \"ferrymail\" \"vendor\" \"ferrymail\")");
                self.tagged(tag, "OK ID completed");
            }
            Command::Namespace => {
                if self.need_auth(tag) {
                    self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                    self.tagged(tag, "OK Namespace completed");
                }
            }
            Command::Enable(_) => {
                if self.need_auth(tag) {
                    // None of our capabilities needs enabling.
                    self.untagged("ENABLED");
                    self.tagged(tag, "OK Enabled");
                }
            }
            Command::Select(name) | Command::Examine(name) if !self.need_auth(tag) => {
                let _ = name;
            }
            Command::Select(name) => self.select(tag, &name, false).await,
            Command::Examine(name) => self.select(tag, &name, true).await,
            Command::Create(name) => {
                if self.need_auth(tag) {
                    self.create(tag, &name).await
                }
            }
            Command::Delete(name) => {
                if self.need_auth(tag) {
                    self.delete(tag, &name).await
                }
            }
            Command::Rename(from, to) => {
                if self.need_auth(tag) {
                    self.rename(tag, &from, &to).await
                }
            }
            Command::Subscribe(name) | Command::Unsubscribe(name) if !self.need_auth(tag) => {
                let _ = name;
            }
            Command::Subscribe(name) => self.subscribe(tag, &name, true).await,
            Command::Unsubscribe(name) => self.subscribe(tag, &name, false).await,
            Command::List { reference, pattern } => {
                if self.need_auth(tag) {
                    self.list(tag, &reference, &pattern, false).await
                }
            }
            Command::ListExtended(args) => {
                if self.need_auth(tag) {
                    self.list_extended(tag, *args).await
                }
            }
            Command::Lsub { reference, pattern } => {
                if self.need_auth(tag) {
                    self.list(tag, &reference, &pattern, true).await
                }
            }
            Command::Status(name, atts) => {
                if self.need_auth(tag) {
                    self.status(tag, &name, &atts).await
                }
            }
            Command::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                if self.need_auth(tag) {
                    self.append(tag, &mailbox, &flags, date, message).await
                }
            }
            Command::Idle => {
                if self.need_auth(tag) {
                    return self.idle(tag).await;
                }
            }
            Command::Close | Command::Unselect => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    let close = matches!(cmd, Command::Close);
                    if let Some(sel) = self.selected.take() {
                        if close && !sel.read_only {
                            let mb = sel.mb.clone();
                            let r = blocking(move || {
                                let (msgs, _, _) = mb.snapshot();
                                let del: Vec<u32> = msgs
                                    .iter()
                                    .filter(|m| m.flags.contains(Flags::TRASHED))
                                    .map(|m| m.uid)
                                    .collect();
                                mb.expunge(&del)
                            })
                            .await;
                            if let Err(e) = r {
                                tracing::warn!(error = %e, "expunge on CLOSE failed");
                            }
                        }
                        drop(sel);
                        self.ctx.hub.release_unused();
                    }
                    self.tagged(tag, "OK Completed");
                }
            }
            Command::Expunge | Command::UidExpunge(_) => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    let set = match cmd {
                        Command::UidExpunge(s) => Some(s),
                        _ => None,
                    };
                    self.expunge(tag, set).await
                }
            }
            Command::Search { uid, key } => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    self.search(tag, uid, key).await
                }
            }
            Command::Fetch { uid, set, atts } => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    return self.fetch(tag, uid, &set, atts, silent).await;
                }
            }
            Command::Store {
                uid,
                set,
                op,
                silent: quiet,
                flags,
            } => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    self.store(tag, uid, &set, op, quiet, &flags, silent).await
                }
            }
            Command::Copy { uid, set, mailbox } => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    self.copy(tag, uid, &set, &mailbox, false).await
                }
            }
            Command::Move { uid, set, mailbox } => {
                if self.need_auth(tag) && self.need_selected(tag) {
                    self.copy(tag, uid, &set, &mailbox, true).await
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn starttls(&mut self, tag: &str) -> Result<Flow, ()> {
        let Some(tls) = self.ctx.tls.clone() else {
            self.tagged(tag, "BAD TLS is not configured");
            return Ok(Flow::Continue);
        };
        if self.is_tls() {
            self.tagged(tag, "BAD TLS is already active");
            return Ok(Flow::Continue);
        }
        if self.user.is_some() {
            self.tagged(tag, "BAD Already logged in");
            return Ok(Flow::Continue);
        }
        self.tagged(tag, "OK Begin TLS negotiation now");
        self.flush().await.map_err(|_| ())?;
        if self.conn.buffered() > 0 {
            // Bytes pipelined after STARTTLS would be injected into the TLS session
            // (CVE-2011-0411): refuse them by closing.
            tracing::info!("client sent data after STARTTLS; closing");
            return Ok(Flow::Close);
        }
        let acceptor = tls.acceptor();
        match tokio::time::timeout(Duration::from_secs(60), self.conn.stream.upgrade(&acceptor))
            .await
        {
            Ok(Ok(())) => {
                if let Some(d) = self.conn.stream.tls_description() {
                    tracing::info!(tls = %d, "STARTTLS");
                }
                Ok(Flow::Continue)
            }
            _ => Err(()),
        }
    }

    async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<Flow, ()> {
        if self.user.is_some() {
            self.tagged(tag, "BAD Already logged in");
            return Ok(Flow::Continue);
        }
        use ferrymail_net::sasl::{Exchange, Mechanism, SaslError, Step};
        let Some(mechanism) = Mechanism::from_name(mechanism) else {
            self.tagged(tag, "NO Unsupported authentication mechanism");
            return Ok(Flow::Continue);
        };
        if !self.login_allowed() {
            self.tagged(
                tag,
                "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections",
            );
            return Ok(Flow::Continue);
        }
        let mut exchange = Exchange::new(mechanism, ferrymail_users::login_key);
        let mut step = exchange.begin(initial.as_deref());
        loop {
            match step {
                Ok(Step::Challenge(challenge)) => {
                    self.out
                        .extend_from_slice(format!("+ {challenge}\r\n").as_bytes());
                    self.flush().await.map_err(|_| ())?;
                    let response = match self.conn.read_line(MAX_SASL_LINE).await {
                        Ok(LineResult::Line(l)) => String::from_utf8_lossy(&l).into_owned(),
                        Ok(LineResult::TooLong(_)) => {
                            self.tagged(tag, "BAD Authentication response too long");
                            return Ok(Flow::Continue);
                        }
                        _ => return Ok(Flow::Close),
                    };
                    step = exchange.respond(&response);
                }
                Ok(Step::Done(creds)) => {
                    return self.finish_login(tag, creds.authcid, creds.password).await
                }
                Err(SaslError::Cancelled) => {
                    self.tagged(tag, "BAD Authentication cancelled");
                    return Ok(Flow::Continue);
                }
                Err(SaslError::NotAuthorized) => {
                    return Ok(self.login_refused(
                        tag,
                        "NO [AUTHORIZATIONFAILED] Not authorized to act as another user",
                    ))
                }
                Err(e @ (SaslError::Base64 | SaslError::Malformed)) => {
                    self.tagged(tag, &format!("BAD Invalid authentication data: {e}"));
                    return Ok(Flow::Continue);
                }
            }
        }
    }

    /// A failed authentication: counted, and the connection closed past the limit.
    fn login_refused(&mut self, tag: &str, reply: &str) -> Flow {
        self.auth_failures += 1;
        self.tagged(tag, reply);
        if self.auth_failures >= self.config().imapd.limits.max_auth_failures {
            self.untagged("BYE Too many authentication failures");
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn finish_login(
        &mut self,
        tag: &str,
        login: String,
        password: Vec<u8>,
    ) -> Result<Flow, ()> {
        let ip: IpAddr = self.info.peer_ip();
        let pending = self.ctx.throttle.pending_delay(ip);
        if !pending.is_zero() {
            tokio::time::sleep(pending).await;
        }
        let Some(users) = self.ctx.users.clone() else {
            self.tagged(tag, "BAD Already logged in");
            return Ok(Flow::Continue);
        };
        let l2 = login.clone();
        let exempt = self.info.trusted && self.config().imapd.limits.exempt_trusted;
        let verified = self
            .ctx
            .throttle
            .check_password(ip, exempt, move || users.verify(&l2, password))
            .await
            .and_then(Result::ok);
        let Some(account) = verified else {
            let delay = self.ctx.throttle.failed(ip);
            tracing::info!(user = %login, "authentication failed");
            tokio::time::sleep(delay).await;
            return Ok(self.login_refused(tag, "NO [AUTHENTICATIONFAILED] Authentication failed."));
        };
        self.ctx.throttle.succeeded(ip);
        let root = match account.mailbox(self.config()) {
            MailboxLocation::Maildir(p) => p,
            MailboxLocation::Mbox(_) => {
                self.tagged(
                    tag,
                    "NO [UNAVAILABLE] This account's mailbox is an mbox, which IMAP does not serve",
                );
                return Ok(Flow::Continue);
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
                self.tagged(tag, "NO [LIMIT] Too many connections for this user");
                return Ok(Flow::Continue);
            }
            *n += 1;
        }
        let slot = UserSlot {
            ctx: self.ctx.clone(),
            login: canonical.clone(),
        };
        if let Some(spawner) = spawner {
            return Ok(self.hand_off(tag, &canonical, slot, spawner).await);
        }
        let store = Store::new(root);
        if let Err(e) = prepare_user_store(&store).await {
            self.tagged_err(tag, &e);
            return Ok(Flow::Continue);
        }
        tracing::info!(user = %canonical, "logged in");
        self.user = Some(User {
            login: canonical,
            store,
            _slot: Some(slot),
        });
        let caps = self.capabilities();
        self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
        Ok(Flow::Continue)
    }

    /// Gives the connection to a session child running as the Unix account, which answers
    /// the login command itself. Never falls back to serving the account in-process.
    async fn hand_off(
        &mut self,
        tag: &str,
        login: &str,
        slot: UserSlot,
        spawner: Arc<Spawner>,
    ) -> Flow {
        match spawner.open_session(login).await {
            Ok((sock, pid)) => {
                tracing::info!(user = %login, pid, "logged in; handed to a session child");
                self.handoff = Some(Box::new(Handoff {
                    sock,
                    tag: tag.to_owned(),
                    _slot: slot,
                }));
                Flow::Close
            }
            Err(e) => {
                tracing::error!(user = %login, error = %e, "no session child for a Unix account");
                self.tagged(tag, "NO [UNAVAILABLE] Cannot serve this account right now");
                Flow::Continue
            }
        }
    }

    fn user_store(&self) -> Option<Store> {
        self.user.as_ref().map(|u| u.store.clone())
    }

    /// Validates a client's mailbox name.
    fn name(&mut self, tag: &str, raw: &str) -> Option<MailboxName> {
        match MailboxName::new(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                self.tagged(tag, &format!("NO [CANNOT] Invalid mailbox name: {e}"));
                None
            }
        }
    }

    /// The shared mailbox for `name`; `refresh` rescans it if it was already open (SELECT
    /// and STATUS must show changes by others; APPEND and COPY need not pay a directory scan).
    async fn open_mailbox(
        &mut self,
        name: &MailboxName,
        refresh: bool,
    ) -> Result<Arc<SharedMailbox>, StoreError> {
        let store = self
            .user_store()
            .ok_or_else(|| StoreError::Io(std::io::Error::other("not logged in")))?;
        let hub = self.ctx.hub.clone();
        let name = name.clone();
        blocking(move || {
            let md = store.folder(&name)?;
            hub.open(md, refresh)
        })
        .await
    }

    async fn select(&mut self, tag: &str, raw: &str, read_only: bool) {
        if let Some(old) = self.selected.take() {
            drop(old);
            self.ctx.hub.release_unused();
        }
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        let mb = match self.open_mailbox(&name, true).await {
            Ok(mb) => mb,
            Err(e) => return self.tagged_err(tag, &e),
        };
        // Claim the messages in new/: they are \Recent for this session only.
        let (view, uidvalidity, uidnext) = mb.snapshot();
        let recent: HashSet<u32> = view
            .iter()
            .filter(|m| m.dir == ferrymail_maildir::Subdir::New)
            .map(|m| m.uid)
            .collect();
        if !read_only && !recent.is_empty() {
            let mb2 = mb.clone();
            let uids: Vec<u32> = recent.iter().copied().collect();
            if let Err(e) = blocking(move || mb2.modify_flags(&uids, |f| f)).await {
                tracing::debug!(error = %e, "could not move new messages to cur");
            }
        }
        let (view, _, _) = mb.snapshot();
        let keywords = mb.keywords();
        let rx = mb.subscribe();
        let first_unseen = view
            .iter()
            .position(|m| !m.flags.contains(Flags::SEEN))
            .map(|i| i + 1);
        let fl = flag_names(&keywords);
        self.untagged(&format!("FLAGS ({fl})"));
        self.untagged(&format!("{} EXISTS", view.len()));
        self.untagged(&format!("{} RECENT", recent.len()));
        if let Some(u) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {u}] First unseen"));
        }
        self.untagged(&format!("OK [UIDVALIDITY {uidvalidity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {uidnext}] Predicted next UID"));
        if read_only {
            self.untagged("OK [PERMANENTFLAGS ()] Read-only mailbox");
        } else {
            self.untagged(&format!("OK [PERMANENTFLAGS ({fl} \\*)] Flags permitted"));
        }
        self.selected = Some(Selected {
            mb,
            read_only,
            view,
            recent,
            keywords,
            rx,
        });
        let access = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let verb = if read_only { "Examine" } else { "Select" };
        self.tagged(tag, &format!("OK [{access}] {verb} completed"));
    }

    /// Reports what changed in the selected mailbox since this session last looked:
    /// EXPUNGE (only where allowed), EXISTS, RECENT and FETCH FLAGS. `silent` lists UIDs
    /// whose flag changes this command already reported.
    fn sync(&mut self, allow_expunge: bool, silent: &HashSet<u32>) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let (cur, _, _) = sel.mb.snapshot();
        let keywords = sel.mb.keywords();
        let mut out = Vec::new();
        if keywords != sel.keywords {
            let fl = flag_names(&keywords);
            out.extend_from_slice(format!("* FLAGS ({fl})\r\n").as_bytes());
            if !sel.read_only {
                out.extend_from_slice(
                    format!("* OK [PERMANENTFLAGS ({fl} \\*)] Flags permitted\r\n").as_bytes(),
                );
            }
            sel.keywords = keywords;
        }
        if Arc::ptr_eq(&cur, &sel.view) {
            self.out.extend_from_slice(&out);
            return;
        }
        // Merge walk over two UID-sorted lists.
        let old = &sel.view;
        let mut expunged = Vec::new();
        let mut changed = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let Some(o) = old.get(i) {
            match cur.get(j) {
                Some(c) if c.uid == o.uid => {
                    if c.flags != o.flags {
                        changed.push(c.uid);
                    }
                    i += 1;
                    j += 1;
                }
                Some(c) if c.uid < o.uid => j += 1,
                _ => {
                    expunged.push(i);
                    i += 1;
                }
            }
        }
        if !expunged.is_empty() && !allow_expunge {
            self.out.extend_from_slice(&out);
            return;
        }
        for (removed, idx) in expunged.iter().enumerate() {
            out.extend_from_slice(format!("* {} EXPUNGE\r\n", idx + 1 - removed).as_bytes());
        }
        let survivors = old.len() - expunged.len();
        let mut new_recent = 0;
        let max_old = old.last().map_or(0, |m| m.uid);
        for m in cur.iter().filter(|m| m.uid > max_old) {
            if m.dir == ferrymail_maildir::Subdir::New && sel.recent.insert(m.uid) {
                new_recent += 1;
            }
        }
        if cur.len() != survivors || new_recent > 0 {
            out.extend_from_slice(format!("* {} EXISTS\r\n", cur.len()).as_bytes());
            out.extend_from_slice(format!("* {} RECENT\r\n", sel.recent.len()).as_bytes());
        }
        for uid in changed {
            if silent.contains(&uid) {
                continue;
            }
            if let Ok(pos) = cur.binary_search_by_key(&uid, |m| m.uid) {
                if let Some(m) = cur.get(pos) {
                    out.extend_from_slice(format!("* {} FETCH (FLAGS ", pos + 1).as_bytes());
                    fetch::flag_list(&mut out, m.flags, &sel.keywords, sel.recent.contains(&uid));
                    out.extend_from_slice(b")\r\n");
                }
            }
        }
        for e in &expunged {
            if let Some(m) = old.get(*e) {
                sel.recent.remove(&m.uid);
            }
        }
        sel.view = cur;
        self.out.extend_from_slice(&out);
    }

    async fn create(&mut self, tag: &str, raw: &str) {
        let raw = raw.strip_suffix('/').unwrap_or(raw);
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        if name.is_inbox() {
            return self.tagged(tag, "NO [ALREADYEXISTS] INBOX always exists");
        }
        let Some(store) = self.user_store() else {
            return;
        };
        match blocking(move || store.create_folder(&name).map(|_| ()).map_err(Into::into)).await {
            Ok(()) => self.tagged(tag, "OK Create completed"),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn delete(&mut self, tag: &str, raw: &str) {
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        if name.is_inbox() {
            return self.tagged(tag, "NO [CANNOT] INBOX cannot be deleted");
        }
        let Some(store) = self.user_store() else {
            return;
        };
        if let Some(sel) = &self.selected {
            if store.folder(&name).ok().map(|m| m.path().to_owned()) == Some(sel.mb.path.clone()) {
                return self.tagged(tag, "NO [INUSE] Mailbox is selected");
            }
        }
        match blocking(move || store.delete_folder(&name).map_err(Into::into)).await {
            Ok(()) => self.tagged(tag, "OK Delete completed"),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn rename(&mut self, tag: &str, from: &str, to: &str) {
        let (Some(from), Some(to)) = (self.name(tag, from), self.name(tag, to)) else {
            return;
        };
        let Some(store) = self.user_store() else {
            return;
        };
        if to.is_inbox() {
            return self.tagged(tag, "NO [ALREADYEXISTS] INBOX always exists");
        }
        let hub = self.ctx.hub.clone();
        let r = if from.is_inbox() {
            // RFC 3501: renaming INBOX moves its messages into a new mailbox and leaves
            // INBOX empty.
            blocking(move || {
                let dest_md = store.create_folder(&to)?;
                let src = hub.open(store.inbox()?, true)?;
                let dest = hub.open(dest_md, false)?;
                let (msgs, _, _) = src.snapshot();
                let mut moved = Vec::new();
                for m in msgs.iter() {
                    match src.read(m) {
                        Ok((raw, mtime)) => {
                            let t = UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
                            dest.append(&[&raw], m.flags, Some(t))?;
                            moved.push(m.uid);
                        }
                        Err(StoreError::Maildir(e)) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
                src.expunge(&moved)?;
                Ok(())
            })
            .await
        } else {
            blocking(move || rename_with_children(&store, &from, &to)).await
        };
        match r {
            Ok(()) => self.tagged(tag, "OK Rename completed"),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn subscribe(&mut self, tag: &str, raw: &str, add: bool) {
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        let Some(store) = self.user_store() else {
            return;
        };
        let r = blocking(move || {
            listing::update_subscriptions(store.root(), |subs| {
                subs.retain(|s| s != name.as_str());
                if add {
                    subs.push(name.as_str().to_owned());
                }
            })?;
            Ok(())
        })
        .await;
        match r {
            Ok(()) => self.tagged(
                tag,
                if add {
                    "OK Subscribe completed"
                } else {
                    "OK Unsubscribe completed"
                },
            ),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn list(&mut self, tag: &str, reference: &str, pattern: &str, lsub: bool) {
        let cmd = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            self.untagged("LIST (\\Noselect) \"/\" \"\"");
            return self.tagged(tag, "OK List completed");
        }
        let full = format!("{reference}{pattern}");
        let Some(store) = self.user_store() else {
            return;
        };
        let (names, subs) = match folders(store, lsub).await {
            Ok(v) => v,
            Err(e) => return self.tagged_err(tag, &e),
        };
        let all = listing::with_ancestors(&names);
        let mut lines = Vec::new();
        for (name, exists) in &all {
            if !listing::matches(&full, name) {
                continue;
            }
            if let Some(subs) = &subs {
                if !subs.iter().any(|s| s == name) {
                    continue;
                }
            }
            let mut attrs: Vec<&str> = Vec::new();
            if !exists {
                attrs.push("\\Noselect");
            }
            attrs.push(if listing::has_children(name, &all) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if let Some(su) = listing::special_use(name) {
                attrs.push(su);
            }
            let mut line = format!("* {cmd} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            ferrymail_imap_proto::encode::mailbox(&mut line, name);
            line.extend_from_slice(b"\r\n");
            lines.push(line);
        }
        for l in lines {
            self.out.extend_from_slice(&l);
        }
        self.tagged(
            tag,
            &format!("OK {} completed", if lsub { "Lsub" } else { "List" }),
        );
    }

    /// LIST with RFC 5258 options: one line per listed name, each followed by its STATUS
    /// response when `RETURN (STATUS ...)` asked for one (RFC 5819) and the mailbox is
    /// selectable. A mailbox whose STATUS fails (deleted meanwhile) just has none.
    async fn list_extended(&mut self, tag: &str, args: ferrymail_imap_proto::ListExtended) {
        if args.patterns.iter().all(String::is_empty) {
            self.untagged("LIST (\\Noselect) \"/\" \"\"");
            return self.tagged(tag, "OK List completed");
        }
        let Some(store) = self.user_store() else {
            return;
        };
        let (names, subs) = match folders(store, true).await {
            Ok((names, subs)) => (names, subs.unwrap_or_default()),
            Err(e) => return self.tagged_err(tag, &e),
        };
        for entry in listing::extended(&names, &subs, &args) {
            entry.encode(&mut self.out);
            let (true, Some(atts)) = (entry.status, &args.ret.status) else {
                continue;
            };
            let Ok(name) = MailboxName::new(&entry.name) else {
                continue;
            };
            match self.status_response(&name, atts).await {
                Ok(line) => self.out.extend_from_slice(&line),
                Err(e) => {
                    tracing::debug!(mailbox = %entry.name, error = %e, "no STATUS for a listed mailbox")
                }
            }
        }
        self.tagged(tag, "OK List completed");
    }

    async fn status(&mut self, tag: &str, raw: &str, atts: &[StatusAtt]) {
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        match self.status_response(&name, atts).await {
            Ok(line) => {
                self.out.extend_from_slice(&line);
                self.tagged(tag, "OK Status completed");
            }
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    /// The untagged `* STATUS` response for a mailbox (STATUS and LIST-STATUS).
    async fn status_response(
        &mut self,
        name: &MailboxName,
        atts: &[StatusAtt],
    ) -> Result<Vec<u8>, StoreError> {
        let mb = self.open_mailbox(name, true).await?;
        let (msgs, uidvalidity, uidnext) = mb.snapshot();
        drop(mb);
        self.ctx.hub.release_unused();
        let mut items = Vec::new();
        for a in atts {
            items.push(match a {
                StatusAtt::Messages => format!("MESSAGES {}", msgs.len()),
                StatusAtt::Recent => format!(
                    "RECENT {}",
                    msgs.iter()
                        .filter(|m| m.dir == ferrymail_maildir::Subdir::New)
                        .count()
                ),
                StatusAtt::UidNext => format!("UIDNEXT {uidnext}"),
                StatusAtt::UidValidity => format!("UIDVALIDITY {uidvalidity}"),
                StatusAtt::Unseen => format!(
                    "UNSEEN {}",
                    msgs.iter()
                        .filter(|m| !m.flags.contains(Flags::SEEN))
                        .count()
                ),
            });
        }
        let mut line = b"* STATUS ".to_vec();
        ferrymail_imap_proto::encode::mailbox(&mut line, name.as_str());
        line.extend_from_slice(format!(" ({})\r\n", items.join(" ")).as_bytes());
        Ok(line)
    }

    async fn append(
        &mut self,
        tag: &str,
        raw: &str,
        flags: &[Flag],
        date: Option<i64>,
        message: Vec<u8>,
    ) {
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        let mb = match self.open_mailbox(&name, false).await {
            Ok(mb) => mb,
            Err(StoreError::Maildir(ferrymail_maildir::Error::MailboxNotFound(_))) => {
                return self.tagged(tag, "NO [TRYCREATE] Mailbox does not exist");
            }
            Err(e) => return self.tagged_err(tag, &e),
        };
        let flags = flags.to_vec();
        let r = blocking(move || {
            let f = to_maildir_flags(&mb, &flags, true)?;
            let mtime = date.map(|d| UNIX_EPOCH + Duration::from_secs(d.max(0) as u64));
            let uid = mb.append(&[&message], f, mtime)?;
            let (_, v, _) = mb.snapshot();
            Ok((v, uid))
        })
        .await;
        match r {
            Ok((v, uid)) => self.tagged(tag, &format!("OK [APPENDUID {v} {uid}] Append completed")),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn expunge(&mut self, tag: &str, set: Option<SeqSet>) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let mb = sel.mb.clone();
        // Only messages this session knows of may go (a UID it has not seen is not ours
        // to expunge in this command).
        let known: HashSet<u32> = sel.view.iter().map(|m| m.uid).collect();
        let max = sel.max_uid();
        let r = blocking(move || {
            let (msgs, _, _) = mb.snapshot();
            let del: Vec<u32> = msgs
                .iter()
                .filter(|m| m.flags.contains(Flags::TRASHED) && known.contains(&m.uid))
                .filter(|m| set.as_ref().is_none_or(|s| s.contains(m.uid, max)))
                .map(|m| m.uid)
                .collect();
            mb.expunge(&del)
        })
        .await;
        match r {
            Ok(_) => self.tagged(tag, "OK Expunge completed"),
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn search(&mut self, tag: &str, uid: bool, key: SearchKey) {
        let Some(sel) = &self.selected else { return };
        let mb = sel.mb.clone();
        let view = sel.view.clone();
        let recent = sel.recent.clone();
        let keywords = sel.keywords.clone();
        let r = blocking(move || {
            let content = search::needs_content(&key);
            let cache = search::needs_cache(&key);
            let max_seq = view.len() as u32;
            let max_uid = view.last().map_or(0, |m| m.uid);
            let mut hits = Vec::new();
            for (i, m) in view.iter().enumerate() {
                let mut msg = None;
                let mut cached = None;
                if content || cache {
                    cached = mb.cached(m.uid);
                    if content || cached.is_none() {
                        match mb.read(m) {
                            Ok((raw, mtime)) => {
                                let (c, crlf) = fetch::compute_cached(raw, mtime);
                                mb.put_cached(m.uid, c.clone());
                                cached = Some(c);
                                msg = Some(crlf);
                            }
                            Err(_) => continue,
                        }
                    }
                }
                let cand = search::Candidate {
                    seq: i as u32 + 1,
                    uid: m.uid,
                    max_seq,
                    max_uid,
                    flags: m.flags,
                    recent: recent.contains(&m.uid),
                    size: cached.as_ref().map_or(0, |c| c.size),
                    internal_date: cached.as_ref().map_or(0, |c| c.internal_date),
                    cached: cached.as_deref(),
                    keywords: &keywords,
                    content: msg.as_deref(),
                };
                if search::matches(&key, &cand) {
                    hits.push(if uid { m.uid } else { i as u32 + 1 });
                }
            }
            Ok(hits)
        })
        .await;
        match r {
            Ok(hits) => {
                let mut line = String::from("* SEARCH");
                for h in hits {
                    line.push(' ');
                    line.push_str(&h.to_string());
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
                self.tagged(tag, "OK Search completed");
            }
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        mut atts: Vec<FetchAtt>,
        silent: &mut HashSet<u32>,
    ) -> Result<Flow, ()> {
        let Some(sel) = &self.selected else {
            return Ok(Flow::Continue);
        };
        let idxs = match sel.resolve(set, uid) {
            Ok(i) => i,
            Err(msg) => {
                self.tagged(tag, &format!("BAD {msg}"));
                return Ok(Flow::Continue);
            }
        };
        let mb = sel.mb.clone();
        let mut flag_override: HashMap<u32, Flags> = HashMap::new();
        if fetch::sets_seen(&atts) && !sel.read_only {
            let unseen: Vec<u32> = idxs
                .iter()
                .filter_map(|&i| sel.view.get(i))
                .filter(|m| !m.flags.contains(Flags::SEEN))
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let mb2 = mb.clone();
                match blocking(move || mb2.modify_flags(&unseen, |f| f | Flags::SEEN)).await {
                    Ok(changed) => flag_override.extend(changed),
                    Err(e) => tracing::warn!(error = %e, "could not set \\Seen"),
                }
                if !atts.contains(&FetchAtt::Flags) {
                    atts.push(FetchAtt::Flags);
                }
            }
        }
        silent.extend(flag_override.keys().copied());
        let Some(sel) = &self.selected else {
            return Ok(Flow::Continue);
        };
        let jobs: Vec<(u32, Meta, bool)> = idxs
            .iter()
            .filter_map(|&i| {
                sel.view
                    .get(i)
                    .map(|m| (i as u32 + 1, m.clone(), sel.recent.contains(&m.uid)))
            })
            .collect();
        let keywords = sel.keywords.clone();
        self.flush().await.map_err(|_| ())?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let worker = tokio::task::spawn_blocking(move || {
            let need_content = fetch::needs_content(&atts);
            let need_cache = fetch::needs_cache(&atts);
            let mut chunk = Vec::new();
            for (seq, meta, recent) in jobs {
                let mut cached = None;
                let mut content = None;
                if need_cache {
                    cached = mb.cached(meta.uid);
                }
                if need_content || (need_cache && cached.is_none()) {
                    match mb.read(&meta) {
                        Ok((raw, mtime)) => {
                            let (c, crlf) = if need_cache && cached.is_none() {
                                let (c, crlf) = fetch::compute_cached(raw, mtime);
                                mb.put_cached(meta.uid, c.clone());
                                (Some(c), crlf)
                            } else {
                                (cached.clone(), crate::mime::to_crlf(raw))
                            };
                            cached = c;
                            content = Some(crlf);
                        }
                        // Expunged by someone else meanwhile: nothing to show.
                        Err(_) => continue,
                    }
                }
                let flags = flag_override.get(&meta.uid).copied().unwrap_or(meta.flags);
                let view = fetch::MessageView {
                    seq,
                    uid: meta.uid,
                    flags,
                    recent,
                    keywords: &keywords,
                    cached: cached.as_deref(),
                    content: content.as_deref(),
                };
                fetch::render(&mut chunk, &view, &atts, uid);
                if chunk.len() >= FETCH_CHUNK
                    && tx.blocking_send(std::mem::take(&mut chunk)).is_err()
                {
                    return;
                }
            }
            if !chunk.is_empty() {
                let _ = tx.blocking_send(chunk);
            }
        });
        let mut failed = false;
        while let Some(chunk) = rx.recv().await {
            if !failed && self.conn.write(&chunk).await.is_err() {
                failed = true;
            }
        }
        let _ = worker.await;
        if failed {
            return Err(());
        }
        self.tagged(tag, "OK Fetch completed");
        Ok(Flow::Continue)
    }

    #[allow(clippy::too_many_arguments)]
    async fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        op: StoreOp,
        quiet: bool,
        flags: &[Flag],
        silent: &mut HashSet<u32>,
    ) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let idxs = match sel.resolve(set, uid) {
            Ok(i) => i,
            Err(msg) => return self.tagged(tag, &format!("BAD {msg}")),
        };
        let uids: Vec<u32> = idxs
            .iter()
            .filter_map(|&i| sel.view.get(i))
            .map(|m| m.uid)
            .collect();
        let mb = sel.mb.clone();
        let flags = flags.to_vec();
        let r = blocking(move || {
            let f = to_maildir_flags(&mb, &flags, op != StoreOp::Remove)?;
            mb.modify_flags(&uids, move |old| match op {
                StoreOp::Add => old | f,
                StoreOp::Remove => old - f,
                // \Passed has no IMAP name; a replace must not drop it.
                StoreOp::Replace => f | (old & Flags::PASSED),
            })
        })
        .await;
        let changed = match r {
            Ok(c) => c,
            Err(e) => return self.tagged_err(tag, &e),
        };
        // New keywords change the FLAGS list: announce it before the FETCHes.
        self.sync_keywords();
        let Some(sel) = &self.selected else { return };
        let mut out = Vec::new();
        for (u, f) in &changed {
            silent.insert(*u);
            if quiet {
                continue;
            }
            let Some(seq) = sel.seq_of(*u) else { continue };
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            if uid {
                out.extend_from_slice(format!("UID {u} ").as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            fetch::flag_list(&mut out, *f, &sel.keywords, sel.recent.contains(u));
            out.extend_from_slice(b")\r\n");
        }
        self.out.extend_from_slice(&out);
        self.tagged(tag, "OK Store completed");
    }

    fn sync_keywords(&mut self) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let keywords = sel.mb.keywords();
        if keywords != sel.keywords {
            let fl = flag_names(&keywords);
            let ro = sel.read_only;
            sel.keywords = keywords;
            self.untagged(&format!("FLAGS ({fl})"));
            if !ro {
                self.untagged(&format!("OK [PERMANENTFLAGS ({fl} \\*)] Flags permitted"));
            }
        }
    }

    async fn copy(&mut self, tag: &str, uid: bool, set: &SeqSet, raw: &str, is_move: bool) {
        let Some(name) = self.name(tag, raw) else {
            return;
        };
        let Some(sel) = &self.selected else { return };
        if is_move && sel.read_only {
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let idxs = match sel.resolve(set, uid) {
            Ok(i) => i,
            Err(msg) => return self.tagged(tag, &format!("BAD {msg}")),
        };
        let metas: Vec<Meta> = idxs
            .iter()
            .filter_map(|&i| sel.view.get(i).cloned())
            .collect();
        let src = sel.mb.clone();
        let src_keywords = sel.keywords.clone();
        let dest = match self.open_mailbox(&name, false).await {
            Ok(mb) => mb,
            Err(StoreError::Maildir(ferrymail_maildir::Error::MailboxNotFound(_))) => {
                return self.tagged(tag, "NO [TRYCREATE] Mailbox does not exist");
            }
            Err(e) => return self.tagged_err(tag, &e),
        };
        let r = blocking(move || {
            let mut pairs = Vec::new();
            for m in &metas {
                let (raw, mtime) = match src.read(m) {
                    Ok(v) => v,
                    Err(StoreError::Maildir(e)) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                // Keyword letters are per mailbox: translate through the names.
                let names: Vec<String> = m
                    .flags
                    .keywords()
                    .filter_map(|k| src_keywords.get(usize::from(k)).cloned())
                    .filter(|n| !n.is_empty())
                    .collect();
                let kw = dest.keyword_flags(&names, true)?;
                let standard = m.flags - keyword_mask();
                let t = UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
                let new_uid = dest.append(&[&raw], standard | kw, Some(t))?;
                pairs.push((m.uid, new_uid));
            }
            if is_move {
                let uids: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                src.expunge(&uids)?;
            }
            let (_, v, _) = dest.snapshot();
            Ok((v, pairs))
        })
        .await;
        match r {
            Ok((v, pairs)) => {
                let code = if pairs.is_empty() {
                    String::new()
                } else {
                    let s: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                    let d: Vec<u32> = pairs.iter().map(|p| p.1).collect();
                    format!("[COPYUID {v} {} {}] ", compact_set(&s), compact_set(&d))
                };
                if is_move {
                    if !code.is_empty() {
                        self.untagged(&format!("OK {code}Moved"));
                    }
                    self.tagged(tag, "OK Move completed");
                } else {
                    self.tagged(tag, &format!("OK {code}Copy completed"));
                }
            }
            Err(e) => self.tagged_err(tag, &e),
        }
    }

    async fn idle(&mut self, tag: &str) -> Result<Flow, ()> {
        self.out.extend_from_slice(b"+ idling\r\n");
        // Other processes' changes are watched for only while someone idles (mailbox.rs).
        let _watch = self
            .selected
            .as_ref()
            .map(|sel| self.ctx.hub.idle_watch(&sel.mb));
        if let Some(sel) = &self.selected {
            let mb = sel.mb.clone();
            let _ = blocking(move || mb.rescan()).await;
        }
        let timeout = self.config().imapd.idle_command_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut shutdown = self.shutdown.clone();
        loop {
            self.sync(true, &HashSet::new());
            self.flush().await.map_err(|_| ())?;
            let mut rx = self.selected.as_ref().map(|s| s.rx.clone());
            let changed = async {
                match rx.as_mut() {
                    Some(r) => {
                        if r.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                line = tokio::time::timeout_at(deadline, self.conn.read_line(64)) => {
                    match line {
                        Ok(Ok(LineResult::Line(l))) if l.eq_ignore_ascii_case(b"DONE") => {
                            self.tagged(tag, "OK Idle completed");
                            return Ok(Flow::Continue);
                        }
                        Ok(Ok(LineResult::Line(_))) | Ok(Ok(LineResult::TooLong(_))) => {
                            self.tagged(tag, "BAD Expected DONE");
                            return Ok(Flow::Continue);
                        }
                        Ok(_) => return Err(()),
                        Err(_) => {
                            self.untagged("BYE Autologout; idle for too long");
                            return Ok(Flow::Close);
                        }
                    }
                }
                _ = changed => {
                    if let (Some(sel), Some(rx)) = (self.selected.as_mut(), rx) {
                        sel.rx = rx;
                    }
                }
                _ = shutdown.wait() => {
                    self.untagged("BYE Server shutting down");
                    return Ok(Flow::Close);
                }
            }
        }
    }
}

fn keyword_mask() -> Flags {
    (0u8..26)
        .filter_map(Flags::keyword)
        .fold(Flags::empty(), |a, f| a | f)
}

/// `\Answered \Flagged \Deleted \Seen \Draft` and the mailbox's keywords.
fn flag_names(keywords: &[String]) -> String {
    let mut s = String::from("\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for k in keywords.iter().filter(|k| !k.is_empty()) {
        s.push(' ');
        s.push_str(k);
    }
    s
}

/// IMAP flags to maildir flags; keywords get letters (new ones only if `create`).
fn to_maildir_flags(mb: &SharedMailbox, flags: &[Flag], create: bool) -> Result<Flags, StoreError> {
    let mut f = Flags::empty();
    let mut names = Vec::new();
    for flag in flags {
        match flag {
            Flag::Answered => f |= Flags::REPLIED,
            Flag::Flagged => f |= Flags::FLAGGED,
            Flag::Deleted => f |= Flags::TRASHED,
            Flag::Seen => f |= Flags::SEEN,
            Flag::Draft => f |= Flags::DRAFT,
            Flag::Recent | Flag::Extension(_) => {}
            Flag::Keyword(k) => names.push(k.clone()),
        }
    }
    if !names.is_empty() {
        f |= mb.keyword_flags(&names, create)?;
    }
    Ok(f)
}

/// Renames a folder and everything below it. A name that only exists as the parent of
/// other folders (`A` of `A/B`, a `\Noselect` level in Maildir++) is renamed by renaming
/// its children.
fn rename_with_children(
    store: &Store,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<(), StoreError> {
    if store.folder_exists(from)? {
        return store.rename_folder(from, to).map_err(Into::into);
    }
    let prefix = format!("{}/", from.as_str());
    let mut renamed = false;
    // Each rename also moves that child's own descendants, so list afresh every time.
    for _ in 0..10_000 {
        let next = store
            .list_folders()?
            .into_iter()
            .find(|n| n.as_str().starts_with(&prefix));
        let Some(child) = next else { break };
        let suffix = child.as_str().get(prefix.len()..).unwrap_or_default();
        let target = MailboxName::new(&format!("{}/{suffix}", to.as_str()))
            .map_err(ferrymail_maildir::Error::from)?;
        store.rename_folder(&child, &target)?;
        renamed = true;
    }
    if renamed {
        Ok(())
    } else {
        Err(ferrymail_maildir::Error::MailboxNotFound(from.clone()).into())
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
    let _lock = listing::lock_subscriptions(store.root())?;
    if marker.exists() {
        return Ok(());
    }
    let mut subs = listing::load_subscriptions(store.root());
    for (name, _) in listing::SPECIAL_USE {
        let n = MailboxName::new(name).map_err(ferrymail_maildir::Error::from)?;
        match store.create_folder(&n) {
            Ok(_) | Err(ferrymail_maildir::Error::MailboxExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if !subs.iter().any(|s| s == name) {
            subs.push(name.to_owned());
        }
    }
    listing::save_subscriptions(store.root(), &subs)?;
    std::fs::write(&marker, b"")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_sets() {
        assert_eq!(compact_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(compact_set(&[4]), "4");
        assert_eq!(compact_set(&[]), "");
    }
}
