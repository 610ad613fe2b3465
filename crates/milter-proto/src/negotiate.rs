//! Option negotiation: what we offer (everything Postfix offers in protocol version 6, except
//! sending rejected recipients), and what the milter's answer leaves us with.

use crate::macros::MacroLists;
use crate::response::{ProtocolError, Response};
use crate::wire::{action, proto, Command, VERSION};

/// Every modification we can apply.
pub const OFFERED_ACTIONS: u32 = action::ADDHDRS
    | action::CHGBODY
    | action::ADDRCPT
    | action::DELRCPT
    | action::CHGHDRS
    | action::QUARANTINE
    | action::CHGFROM
    | action::ADDRCPT_PAR
    | action::SETSYMLIST;

/// Every step the milter may leave out or not answer. `RCPT_REJ` is not offered: recipients
/// we refuse never reach the milters.
pub const OFFERED_PROTOCOL: u32 = proto::NOCONNECT
    | proto::NOHELO
    | proto::NOMAIL
    | proto::NORCPT
    | proto::NOBODY
    | proto::NOHDRS
    | proto::NOEOH
    | proto::NR_HDR
    | proto::NOUNKNOWN
    | proto::NODATA
    | proto::SKIP
    | proto::NR_CONN
    | proto::NR_HELO
    | proto::NR_MAIL
    | proto::NR_RCPT
    | proto::NR_DATA
    | proto::NR_UNKN
    | proto::NR_EOH
    | proto::NR_BODY
    | proto::HDR_LEADSPC;

/// The first packet of every milter connection.
pub fn offer() -> Command<'static> {
    Command::OptNeg {
        version: VERSION,
        actions: OFFERED_ACTIONS,
        protocol: OFFERED_PROTOCOL,
    }
}

/// What both sides agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub version: u32,
    /// The actions the milter asked for, limited to those we offered.
    pub actions: u32,
    /// The protocol steps it asked to leave out or not answer, limited to those we offered.
    pub protocol: u32,
    pub macros: MacroLists,
}

impl Negotiated {
    /// Reads the milter's OPTNEG answer. Requests beyond our offer are dropped (a milter
    /// that then uses an action it did not get commits a protocol error); a macro list it
    /// names replaces our default for that stage.
    pub fn from_response(r: Response) -> Result<Negotiated, ProtocolError> {
        let Response::OptNeg {
            version,
            actions,
            protocol,
            symlists,
        } = r
        else {
            return Err(ProtocolError::Unexpected('O'));
        };
        if !(2..=VERSION).contains(&version) {
            return Err(ProtocolError::Version(version));
        }
        let actions = actions & OFFERED_ACTIONS;
        let mut macros = MacroLists::default();
        if actions & action::SETSYMLIST != 0 {
            for (stage, names) in symlists {
                macros.set(stage, names);
            }
        }
        Ok(Negotiated {
            version,
            actions,
            protocol: protocol & OFFERED_PROTOCOL,
            macros,
        })
    }

    pub fn has(&self, protocol_flag: u32) -> bool {
        self.protocol & protocol_flag != 0
    }

    pub fn may(&self, action_flag: u32) -> bool {
        self.actions & action_flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macros::Stage;
    use crate::response::Decoder;

    #[test]
    fn offer_matches_postfix_version_6() {
        let b = offer().to_bytes();
        assert_eq!(&b[..5], &[0, 0, 0, 13, b'O']);
        assert_eq!(&b[5..9], &6u32.to_be_bytes());
        assert_eq!(&b[9..13], &0x1ffu32.to_be_bytes());
        // All of 0x1fffff but RCPT_REJ (0x800).
        assert_eq!(&b[13..17], &0x1ff7ffu32.to_be_bytes());
    }

    #[test]
    fn answer_is_limited_to_the_offer_and_sets_symbol_lists() {
        let mut p = vec![0, 0, 0, 0, b'O'];
        p.extend_from_slice(&6u32.to_be_bytes());
        p.extend_from_slice(&(0x1ffu32 | 0x4000_0000).to_be_bytes());
        p.extend_from_slice(&(proto::NOHELO | proto::RCPT_REJ).to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(b"{tls_version} j\0");
        p.extend_from_slice(&5u32.to_be_bytes());
        p.extend_from_slice(b"{rcpt_addr}\0");
        let len = (p.len() - 4) as u32;
        p[..4].copy_from_slice(&len.to_be_bytes());
        let mut d = Decoder::new(1024);
        d.feed(&p);
        let n = Negotiated::from_response(d.packet().unwrap().unwrap()).unwrap();
        assert_eq!(n.actions, 0x1ff);
        assert_eq!(n.protocol, proto::NOHELO);
        assert_eq!(n.macros.names(Stage::Helo), ["{tls_version}", "j"]);
        assert_eq!(n.macros.names(Stage::Eom), ["{rcpt_addr}"]);
        assert_eq!(n.macros.names(Stage::Data), ["i"]);
    }

    #[test]
    fn newer_versions_and_other_replies_are_refused() {
        let r = Response::OptNeg {
            version: 7,
            actions: 0,
            protocol: 0,
            symlists: vec![],
        };
        assert_eq!(Negotiated::from_response(r), Err(ProtocolError::Version(7)));
        assert!(Negotiated::from_response(Response::Continue).is_err());
    }
}
