//! The tokio layer: the main scheduling loop, the wake-up socket and the control socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::signals::Shutdown;
use ferrymail_queue_control::{encode_response, parse_request, Response, MAX_REQUEST_LINE};
use ferrymail_spool::Wake;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixDatagram, UnixListener};

use crate::runner::Runner;

/// Orphaned files in tmp/ and data/ are removed after this long (writers may be running).
const CLEANUP_AGE: Duration = Duration::from_secs(3600);
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);
/// How long in-flight deliveries get to finish on SIGTERM before we exit anyway (they are
/// retried at the next start; a duplicate is possible, a loss is not).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs until shutdown. `reload` carries SIGHUP.
pub async fn run(
    runner: Arc<Runner>,
    wake: std::os::unix::net::UnixDatagram,
    control: std::os::unix::net::UnixListener,
    mut shutdown: Shutdown,
    mut reload: tokio::sync::mpsc::Receiver<()>,
) -> std::io::Result<()> {
    wake.set_nonblocking(true)?;
    let wake = UnixDatagram::from_std(wake)?;
    control.set_nonblocking(true)?;
    let control = UnixListener::from_std(control)?;

    // Start-up: clear old leftovers, take in maildrop, rebuild/refresh the index.
    startup_scan(&runner, true).await;
    tokio::spawn(wake_loop(Arc::clone(&runner), wake));
    tokio::spawn(control_loop(Arc::clone(&runner), control, shutdown.clone()));
    tokio::spawn(crate::tls_rpt::send::run(
        Arc::clone(&runner),
        shutdown.clone(),
    ));
    ferrymail_net::notify::ready();
    tracing::info!(queued = runner.index.len(), "queue-runner ready");

    let scan_every = runner.config.queue.scan_interval;
    let mut last_scan = Instant::now();
    let mut last_cleanup = Instant::now();
    loop {
        runner.dispatch();
        let until_scan = scan_every.saturating_sub(last_scan.elapsed());
        let sleep = runner.sleep_hint(until_scan).max(Duration::from_millis(20));
        tokio::select! {
            _ = runner.kicked() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = reload.recv() => {
                ferrymail_net::notify::reloading();
                runner.users.reload_if_changed();
                ferrymail_net::notify::ready();
            }
            _ = shutdown.wait() => break,
        }
        if last_scan.elapsed() >= scan_every {
            last_scan = Instant::now();
            let cleanup = last_cleanup.elapsed() >= CLEANUP_EVERY;
            if cleanup {
                last_cleanup = Instant::now();
            }
            startup_scan(&runner, cleanup).await;
        }
    }
    ferrymail_net::notify::stopping();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while runner.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(h) = &runner.handoff {
        let limit = runner.config.queue.handoff_timeout;
        tracing::info!(peer = ?runner.config.queue.handoff_relay, "handing the queue over");
        h.run(&runner, Instant::now() + limit).await;
    }
    runner.index.flush();
    if let Some(r) = &runner.tls_rpt {
        r.flush();
    }
    tracing::info!(abandoned = runner.in_flight(), "queue-runner stopped");
    Ok(())
}

async fn startup_scan(runner: &Arc<Runner>, cleanup: bool) {
    let r = Arc::clone(runner);
    let done = tokio::task::spawn_blocking(move || {
        if cleanup {
            match r.spool.cleanup(CLEANUP_AGE) {
                Ok(rep) if rep.tmp_removed + rep.orphans_removed > 0 => {
                    tracing::info!(
                        tmp = rep.tmp_removed,
                        orphans = rep.orphans_removed,
                        "spool cleanup"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "spool cleanup failed"),
            }
        }
        r.pickup();
        r.reconcile()
    })
    .await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "queue scan failed"),
        Err(e) => tracing::error!(error = %e, "queue scan task failed"),
    }
}

async fn wake_loop(runner: Arc<Runner>, sock: UnixDatagram) {
    let mut buf = [0u8; 64];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "wake-up socket");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match Wake::parse(buf.get(..n).unwrap_or_default()) {
            Wake::Queued(id) => {
                if runner.index.scheduled_at(&id).is_none() {
                    if let Err(e) = runner.index.schedule(&id, 0) {
                        tracing::error!(%id, error = %e, "cannot index new message");
                    }
                }
            }
            Wake::Maildrop => {
                let r = Arc::clone(&runner);
                let _ = tokio::task::spawn_blocking(move || r.pickup()).await;
            }
            Wake::Scan => {}
        }
        runner.kick();
    }
}

async fn control_loop(runner: Arc<Runner>, listener: UnixListener, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => return,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let r = Arc::clone(&runner);
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut rd = BufReader::new(rd);
            let mut line = Vec::new();
            let read = tokio::time::timeout(
                Duration::from_secs(10),
                read_line(&mut rd, &mut line, MAX_REQUEST_LINE),
            )
            .await;
            let resp = match read {
                Ok(Ok(Line::Complete)) | Ok(Ok(Line::Eof)) if !line.is_empty() => {
                    match parse_request(&line) {
                        Ok(req) => {
                            tracing::debug!(?req, "control request");
                            r.control(req).await
                        }
                        Err(e) => Response::error(e),
                    }
                }
                Ok(Ok(Line::TooLong)) => Response::error("request too long"),
                Ok(Ok(_)) => Response::error("empty request"),
                Ok(Err(e)) => Response::error(e.to_string()),
                Err(_) => Response::error("timed out waiting for the request"),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(10),
                wr.write_all(&encode_response(&resp)),
            )
            .await;
        });
    }
}
