//! LIST, plain (RFC 3501) or extended (RFC 5258 selection and return options, RFC 5819
//! LIST-STATUS, RFC 6154 SPECIAL-USE).

use super::{PResult, Parser};
use crate::command::*;
use crate::types::*;

impl Parser<'_> {
    /// LIST, plain (RFC 3501) or extended (RFC 5258: selection options, several patterns,
    /// return options). Only the plain form yields [`Command::List`], so its replies stay
    /// exactly as before.
    pub(super) fn list(&mut self) -> PResult<Command> {
        self.sp()?;
        let mut extended = false;
        let mut select = ListSelect::default();
        if self.eat(b'(') {
            extended = true;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => select.subscribed = true,
                        "REMOTE" => select.remote = true,
                        "RECURSIVEMATCH" => select.recursive_match = true,
                        "SPECIAL-USE" => select.special_use = true,
                        other => return Err(format!("unknown LIST selection option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            // RFC 5258 §3: RECURSIVEMATCH needs another (non-REMOTE) selection option.
            if select.recursive_match && !(select.subscribed || select.special_use) {
                return Err("RECURSIVEMATCH needs another selection option".to_owned());
            }
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if self.eat(b'(') {
            extended = true;
            loop {
                patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.push(self.list_mailbox()?);
        }
        let mut ret = ListReturn::default();
        if self.eat_keyword(" RETURN ") {
            extended = true;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    match self.atom_upper()?.as_str() {
                        "SUBSCRIBED" => ret.subscribed = true,
                        "CHILDREN" => ret.children = true,
                        "SPECIAL-USE" => ret.special_use = true,
                        "STATUS" => {
                            self.sp()?;
                            ret.status = Some(self.status_atts()?);
                        }
                        other => return Err(format!("unknown LIST return option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        if !extended {
            let pattern = patterns.pop().unwrap_or_default();
            return Ok(Command::List { reference, pattern });
        }
        // Selection options imply their return options (RFC 5258 §3, RFC 6154 §3).
        ret.subscribed |= select.subscribed;
        ret.special_use |= select.special_use;
        Ok(Command::ListExtended(Box::new(ListExtended {
            select,
            reference,
            patterns,
            ret,
        })))
    }
}
