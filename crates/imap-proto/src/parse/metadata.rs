//! METADATA (RFC 5464): GETMETADATA with its MAXSIZE and DEPTH options, SETMETADATA.

use super::{PResult, Parser};
use crate::command::Command;
use crate::types::{MetadataDepth, MetadataGet};

impl Parser<'_> {
    /// An entry name: `/private/...` or `/shared/...`, compared in lower case; GETMETADATA
    /// may also name the two roots themselves (`root`), to look below them with DEPTH.
    fn metadata_entry(&mut self, root: bool) -> PResult<String> {
        let raw = self.astring()?;
        let name = String::from_utf8(raw)
            .map_err(|_| "metadata entry names are ASCII".to_owned())?
            .to_ascii_lowercase();
        let is_root = name == "/private" || name == "/shared";
        let below_root = (name.starts_with("/private/") || name.starts_with("/shared/"))
            && !name.ends_with('/')
            && !name.contains("//")
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'%');
        let valid = below_root || (root && is_root);
        if !valid {
            return Err(format!("invalid metadata entry name {name}"));
        }
        Ok(name)
    }

    /// `entry` or `(entry entry ...)`.
    fn metadata_entries(&mut self) -> PResult<Vec<String>> {
        if !self.eat(b'(') {
            return Ok(vec![self.metadata_entry(true)?]);
        }
        let mut out = vec![self.metadata_entry(true)?];
        while !self.eat(b')') {
            self.sp()?;
            out.push(self.metadata_entry(true)?);
        }
        Ok(out)
    }

    pub(super) fn getmetadata(&mut self) -> PResult<Command> {
        self.sp()?;
        let mut get = MetadataGet::default();
        if self.eat(b'(') {
            loop {
                if self.eat_keyword("MAXSIZE ") {
                    get.maxsize = Some(u64::from(self.number()?));
                } else if self.eat_keyword("DEPTH ") {
                    get.depth = if self.eat(b'0') {
                        MetadataDepth::Zero
                    } else if self.eat(b'1') {
                        MetadataDepth::One
                    } else if self.eat_keyword("infinity") {
                        MetadataDepth::Infinity
                    } else {
                        return Err("DEPTH is 0, 1 or infinity".to_owned());
                    };
                } else {
                    return Err("unknown GETMETADATA option".to_owned());
                }
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
            self.sp()?;
        }
        get.mailbox = self.mailbox()?;
        self.sp()?;
        get.entries = self.metadata_entries()?;
        Ok(Command::GetMetadata(get))
    }

    pub(super) fn setmetadata(&mut self) -> PResult<Command> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        self.expect(b'(')?;
        let mut entries = Vec::new();
        loop {
            let name = self.metadata_entry(false)?;
            self.sp()?;
            let value = if self.eat_keyword("NIL") {
                None
            } else {
                Some(self.string()?)
            };
            entries.push((name, value));
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        Ok(Command::SetMetadata { mailbox, entries })
    }
}
