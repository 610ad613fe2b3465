//! Extensions beyond the RFC 5228 base, one file each: their arguments checked at parse time,
//! their actions and the questions they ask of the delivering environment, so the core grammar
//! and interpreter only dispatch to them.

pub mod body;
pub mod date;
pub mod duplicate;
pub mod editheader;
pub mod imap4flags;
pub mod include;
pub mod reject;
pub mod relational;
pub mod spamtest;
pub mod subaddress;
pub mod vacation;
pub mod variables;

#[cfg(test)]
mod tests;

use crate::parser::Arg;

/// Tagged arguments in any order, then positional ones: the common shape of extension commands.
pub(crate) struct Tagged {
    pub tags: Vec<(String, Option<Arg>)>,
    pub positional: Vec<Arg>,
}

/// Splits `args`; each tag named in `with_value` takes the argument after it.
pub(crate) fn split(args: Vec<Arg>, with_value: &[&str], cmd: &str) -> Result<Tagged, String> {
    let mut tags: Vec<(String, Option<Arg>)> = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a {
            Arg::Tag(t, _) => {
                if !positional.is_empty() {
                    return Err(format!("{cmd}: tag :{t} after positional arguments"));
                }
                if tags.iter().any(|(n, _)| *n == t) {
                    return Err(format!("{cmd}: :{t} given twice"));
                }
                let value = if with_value.contains(&t.as_str()) {
                    Some(
                        it.next()
                            .ok_or_else(|| format!("{cmd}: :{t} needs a value"))?,
                    )
                } else {
                    None
                };
                tags.push((t, value));
            }
            other => positional.push(other),
        }
    }
    Ok(Tagged { tags, positional })
}

pub(crate) fn string(a: Option<Arg>, what: &str) -> Result<String, String> {
    match a {
        Some(Arg::Strings(mut s)) if s.len() == 1 => Ok(s.remove(0)),
        _ => Err(format!("{what} needs one string")),
    }
}

pub(crate) fn number(a: Option<Arg>, what: &str) -> Result<u64, String> {
    match a {
        Some(Arg::Number(n)) => Ok(n),
        _ => Err(format!("{what} needs a number")),
    }
}
