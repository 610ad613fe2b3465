//! SIGTERM/SIGINT mean "stop accepting, finish or hand back in-flight work, exit";
//! SIGHUP means "reload config and certificates". Both are turned into channel events so the
//! accept loops and sessions can select on them.

use nix::sys::signal::{SigSet, Signal};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// Cloneable view of "has shutdown started?".
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Resolves once shutdown has begun (immediately if it already has).
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|&v| v).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }
}

/// The sending side, for tests and for daemons that shut down on their own.
#[derive(Clone)]
pub struct ShutdownTrigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

pub fn shutdown_pair() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (
        ShutdownTrigger {
            tx: std::sync::Arc::new(tx),
        },
        Shutdown { rx },
    )
}

fn handled() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    set
}

/// Call first thing in `main`, before any thread exists: SIGTERM, SIGINT and SIGHUP stay
/// pending instead of killing the process until [`install`] is ready for them. Without this a
/// `systemctl stop` that arrives while the daemon is still reading its config or binding its
/// sockets would kill it by signal (a failed unit) instead of a clean exit 0. Threads started
/// afterwards inherit the mask; child processes do not (std resets it on spawn).
pub fn hold() {
    // Cannot fail with a valid set and `how`.
    let _ = handled().thread_block();
}

/// Installs the handlers (inside a tokio runtime). Returns the shutdown view and a stream of
/// reload requests. Releases what [`hold`] held back in the calling thread (and therefore the
/// process: a signal goes to any thread that does not block it), so a signal that arrived
/// during start-up is acted on now, as a clean shutdown.
pub fn install() -> std::io::Result<(Shutdown, mpsc::Receiver<()>)> {
    let (trigger, shutdown) = shutdown_pair();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    handled().thread_unblock().map_err(std::io::Error::from)?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); trigger.trigger(); }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); trigger.trigger(); }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    // A full channel means a reload is already pending: dropping this is fine.
                    let _ = reload_tx.try_send(());
                }
            }
        }
    });
    Ok((shutdown, reload_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_all_waiters() {
        let (t, s) = shutdown_pair();
        let mut a = s.clone();
        let mut b = s.clone();
        assert!(!s.is_triggered());
        t.trigger();
        a.wait().await;
        b.wait().await;
        assert!(s.is_triggered());
    }
}
