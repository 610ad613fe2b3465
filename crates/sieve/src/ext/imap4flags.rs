//! RFC 5232 imap4flags: the flag sets that `setflag`/`addflag`/`removeflag` edit, `hasflag`
//! reads, and `keep`/`fileinto` attach to the stored message (`:flags` or the internal
//! variable's value at that moment).

/// A flag list in its canonical form: flags split on blanks, each once (compared without
/// case, first spelling kept), in the order first seen.
pub fn parse(strings: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in strings.iter().flat_map(|s| s.split_whitespace()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out
}

/// How `setflag`, `addflag` and `removeflag` change the current flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

pub fn apply(op: FlagOp, current: &[String], flags: &[String]) -> Vec<String> {
    match op {
        FlagOp::Set => parse(flags),
        FlagOp::Add => parse(&[current.join(" "), flags.join(" ")]),
        FlagOp::Remove => {
            let gone = parse(flags);
            current
                .iter()
                .filter(|c| !gone.iter().any(|g| g.eq_ignore_ascii_case(c)))
                .cloned()
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rfc5232_flag_editing() {
        let cur = apply(FlagOp::Set, &[], &v(&["\\Seen \\Answered", "\\seen"]));
        assert_eq!(cur, v(&["\\Seen", "\\Answered"]));
        let cur = apply(FlagOp::Add, &cur, &v(&["\\Flagged", "\\ANSWERED"]));
        assert_eq!(cur, v(&["\\Seen", "\\Answered", "\\Flagged"]));
        let cur = apply(FlagOp::Remove, &cur, &v(&["\\seen \\Flagged"]));
        assert_eq!(cur, v(&["\\Answered"]));
    }
}
