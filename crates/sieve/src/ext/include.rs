//! `include` and `return` (RFC 6609): running another script of the user's (`:personal`,
//! the default) or of the site's (`:global`) in place. The interpreter asks the delivering
//! side for the script's text by name; the depth and number of included scripts are bounded by [`crate::Limits`].

use super::split;
use crate::parser::Arg;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub name: String,
    pub global: bool,
    /// `:once`: a script already included in this run is skipped.
    pub once: bool,
    /// `:optional`: a missing script is not an error.
    pub optional: bool,
}

pub(crate) fn parse(args: Vec<Arg>) -> Result<Include, String> {
    let t = split(args, &[], "include")?;
    let mut inc = Include {
        name: String::new(),
        global: false,
        once: false,
        optional: false,
    };
    let mut location = false;
    for (tag, _) in t.tags {
        match tag.as_str() {
            "personal" | "global" if location => {
                return Err("include: :personal and :global are exclusive".into())
            }
            "personal" => location = true,
            "global" => {
                location = true;
                inc.global = true;
            }
            "once" => inc.once = true,
            "optional" => inc.optional = true,
            other => return Err(format!("include: unknown tag :{other}")),
        }
    }
    let mut pos = t.positional.into_iter();
    inc.name = super::string(pos.next(), "include script name")?;
    if pos.next().is_some() {
        return Err("include: too many arguments".into());
    }
    // RFC 6609 §3.2: a name, not a path.
    if inc.name.is_empty()
        || inc.name.contains('/')
        || inc.name.starts_with('.')
        || inc.name.chars().any(char::is_control)
    {
        return Err(format!("include: bad script name {:?}", inc.name));
    }
    Ok(inc)
}
