//! Running `addheader` and `deleteheader` (RFC 5293): each edit is recorded, so later tests
//! see the changed header and the caller can replay the edits on the message.

use super::{index_position, MessageView, Run};
use crate::ext::editheader::{self, HeaderEdit};
use crate::parser::Match;
use crate::SieveError;

impl<M: MessageView> Run<'_, M> {
    pub(super) fn add_header(
        &mut self,
        last: bool,
        name: &str,
        value: &str,
    ) -> Result<(), SieveError> {
        let (name, value) = (self.expand(name), self.expand(value));
        if !editheader::valid_name(&name) {
            return Err(SieveError::Runtime(format!(
                "addheader: bad field name {name:?}"
            )));
        }
        self.edits.push(HeaderEdit::Add {
            name,
            // A value cannot start a new field.
            value: value.replace(['\r', '\n'], " "),
            last,
        });
        Ok(())
    }

    pub(super) fn delete_header(&mut self, m: &Match, name: &str, patterns: Option<&[String]>) {
        let name = self.expand(name);
        // RFC 5293 §6: the trace and loop-prevention fields stay, as in Pigeonhole (which
        // denies the deletion with a warning and goes on).
        if editheader::protected(&name) {
            return;
        }
        let current = self.header(&name);
        let chosen: Vec<usize> = match m.index {
            Some(index) => index_position(current.len(), index).into_iter().collect(),
            None => (0..current.len()).collect(),
        };
        let mut positions = Vec::new();
        for i in chosen {
            let hit = match patterns {
                None => true,
                Some(p) => self.match_values(m, &current[i..=i], p),
            };
            if hit {
                positions.push(i);
            }
        }
        if !positions.is_empty() {
            self.edits.push(HeaderEdit::Delete { name, positions });
        }
    }
}
