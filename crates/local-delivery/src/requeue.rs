//! Handing a message back to the queue for relaying: remote alias targets, `.forward`
//! addresses and Sieve `redirect`. The copy goes in through the spool's maildrop (the same door
//! sendmail uses, writable by any local user, so this works from a per-user child too) with a
//! `Delivered-To:` line for the address it was addressed to, so a forwarding loop through
//! another server comes back with it and is refused here. Messages delivery writes itself
//! (Sieve vacation replies and rejections) take the same door with the null sender.

use std::path::{Path, PathBuf};

use ferrymail_spool::{ClientInfo, Envelope, Maildrop, Recipient, Source};

use crate::error::DeliveryError;

pub struct Requeue {
    spool_dir: PathBuf,
    wake_socket: PathBuf,
}

impl Requeue {
    pub fn new(spool_dir: &Path, wake_socket: &Path) -> Requeue {
        Requeue {
            spool_dir: spool_dir.to_owned(),
            wake_socket: wake_socket.to_owned(),
        }
    }

    /// Queues one copy for all `to`; only an `Ok` means the copy is durably queued.
    pub fn submit(
        &self,
        sender: Option<&str>,
        to: &[String],
        delivered_to: &str,
        msg: &[u8],
    ) -> Result<String, DeliveryError> {
        self.enqueue(sender, to, Some(delivered_to), msg)
    }

    fn enqueue(
        &self,
        sender: Option<&str>,
        to: &[String],
        delivered_to: Option<&str>,
        msg: &[u8],
    ) -> Result<String, DeliveryError> {
        let mut utf8 = false;
        for a in to {
            utf8 |= !a.is_ascii();
            if let Err(problem) = ferrymail_spool::validate_address(a, true) {
                tracing::warn!(address = %a, problem, "cannot forward to an invalid address");
                return Err(DeliveryError::InvalidAddress(a.clone()));
            }
        }
        let drop =
            Maildrop::open(&self.spool_dir).map_err(|e| DeliveryError::Requeue(e.to_string()))?;
        let client = ClientInfo {
            protocol: "local".into(),
            ..ClientInfo::default()
        };
        let env = Envelope::new(
            sender.map(str::to_owned),
            to.iter().map(Recipient::new).collect(),
            client,
            Source::Local,
        );
        let mut env = env;
        env.smtputf8 = utf8;
        let mut copy = Vec::with_capacity(msg.len() + 64);
        if let Some(d) = delivered_to {
            let d: String = d.chars().filter(|c| !c.is_control()).collect();
            copy.extend_from_slice(format!("Delivered-To: {d}\r\n").as_bytes());
        }
        copy.extend_from_slice(msg);
        let id = drop
            .submit(env, &copy)
            .map_err(|e| DeliveryError::Requeue(e.to_string()))?;
        ferrymail_spool::notify_maildrop(&self.wake_socket);
        tracing::info!(maildrop_id = %id, to = ?to, "handed back to the queue for relaying");
        Ok(id.to_string())
    }

    /// Queues a message written here (an auto-reply) from `<>` to one address.
    pub fn submit_generated(&self, to: &str, msg: &[u8]) -> Result<String, DeliveryError> {
        self.enqueue(None, &[to.to_string()], None, msg)
    }
}
