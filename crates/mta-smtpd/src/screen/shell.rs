//! The connection shell's side of the `mx` role's defenses: the delayed greeting with its
//! pregreet test, and waiting for a recipient's screening verdict. Both waits end at once on
//! shutdown, and the greeting delay as soon as the client leaves, so a screened connection
//! holds its slot no longer than the test needs.

use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

use super::{Conn, End, Step};
use crate::replies;
use crate::session::Output;

/// How the greeting delay ended.
enum Wait {
    /// true: the client waited for the whole delay.
    Over(bool),
    Talked,
    Left,
    Stopped,
}

impl Conn {
    /// postscreen's greeting test: `220-` at once, and the rest of the greeting (sent by the
    /// caller) only after `greet_wait`; a client that talks meanwhile is a pregreeter. Err:
    /// the connection ends here (its last reply is queued).
    pub(super) async fn delay_greeting(&mut self) -> Step<()> {
        let wait = self
            .screen
            .as_ref()
            .map(|s| s.greet_wait())
            .unwrap_or_default();
        if wait.is_zero() {
            return Ok(());
        }
        let host = self.session.config().hostname.clone();
        self.out.extend_from_slice(&replies::greeting_start(&host));
        self.flush().await?;
        let since = Instant::now();
        let (mut shutdown, mut hard_stop) = (self.shutdown.clone(), self.hard_stop.clone());
        let Some(screen) = self.screen.as_mut() else {
            return Ok(());
        };
        let how = tokio::select! {
            biased;
            _ = hard_stop.wait() => Wait::Stopped,
            _ = shutdown.wait() => Wait::Stopped,
            r = self.reader.fill_buf() => match r {
                Ok(b) if !b.is_empty() => Wait::Talked,
                _ => Wait::Left,
            },
            tested = screen.greet_wait_over(since) => Wait::Over(tested),
        };
        match how {
            Wait::Over(tested) => {
                if tested {
                    screen.passed_greeting();
                }
                Ok(())
            }
            Wait::Talked => match screen.pregreeted() {
                Some(drop) => {
                    self.queue(&drop);
                    Err(End::Closed)
                }
                None => Ok(()),
            },
            Wait::Left => {
                tracing::debug!("client left during the greeting delay");
                Err(End::Closed)
            }
            Wait::Stopped => {
                self.queue(&replies::shutting_down(&host));
                Err(End::Closed)
            }
        }
    }

    /// Runs the screening of one recipient and hands its verdict to the session.
    pub(super) async fn screen_recipient(
        &mut self,
        sender: Option<&str>,
        recipient: &str,
    ) -> Step<Vec<Output>> {
        // DNS answers may take a while: the replies so far should not wait for them.
        if self.screen.as_ref().is_some_and(|s| s.may_wait()) {
            self.flush().await?;
        }
        let mut hard_stop = self.hard_stop.clone();
        let Some(screen) = self.screen.as_mut() else {
            return Ok(self.session.recipient_screened(None));
        };
        let verdict = tokio::select! {
            biased;
            _ = hard_stop.wait() => None,
            v = screen.check_recipient(sender, recipient) => Some(v),
        };
        match verdict {
            Some(v) => Ok(self.session.recipient_screened(v)),
            None => {
                self.queue(&replies::shutting_down(&self.session.config().hostname));
                Err(End::Closed)
            }
        }
    }
}
