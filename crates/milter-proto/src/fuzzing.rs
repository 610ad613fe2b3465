//! Feeds arbitrary bytes to the reply path as a milter's answers: negotiation first, then
//! every event in turn. The body of the cargo-fuzz target (`fuzz/`) and of a unit test.
//! Panics on any broken invariant, which is what the fuzzer looks for.

use crate::client::{Client, Event, Step};
use crate::negotiate::Negotiated;
use crate::response::Decoder;

const EVENTS: [Event; 9] = [
    Event::Connect,
    Event::Helo,
    Event::Mail,
    Event::Rcpt,
    Event::Data,
    Event::Header,
    Event::Eoh,
    Event::Body,
    Event::Eom,
];

pub fn replies(data: &[u8]) {
    let max = 4096;
    let mut d = Decoder::new(max);
    // Fed in pieces, as a socket delivers them.
    for piece in data.chunks(7) {
        d.feed(piece);
    }
    let mut client: Option<Client> = None;
    let mut event = 0usize;
    loop {
        let r = match d.packet() {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        let Some(c) = client.as_mut() else {
            match Negotiated::from_response(r) {
                Ok(n) => {
                    assert!(n.actions & !crate::negotiate::OFFERED_ACTIONS == 0);
                    client = Some(Client::new(n));
                }
                Err(_) => return,
            }
            continue;
        };
        let ev = EVENTS
            .get(event % EVENTS.len())
            .copied()
            .unwrap_or(Event::Eom);
        match c.on_response(ev, r) {
            Ok(Step::More) | Ok(Step::Body(_)) => {}
            Ok(Step::Done(v)) => {
                if let crate::client::Verdict::Refuse(reply) = v {
                    assert!((400..600).contains(&reply.code));
                }
                event += 1;
                if ev == Event::Eom {
                    let _ = c.take_edits();
                    c.message_done();
                }
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            super::replies(&data);
        }
        // A valid negotiation followed by garbage.
        let mut data = vec![0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0, 0, 0];
        data.extend_from_slice(&[
            0, 0, 0, 1, b'c', 0, 0, 0, 2, b'y', 0, 0xff, 0xff, 0xff, 0xff,
        ]);
        super::replies(&data);
    }
}
