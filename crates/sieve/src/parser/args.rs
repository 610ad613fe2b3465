//! The argument shapes of extension commands and tests that do not fit the match-argument
//! parsing of `header`: tagged flags, `set`, `addheader`/`deleteheader`, `date`.

use super::*;

impl Parser<'_> {
    /// Removes the tag `:flag` from `args`, checking its extension is required.
    pub(super) fn take_flag(
        &self,
        args: &mut Vec<Arg>,
        flag: &str,
        cap: &str,
    ) -> Result<bool, SieveError> {
        let Some(i) = args
            .iter()
            .position(|a| matches!(a, Arg::Tag(t, _) if t == flag))
        else {
            return Ok(false);
        };
        if let Arg::Tag(_, line) = args.remove(i) {
            self.require_cap(cap, line)?;
        }
        Ok(true)
    }

    /// `date <header> <date-part> <keys>` / `currentdate <date-part> <keys>` (RFC 5260 §4, §5).
    pub(super) fn date_test(
        &self,
        name: &str,
        m: Match,
        zone: Zone,
        mut lists: Vec<Vec<String>>,
        line: usize,
    ) -> Result<Test, SieveError> {
        let want = if name == "date" { 3 } else { 2 };
        if lists.len() != want || lists[..want - 1].iter().any(|l| l.len() != 1) {
            return Err(self.error_at(line, format!("{name}: wrong arguments")));
        }
        let keys = lists.pop().unwrap_or_default();
        let part = lists.pop().and_then(|mut l| l.pop()).unwrap_or_default();
        if let Zone::Fixed(z) = &zone {
            if date::parse_zone(z).is_none() {
                return Err(self.error_at(line, format!("{name}: bad :zone {z:?}")));
            }
        }
        Ok(match lists.pop().and_then(|mut l| l.pop()) {
            Some(header) => Test::Date {
                m,
                zone,
                header,
                part,
                keys,
            },
            None => Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            },
        })
    }

    /// `addheader [:last] <name> <value>` and `deleteheader [:index n [:last]] [COMPARATOR]
    /// [MATCH-TYPE] <name> [<value-patterns>]` (RFC 5293 §4, §5).
    pub(super) fn edit_header(
        &mut self,
        name: &str,
        depth: usize,
        line: usize,
    ) -> Result<Command, SieveError> {
        if name == "addheader" {
            let mut args = self.args()?;
            let last = self.take_flag(&mut args, "last", "editheader")?;
            let mut strings = Vec::new();
            for a in args {
                match a {
                    Arg::Strings(mut s) if s.len() == 1 => strings.extend(s.pop()),
                    _ => return Err(self.error_at(line, "addheader: expected a name and a value")),
                }
            }
            let [field, value]: [String; 2] = strings
                .try_into()
                .map_err(|_| self.error_at(line, "addheader: expected a name and a value"))?;
            if !field.contains("${") && !editheader::valid_name(&field) {
                return Err(self.error_at(line, format!("addheader: bad field name {field:?}")));
            }
            return Ok(Command::AddHeader {
                last,
                name: field,
                value,
            });
        }
        // deleteheader takes the match arguments of `header`.
        match self.named_test(name.to_string(), line, depth)? {
            Test::Header { m, headers, keys } if headers.len() == 1 => Ok(Command::DeleteHeader {
                m,
                name: headers.concat(),
                // The grammar has no empty string list: empty means none were given.
                patterns: (!keys.is_empty()).then_some(keys),
            }),
            Test::Header { .. } => Err(self.error_at(line, "deleteheader: one field name")),
            _ => Err(self.error_at(line, "deleteheader: bad arguments")),
        }
    }

    /// Removes `:flags <string-list>` (RFC 5232 §5) from `args`.
    pub(super) fn take_flags(
        &self,
        args: &mut Vec<Arg>,
    ) -> Result<Option<Vec<String>>, SieveError> {
        let Some(i) = args
            .iter()
            .position(|a| matches!(a, Arg::Tag(t, _) if t == "flags"))
        else {
            return Ok(None);
        };
        let line = match args.remove(i) {
            Arg::Tag(_, line) => line,
            _ => self.line(),
        };
        self.require_cap("imap4flags", line)?;
        if i < args.len() {
            if let Arg::Strings(s) = args.remove(i) {
                return Ok(Some(s));
            }
        }
        Err(self.error_at(line, ":flags needs a string list"))
    }

    /// `set [modifiers] <name> <value>;` (RFC 5229 §4).
    pub(super) fn set(&mut self, line: usize) -> Result<Command, SieveError> {
        let mut modifiers: Vec<Modifier> = Vec::new();
        let mut strings = Vec::new();
        for a in self.args()? {
            match a {
                Arg::Tag(t, tl) => {
                    let m = Modifier::parse(&t)
                        .ok_or_else(|| self.error_at(tl, format!("set: unknown tag :{t}")))?;
                    if modifiers.iter().any(|o| o.precedence() == m.precedence()) {
                        return Err(self.error_at(tl, "set: two modifiers of equal precedence"));
                    }
                    modifiers.push(m);
                }
                Arg::Strings(mut s) if s.len() == 1 => strings.extend(s.pop()),
                _ => return Err(self.error_at(line, "set: expected a name and a value")),
            }
        }
        let [name, value]: [String; 2] = strings
            .try_into()
            .map_err(|_| self.error_at(line, "set: expected a name and a value"))?;
        let global = variables::global_name(&name) && self.required.iter().any(|r| r == "include");
        if !variables::valid_name(&name) && !global {
            return Err(self.error_at(line, format!("set: invalid variable name {name:?}")));
        }
        Ok(Command::Set {
            modifiers,
            name,
            value,
        })
    }
}
