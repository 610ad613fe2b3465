//! Format version 1 of the envelope record, kept so queue files written before REQUIRETLS
//! (format 2) still decode. Only the top-level struct changed; its parts are the current types.

use serde::Deserialize;

use crate::envelope::{BodyType, ClientInfo, DsnParams, Envelope, Recipient, Source};
use crate::id::QueueId;

/// The version 1 envelope: the current one without `require_tls`. Field order is the wire
/// format and must never change.
#[derive(Debug, Deserialize)]
pub(crate) struct EnvelopeV1 {
    id: QueueId,
    sender: Option<String>,
    recipients: Vec<Recipient>,
    arrival: u64,
    client: ClientInfo,
    source: Source,
    dsn: DsnParams,
    body: BodyType,
    smtputf8: bool,
    size: u64,
    attempts: u32,
    next_attempt: u64,
    last_error: Option<String>,
}

impl From<EnvelopeV1> for Envelope {
    fn from(v1: EnvelopeV1) -> Envelope {
        Envelope {
            id: v1.id,
            sender: v1.sender,
            recipients: v1.recipients,
            arrival: v1.arrival,
            client: v1.client,
            source: v1.source,
            dsn: v1.dsn,
            body: v1.body,
            smtputf8: v1.smtputf8,
            size: v1.size,
            attempts: v1.attempts,
            next_attempt: v1.next_attempt,
            last_error: v1.last_error,
            // Version 1 had no REQUIRETLS: such messages never asked for it.
            require_tls: false,
        }
    }
}
