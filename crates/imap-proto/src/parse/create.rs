//! CREATE with RFC 4466 create parameters; RFC 6154's `USE (attributes)` is the one known
//! (CREATE-SPECIAL-USE).

use super::{PResult, Parser};
use crate::command::Command;

impl Parser<'_> {
    /// `CREATE mailbox [SP "(" create-param *(SP create-param) ")"]`, after the name.
    pub(super) fn create(&mut self) -> PResult<Command> {
        self.sp()?;
        let name = self.mailbox()?;
        let mut uses = Vec::new();
        if self.eat(b' ') {
            self.expect(b'(')?;
            loop {
                let param = self.atom_upper()?;
                if param != "USE" {
                    return Err(format!("unknown CREATE parameter {param}"));
                }
                self.sp()?;
                self.expect(b'(')?;
                if !self.eat(b')') {
                    loop {
                        self.expect(b'\\')?;
                        let attr = String::from_utf8_lossy(self.atom()?).into_owned();
                        uses.push(format!("\\{attr}"));
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        Ok(Command::Create { name, uses })
    }
}
