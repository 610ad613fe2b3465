//! The tokio shell around one [`Session`]: reads lines and message data, writes replies in
//! batches (PIPELINING: replies are flushed only when no more input is already buffered, or
//! before anything that waits), and does the work the session asks for (TLS handshake,
//! password checks on a blocking thread, spool writes).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Role;
use ferrymail_net::auth_throttle::{AuthThrottle, LoginCheck};
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::server::{Admission, ConnInfo};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_smtp::{DataDecoder, Reply};
use ferrymail_spool::{Envelope, Spool};
use ferrymail_users::UserDb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::complete::HeaderCompletion;
use crate::metrics::{self, Outcome};
use crate::milter::Chain;
use crate::policy::Policy;
use crate::rate::RateLimiter;
use crate::replies;
use crate::screen::{ClientScreen, Screener};
use crate::session::{ClientFacts, Output, Session, SessionConfig};
use crate::sink::Sink;
use ferrymail_net::rdns::ClientName;

const READ_BUFFER: usize = 16 * 1024;

#[path = "conn_milter.rs"]
mod milter_hooks;
#[path = "screen/shell.rs"]
mod screen_shell;

/// What every connection shares.
pub struct Shared {
    /// Session settings per role (the role is filled in per listener).
    pub session: SessionConfig,
    pub policy: Arc<Policy>,
    /// Submission rate limits, one budget per login and address for the whole process.
    pub rate: Arc<RateLimiter>,
    pub userdb: UserDb,
    pub spool: Spool,
    pub tls: Option<TlsStore>,
    pub throttle: AuthThrottle,
    pub wake_socket: Arc<Path>,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub plaintext_auth_on_loopback: bool,
    /// Trusted clients skip the per-address login back-off, like the per-address connection
    /// limit.
    pub exempt_trusted: bool,
    /// Soft shutdown: idle sessions are closed with 421 at their next wait for a command.
    pub shutdown: Shutdown,
    /// Hard stop (end of the grace period): every session is closed with 421 now.
    pub hard_stop: Shutdown,
    /// Inbound SPF/DKIM/DMARC/ARC checks (`mailauth.verify`); None when off.
    pub verifier: Option<Arc<ferrymail_mailauth::Verifier>>,
    /// The `mx` role's defenses (`[smtpd.screen]`); None when all are off.
    pub screener: Option<Arc<Screener>>,
    /// `smtpd.milters`, in order.
    pub milters: Vec<Arc<ferrymail_config::Milter>>,
    /// Where the milters' client names are looked up, and for how long at most
    /// (`smtpd.client_name_timeout`); None when there are no milters or the lookup is off.
    pub client_names: Option<(ferrymail_net::dns::TokioResolver, Duration)>,
}

/// Why a connection ended early.
enum End {
    Closed,
}

type Step<T> = Result<T, End>;

pub async fn handle(tcp: TcpStream, info: ConnInfo, admission: Admission, shared: Arc<Shared>) {
    let host = shared.session.hostname.clone();
    let _guard = match admission {
        Ok(g) => g,
        Err(_) => {
            let mut tcp = tcp;
            let _ = tcp.write_all(&replies::busy(&host).to_bytes()).await;
            let _ = tcp.shutdown().await;
            return;
        }
    };
    let mut stream = MaybeTls::Plain(tcp);
    let mut tls_desc = None;
    if info.role.implicit_tls() {
        let Some(tls) = &shared.tls else {
            tracing::warn!("implicit TLS listener without a certificate");
            return;
        };
        match tokio::time::timeout(shared.command_timeout, stream.upgrade(&tls.acceptor())).await {
            Ok(Ok(())) => tls_desc = stream.tls_description(),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        }
    }
    let mut cfg = shared.session.clone();
    cfg.role = info.role;
    cfg.tls_available = shared.tls.is_some();
    let facts = ClientFacts {
        addr: info.peer_ip(),
        trusted: info.trusted,
        plaintext_auth_ok: shared.plaintext_auth_on_loopback && info.is_loopback(),
    };
    let screen = match &shared.screener {
        Some(s) if info.role == Role::Mx && !info.trusted => Some(s.start(info.peer_ip())),
        _ => None,
    };
    let mut session = Session::new(Arc::new(cfg), shared.policy.clone(), facts, tls_desc)
        .with_rate_limiter(shared.rate.clone());
    session.screen_recipients(screen.is_some());
    let mut conn = Conn {
        reader: BufReader::with_capacity(READ_BUFFER, stream),
        out: Vec::with_capacity(1024),
        session,
        shared: shared.clone(),
        info,
        sink: None,
        auth_buf: None,
        completion: None,
        shutdown: shared.shutdown.clone(),
        hard_stop: shared.hard_stop.clone(),
        screen,
        milters: None,
        milter_line: Vec::new(),
        client_name: ClientName::default(),
    };
    conn.run().await;
}

struct Conn {
    reader: BufReader<MaybeTls>,
    out: Vec<u8>,
    session: Session,
    shared: Arc<Shared>,
    info: ConnInfo,
    sink: Option<Sink>,
    /// The message held back for inbound authentication: DKIM needs the whole body and the
    /// verdict's Authentication-Results header goes in front of it, so it reaches the spool
    /// only once checked. Bounded by the SIZE limit (the decoder stops storing beyond it).
    auth_buf: Option<Vec<u8>>,
    /// Adds a missing Date/Message-ID to a submitted message on its way to the spool.
    completion: Option<HeaderCompletion>,
    shutdown: Shutdown,
    hard_stop: Shutdown,
    screen: Option<ClientScreen>,
    /// This connection's milters, if its role has any.
    milters: Option<Chain>,
    /// The command line the milters are asked about (their MAIL and RCPT arguments).
    milter_line: Vec<u8>,
    /// The client's name as the milters are told it (looked up only for them).
    client_name: ClientName,
}

impl Conn {
    async fn run(&mut self) {
        tracing::debug!("session start");
        // The greeting test comes first: a client it turns away never reaches the milters,
        // as Postfix's postscreen keeps it from smtpd.
        if self.delay_greeting().await.is_ok() {
            self.milter_connect().await;
            let greeting = self.session.greeting();
            self.queue(&greeting);
            let _ = self.serve().await;
        }
        let _ = self.flush().await;
        let _ = self.reader.get_mut().shutdown().await;
        if let Some(sink) = self.sink.take() {
            sink.abort().await;
        }
        self.milter_quit().await;
        tracing::debug!("session end");
    }

    fn queue(&mut self, r: &Reply) {
        r.write_to(&mut self.out);
    }

    async fn flush(&mut self) -> Step<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let w = self.reader.get_mut();
        let r = tokio::time::timeout(self.shared.command_timeout, async {
            w.write_all(&self.out).await?;
            w.flush().await
        })
        .await;
        self.out.clear();
        match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Closed),
        }
    }

    /// Flushes replies unless another complete pipelined command is already waiting
    /// (RFC 2920 §3.1: the server must not wait for input with replies unsent).
    async fn flush_if_idle(&mut self) -> Step<()> {
        if !self.reader.buffer().contains(&b'\n') {
            self.flush().await
        } else {
            Ok(())
        }
    }

    async fn serve(&mut self) -> Step<()> {
        let mut line = Vec::with_capacity(512);
        loop {
            self.flush_if_idle().await?;
            let limit = self.session.line_limit();
            let timeout = self.shared.command_timeout;
            let mut shutdown = self.shutdown.clone();
            let mut hard_stop = self.hard_stop.clone();
            let buffered = !self.reader.buffer().is_empty();
            let read = tokio::select! {
                biased;
                _ = hard_stop.wait() => None,
                // A command already waiting is still answered; only an idle session is closed.
                _ = shutdown.wait(), if !buffered => None,
                r = tokio::time::timeout(timeout, read_line(&mut self.reader, &mut line, limit)) => Some(r),
            };
            let outputs = match read {
                None => {
                    self.queue(&replies::shutting_down(&self.session.config().hostname));
                    return Err(End::Closed);
                }
                Some(Err(_)) => {
                    tracing::info!("command timeout");
                    self.queue(&replies::timeout(&self.session.config().hostname));
                    return Err(End::Closed);
                }
                Some(Ok(Err(e))) => {
                    tracing::debug!(error = %e, "read failed");
                    return Err(End::Closed);
                }
                Some(Ok(Ok(Line::Eof))) => {
                    tracing::debug!("client disconnected");
                    return Err(End::Closed);
                }
                Some(Ok(Ok(Line::TooLong))) => self.session.on_line_too_long(),
                Some(Ok(Ok(Line::Complete))) => {
                    if self.milters.is_some() {
                        self.milter_line.clone_from(&line);
                    }
                    self.session.on_line(&line)
                }
            };
            self.process(outputs).await?;
            self.milter_sync().await;
        }
    }

    async fn process(&mut self, outputs: Vec<Output>) -> Step<()> {
        let mut todo: VecDeque<Output> = outputs.into();
        while let Some(o) = todo.pop_front() {
            match o {
                Output::Reply(r) => {
                    if r.code >= 400 {
                        tracing::info!(reply = %r, "refused");
                    }
                    self.queue(&r)
                }
                Output::Close => {
                    self.flush().await?;
                    return Err(End::Closed);
                }
                Output::Milter { stage, accepted } => {
                    let line = std::mem::take(&mut self.milter_line);
                    let refused = self.milter_check(stage, &line).await;
                    self.milter_line = line;
                    match refused {
                        None => self.queue(&accepted),
                        Some(r) => {
                            self.session.milter_refused(stage);
                            self.queue(&r);
                            todo.clear();
                            // A milter's 421 (SHUTDOWN) ends the connection, as 421 must.
                            if r.code == 421 {
                                self.flush().await?;
                                return Err(End::Closed);
                            }
                        }
                    }
                }
                Output::StartTls => self.start_tls().await?,
                Output::Authenticate(creds) => {
                    let r = self.authenticate(creds).await?;
                    todo.extend(r);
                }
                Output::ReceiveData => {
                    let r = self.receive_data().await?;
                    todo.extend(r);
                }
                Output::ReceiveChunk { size, keep } => {
                    let r = self.receive_chunk(size, keep).await?;
                    todo.extend(r);
                }
                Output::Commit(env) => {
                    let r = self.commit(*env).await;
                    todo.extend(r);
                }
                Output::ScreenRecipient { sender, recipient } => {
                    let r = self.screen_recipient(sender.as_deref(), &recipient).await?;
                    todo.extend(r);
                }
                Output::AbortMessage => {
                    metrics::message(self.info.role, Outcome::Rejected);
                    if let Some(s) = self.sink.take() {
                        s.abort().await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn start_tls(&mut self) -> Step<()> {
        let Some(tls) = self.shared.tls.clone() else {
            return Err(End::Closed);
        };
        self.flush().await?;
        // CVE-2011-0411: anything pipelined after STARTTLS arrived in plaintext and must not
        // be read as if it came over TLS. Rebuilding the reader drops its buffer.
        let dropped = self.reader.buffer().len();
        if dropped > 0 {
            tracing::warn!(bytes = dropped, "discarding plaintext sent after STARTTLS");
        }
        let reader = std::mem::replace(&mut self.reader, BufReader::new(MaybeTls::Upgrading));
        let mut stream = reader.into_inner();
        let r = tokio::time::timeout(self.shared.command_timeout, stream.upgrade(&tls.acceptor()))
            .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(error = %e, "STARTTLS handshake failed");
                return Err(End::Closed);
            }
            Err(_) => {
                tracing::info!("STARTTLS handshake timed out");
                return Err(End::Closed);
            }
        }
        let desc = stream.tls_description().unwrap_or_else(|| "TLS".into());
        tracing::debug!(tls = %desc, "STARTTLS done");
        self.reader = BufReader::with_capacity(READ_BUFFER, stream);
        self.session.tls_started(desc);
        Ok(())
    }

    async fn authenticate(&mut self, creds: ferrymail_net::sasl::Credentials) -> Step<Vec<Output>> {
        self.flush().await?;
        let ip = self.info.peer_ip();
        let exempt = self.info.trusted && self.shared.exempt_trusted;
        let (throttle, db) = (self.shared.throttle.clone(), self.shared.userdb.clone());
        if throttle.master_login() == Some(creds.authcid.as_str()) {
            return self.authenticate_peer(creds).await;
        }
        let login = creds.authcid;
        let mut hard_stop = self.hard_stop.clone();
        // The check may first wait out the address's back-off: a shutdown does not wait for it.
        let checked = tokio::select! {
            _ = hard_stop.wait() => None,
            r = throttle.verify(&db, ip, exempt, &login, creds.password) => Some(r),
        };
        let Some(checked) = checked else {
            self.queue(&replies::shutting_down(&self.session.config().hostname));
            return Err(End::Closed);
        };
        let result = match checked {
            LoginCheck::Accepted(account) => {
                tracing::info!(user = %account.login(), "authenticated");
                Ok(account.login().to_owned())
            }
            LoginCheck::Refused { reason, delay } => {
                tracing::info!(user = %login, %reason, "authentication failed");
                ferrymail_metrics::conn::auth_failed(ferrymail_metrics::conn::Protocol::Smtp);
                if !exempt {
                    self.sleep_or_stop(delay).await?;
                }
                Err(())
            }
            LoginCheck::Broken => {
                tracing::warn!("password check task failed");
                Err(())
            }
        };
        Ok(self.session.auth_result(result))
    }

    /// Another host of the cluster, as the cluster login: a relay client that is no user.
    async fn authenticate_peer(
        &mut self,
        creds: ferrymail_net::sasl::Credentials,
    ) -> Step<Vec<Output>> {
        let ip = self.info.peer_ip();
        let throttle = self.shared.throttle.clone();
        let mut hard_stop = self.hard_stop.clone();
        let checked = tokio::select! {
            _ = hard_stop.wait() => None,
            r = throttle.verify_cluster_peer(ip, false, creds) => r,
        };
        match checked {
            Some(Ok(())) => Ok(self.session.cluster_peer_result(true)),
            Some(Err(delay)) => {
                ferrymail_metrics::conn::auth_failed(ferrymail_metrics::conn::Protocol::Smtp);
                self.sleep_or_stop(delay).await?;
                Ok(self.session.cluster_peer_result(false))
            }
            None => {
                self.queue(&replies::shutting_down(&self.session.config().hostname));
                Err(End::Closed)
            }
        }
    }

    async fn sleep_or_stop(&mut self, d: Duration) -> Step<()> {
        let mut hard_stop = self.hard_stop.clone();
        tokio::select! {
            _ = hard_stop.wait() => {
                self.queue(&replies::shutting_down(&self.session.config().hostname));
                Err(End::Closed)
            }
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    async fn start_message(&mut self) {
        if self.sink.is_some() {
            return;
        }
        let (mut sink, r) = Sink::open(&self.shared.spool).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot create spool file");
        }
        self.completion = None;
        if let Some(id) = sink.id() {
            let now = ferrymail_spool::unix_now();
            let header = self.session.received_header(id.as_str(), now);
            if let Err(e) = sink.write(header.as_bytes()).await {
                tracing::error!(error = %e, "spool write failed");
            }
            let cfg = self.session.config();
            if matches!(cfg.role, Role::Submission | Role::Submissions) {
                self.completion = Some(HeaderCompletion::new(
                    format!("<{}@{}>", id.as_str(), cfg.hostname),
                    ferrymail_smtp::dates::rfc5322(i64::try_from(now).unwrap_or(0)),
                ));
            }
        }
        self.sink = Some(sink);
        self.auth_buf = match (&self.shared.verifier, self.session.auth_check_facts()) {
            (Some(_), Some(_)) => Some(Vec::new()),
            _ => None,
        };
    }

    /// Message bytes go to the authentication buffer when one is active, else (through
    /// header completion, for submissions) to the spool.
    async fn store(&mut self, data: &[u8]) {
        if let Some(buf) = self.auth_buf.as_mut() {
            buf.extend_from_slice(data);
            return;
        }
        // Taken out while writing, so what it returns can borrow it without a copy.
        match self.completion.take() {
            Some(mut c) => {
                self.write_sink(&c.feed(data)).await;
                self.completion = Some(c);
            }
            None => self.write_sink(data).await,
        }
    }

    async fn write_sink(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            if let Err(e) = sink.write(data).await {
                tracing::error!(error = %e, "spool write failed");
            }
        }
    }

    /// The message is complete: what header completion still holds goes to the spool.
    async fn finish_completion(&mut self) {
        if let Some(mut c) = self.completion.take() {
            let rest = c.finish();
            self.write_sink(&rest).await;
        }
    }

    /// Runs inbound authentication on a buffered message: a DMARC reject gives the reply to
    /// send; otherwise the Authentication-Results header and the message (with forged
    /// results for our authserv-id removed) are written to the spool.
    async fn authenticate_buffered(&mut self) -> Option<ferrymail_smtp::Reply> {
        let buf = self.auth_buf.take()?;
        let (verifier, (ip, helo, sender)) = match (
            self.shared.verifier.clone(),
            self.session.auth_check_facts(),
        ) {
            (Some(v), Some(f)) => (v, f),
            _ => {
                self.store(&buf).await;
                return None;
            }
        };
        let (clean, removed) =
            ferrymail_mailauth::strip_forged_results(&buf, verifier.authserv_id());
        if removed > 0 {
            tracing::info!(removed, "removed forged Authentication-Results headers");
        }
        let results = verifier.verify(&clean, ip, &helo, &sender).await;
        tracing::info!(spf = ?results.spf, dmarc = ?results.dmarc, reject = results.reject, "authentication");
        if results.reject {
            let text = results
                .reject_text()
                .unwrap_or_else(|| "Message rejected by DMARC policy".into());
            return Some(ferrymail_smtp::Reply::new(
                ferrymail_mailauth::REJECT_CODE,
                ferrymail_mailauth::REJECT_ENHANCED,
                text,
            ));
        }
        let clean = clean.into_owned();
        self.store(results.header.as_bytes()).await;
        self.store(&clean).await;
        None
    }

    /// Waits for more input (flushing replies first if none is buffered), bounded by
    /// `data_timeout` and the hard stop. Returns the number of bytes available (0 = EOF).
    async fn fill(&mut self) -> Step<usize> {
        if self.reader.buffer().is_empty() {
            self.flush().await?;
        } else {
            return Ok(self.reader.buffer().len());
        }
        let mut hard_stop = self.hard_stop.clone();
        let timeout = self.shared.data_timeout;
        let r = tokio::select! {
            biased;
            _ = hard_stop.wait() => None,
            r = tokio::time::timeout(timeout, self.reader.fill_buf()) => Some(r.map(|r| r.map(|b| b.len()))),
        };
        match r {
            None => {
                self.queue(&replies::shutting_down(&self.session.config().hostname));
                Err(End::Closed)
            }
            Some(Err(_)) => {
                tracing::info!("data timeout");
                self.queue(&replies::timeout(&self.session.config().hostname));
                Err(End::Closed)
            }
            Some(Ok(Err(e))) => {
                tracing::debug!(error = %e, "read failed during message data");
                Err(End::Closed)
            }
            Some(Ok(Ok(n))) => Ok(n),
        }
    }

    async fn receive_data(&mut self) -> Step<Vec<Output>> {
        self.start_message().await;
        let cfg = self.session.config();
        let mut decoder = DataDecoder::new(
            self.session.line_ending_policy(),
            cfg.max_message_size,
            cfg.max_text_line,
        );
        let mut decoded = Vec::with_capacity(READ_BUFFER);
        loop {
            if self.fill().await? == 0 {
                tracing::info!("client disconnected during DATA");
                return Err(End::Closed);
            }
            let input = self.reader.buffer();
            let done = decoder.feed(input, &mut decoded);
            let used = done.unwrap_or(input.len());
            self.reader.consume(used);
            if !decoded.is_empty() {
                self.store(&decoded).await;
                decoded.clear();
            }
            if done.is_some() {
                break;
            }
        }
        let outcome = decoder.outcome();
        // Only a message the session will accept is worth authenticating.
        if self.session.content_acceptable(&outcome) {
            if let Some(reply) = self.authenticate_buffered().await {
                return Ok(self.session.data_refused(reply));
            }
        }
        self.auth_buf = None;
        self.finish_completion().await;
        let stored = self.sink.as_ref().is_some_and(Sink::is_ok);
        Ok(self.session.data_received(&outcome, stored))
    }

    async fn receive_chunk(&mut self, size: u64, keep: bool) -> Step<Vec<Output>> {
        if keep {
            self.start_message().await;
        }
        let mut remaining = size;
        let mut chunk = Vec::new();
        while remaining > 0 {
            if self.fill().await? == 0 {
                tracing::info!("client disconnected during BDAT");
                return Err(End::Closed);
            }
            let input = self.reader.buffer();
            let take = input
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            if keep {
                chunk.clear();
                chunk.extend_from_slice(input.get(..take).unwrap_or_default());
            }
            self.reader.consume(take);
            remaining -= take as u64;
            if keep {
                self.store(&chunk).await;
            }
        }
        if keep && self.session.chunk_is_last() {
            if let Some(reply) = self.authenticate_buffered().await {
                return Ok(self.session.data_refused(reply));
            }
            self.finish_completion().await;
        }
        let stored = !keep || self.sink.as_ref().is_some_and(Sink::is_ok);
        Ok(self.session.chunk_received(stored))
    }

    async fn commit(&mut self, mut env: Envelope) -> Vec<Output> {
        let mut hold = None;
        if self.milters.is_some() {
            match self.milter_end(&mut env).await {
                milter_hooks::MilterEnd::Queue { hold: h } => hold = h,
                milter_hooks::MilterEnd::Refuse(r) => {
                    // A 421 (a milter's SHUTDOWN) ends the connection, as 421 must.
                    let close = r.code == 421;
                    let mut out = self.session.data_refused(r);
                    if close {
                        out.push(Output::Close);
                    }
                    return out;
                }
                milter_hooks::MilterEnd::Discard => {
                    let id = self.sink.take().and_then(|s| {
                        let id = s.id();
                        drop(s);
                        id
                    });
                    tracing::info!("discarded by milter");
                    metrics::message(self.info.role, Outcome::Discarded);
                    return self.session.committed(id.ok_or(()));
                }
                milter_hooks::MilterEnd::Failed => {}
            }
        }
        let Some(sink) = self.sink.take().filter(Sink::is_ok) else {
            metrics::message(self.info.role, Outcome::Failed);
            return self.session.committed(Err(()));
        };
        let sender = env.sender.clone().unwrap_or_default();
        let nrcpt = env.recipients.len();
        let committed = match hold {
            None => sink.commit(env, self.shared.wake_socket.clone()).await,
            Some(_) => sink.commit_held(env).await,
        };
        match committed {
            Ok(qid) => {
                tracing::info!(qid = %qid, from = %sender, nrcpt, "queued");
                metrics::message(self.info.role, Outcome::Accepted);
                self.session.committed(Ok(qid))
            }
            Err(e) => {
                tracing::error!(error = %e, "spool commit failed");
                metrics::message(self.info.role, Outcome::Failed);
                self.session.committed(Err(()))
            }
        }
    }
}
