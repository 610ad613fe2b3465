//! The connection shell's side of the milters ([`crate::milter`]): opening them when a client
//! connects, asking them about each accepted command, ABORT when a transaction ends early,
//! the end of message before the spool commit, and QUIT at the end.

use std::path::Path;

use ferrymail_milter::{ClientAddr, Command, Event, Verdict};
use ferrymail_net::rdns::ClientName;
use ferrymail_smtp::Reply;
use ferrymail_spool::Envelope;

use super::Conn;
use crate::milter::content::Decision;
use crate::milter::macros::{bare_address, command_args, Facts};
use crate::milter::{apply, Chain};
use crate::replies;
use crate::session::MilterStage;
use crate::sink::Sink;

/// What the milters made of a message about to be committed.
pub(super) enum MilterEnd {
    /// Queue it (into `hold/` with a quarantine reason).
    Queue {
        hold: Option<String>,
    },
    /// Answer 250 but queue nothing.
    Discard,
    Refuse(Reply),
    /// Reading or rewriting the spool file failed.
    Failed,
}

impl Conn {
    /// Connects the role's milters and tells them about the client. A refusal here is
    /// remembered by the milter and answers every later command, as Postfix does.
    pub(super) async fn milter_connect(&mut self) {
        if self.shared.milters.is_empty() {
            return;
        }
        let mut hard_stop = self.hard_stop.clone();
        let open = Chain::open(&self.shared.milters, self.info.role);
        let opened = tokio::select! {
            c = open => c,
            _ = hard_stop.wait() => None,
        };
        let Some(mut chain) = opened else {
            return;
        };
        self.session.enable_milter_checks();
        let ip = self.info.peer_ip();
        if let Some((resolver, timeout)) = &self.shared.client_names {
            let lookup = ferrymail_net::rdns::client_name(resolver, ip, *timeout);
            self.client_name = tokio::select! {
                n = lookup => n,
                _ = hard_stop.wait() => ClientName::default(),
            };
        }
        let facts = self.milter_facts();
        let addr = ClientAddr::Inet {
            ip,
            port: self.info.peer.port(),
        };
        // A name that does not lead back to the address is "unknown", as in Postfix.
        let cmd = Command::Connect {
            hostname: self.client_name.name(),
            addr: &addr,
        };
        chain.event(Event::Connect, &cmd, &facts).await;
        self.milters = Some(chain);
    }

    fn milter_facts(&self) -> Facts {
        Facts {
            hostname: self.session.config().hostname.clone(),
            local: Some(self.info.local),
            peer: Some(self.info.peer),
            client: self.client_name.clone(),
            helo: self.session.helo_name().map(String::from),
            tls: self.session.tls().map(String::from),
            // Only once the client has authenticated.
            auth_user: self.session.auth_user().map(String::from),
            auth_type: self.session.auth_type().map(String::from),
            queue_id: self
                .sink
                .as_ref()
                .and_then(|s| s.id())
                .map(|id| id.as_str().to_string()),
            mail_addr: None,
            rcpt_addr: None,
        }
    }

    /// Asks the milters about an accepted command; `Some(reply)` if they refuse it.
    pub(super) async fn milter_check(&mut self, stage: MilterStage, line: &[u8]) -> Option<Reply> {
        self.milter_sync().await;
        if stage == MilterStage::Data {
            // The queue id exists from here on (the `i` macro).
            self.start_message().await;
        }
        let mut facts = self.milter_facts();
        let mut hard_stop = self.hard_stop.clone();
        let chain = self.milters.as_mut()?;
        let args = command_args(line);
        let ask = async {
            match stage {
                MilterStage::Helo => {
                    let helo = facts.helo.clone().unwrap_or_default();
                    chain
                        .event(Event::Helo, &Command::Helo(&helo), &facts)
                        .await
                }
                MilterStage::Mail => {
                    facts.mail_addr = args.first().map(|a| bare_address(a));
                    chain
                        .event(Event::Mail, &Command::Mail(&args), &facts)
                        .await
                }
                MilterStage::Rcpt { .. } => {
                    facts.rcpt_addr = args.first().map(|a| bare_address(a));
                    chain
                        .event(Event::Rcpt, &Command::Rcpt(&args), &facts)
                        .await
                }
                MilterStage::Data => chain.event(Event::Data, &Command::Data, &facts).await,
            }
        };
        let verdict = tokio::select! {
            v = ask => v,
            _ = hard_stop.wait() => {
                // Cut off mid-conversation: the milters get no QUIT, the client a 421.
                self.milters = None;
                return Some(replies::shutting_down(&self.session.config().hostname));
            }
        };
        match verdict {
            Verdict::Refuse(r) => {
                if stage == MilterStage::Data {
                    if let Some(s) = self.sink.take() {
                        s.abort().await;
                    }
                }
                Some(r)
            }
            Verdict::Continue | Verdict::Discard => None,
        }
    }

    /// The session's transaction is over but the milters' is not: ABORT.
    pub(super) async fn milter_sync(&mut self) {
        let in_tx = self.session.in_transaction();
        if let Some(chain) = self
            .milters
            .as_mut()
            .filter(|c| c.in_transaction() && !in_tx)
        {
            chain.abort().await;
        }
    }

    /// The end of message, before the commit: the content to each milter in turn, each
    /// one's changes made to `env` and the spool file before the next reads it.
    pub(super) async fn milter_end(&mut self, env: &mut Envelope) -> MilterEnd {
        let facts = self.milter_facts();
        let tmp_dir = self.shared.spool.root().join("tmp");
        let mut hard_stop = self.hard_stop.clone();
        let (Some(chain), Some(sink)) = (self.milters.as_mut(), self.sink.as_mut()) else {
            return MilterEnd::Queue { hold: None };
        };
        tokio::select! {
            end = run_content(chain, sink, env, &facts, &tmp_dir) => {
                chain.content_end();
                end
            }
            _ = hard_stop.wait() => {
                self.milters = None;
                MilterEnd::Refuse(replies::shutting_down(&self.session.config().hostname))
            }
        }
    }

    pub(super) async fn milter_quit(&mut self) {
        if let Some(chain) = self.milters.take() {
            chain.quit().await;
        }
    }
}

async fn run_content(
    chain: &mut Chain,
    sink: &mut Sink,
    env: &mut Envelope,
    facts: &Facts,
    tmp_dir: &Path,
) -> MilterEnd {
    if let Some(d) = chain.content_begin(facts).await {
        return match d {
            Decision::Refuse(r) => MilterEnd::Refuse(r),
            Decision::Discard | Decision::Queue(_) => MilterEnd::Discard,
        };
    }
    // Our Received header is the first field until a milter inserts one above it.
    let mut hidden = Some(0);
    let mut hold = None;
    for i in 0..chain.milter_count() {
        let file = match sink.with_writer(|w| Ok(w.read_back()?)).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the message back for the milters");
                return MilterEnd::Failed;
            }
        };
        let changes = match chain.content(i, &file, hidden, facts, tmp_dir).await {
            Decision::Refuse(r) => return MilterEnd::Refuse(r),
            Decision::Discard => return MilterEnd::Discard,
            Decision::Queue(changes) => changes,
        };
        apply::envelope(env, &changes.envelope);
        if changes.rewrites_content() {
            let (headers, body) = (changes.headers, changes.body);
            let r = sink
                .with_writer(move |w| Ok(apply::rewrite(w, &headers, body, hidden)?))
                .await;
            match r {
                Ok(h) => hidden = h,
                Err(e) => {
                    tracing::error!(error = %e, "applying the milters' changes failed");
                    return MilterEnd::Failed;
                }
            }
        }
        if let Some((milter, reason)) = changes.quarantine {
            tracing::info!(%milter, %reason, "milter quarantined the message");
            hold.get_or_insert(reason);
        }
    }
    if env.recipients.is_empty() {
        tracing::info!("milters removed every recipient");
        return MilterEnd::Discard;
    }
    MilterEnd::Queue { hold }
}
