//! RFC 5293 editheader: `addheader` and `deleteheader` change the message's header for the
//! tests that follow and for the delivered copy; the edits are kept as a list the caller
//! replays on the raw message.

/// Fields a script may not delete (RFC 5293 §6; Pigeonhole's fixed set). Adding them is
/// allowed, as there.
pub const PROTECTED: &[&str] = &["received", "auto-submitted"];

/// One header edit, in script order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// A new field, first in the header, or last with `:last`.
    Add {
        name: String,
        value: String,
        last: bool,
    },
    /// Removes the fields named `name` at these positions (0-based among the fields of that
    /// name as the header stands after the edits before this one).
    Delete { name: String, positions: Vec<usize> },
}

pub fn protected(name: &str) -> bool {
    PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// A field name as RFC 5322 §3.6.8 allows: printable ASCII but `:`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// The values of `name` after `edits`, given the message's own `values`.
pub fn replay(name: &str, mut values: Vec<String>, edits: &[HeaderEdit]) -> Vec<String> {
    for e in edits {
        match e {
            HeaderEdit::Add {
                name: n,
                value,
                last,
            } if n.eq_ignore_ascii_case(name) => {
                if *last {
                    values.push(value.clone());
                } else {
                    values.insert(0, value.clone());
                }
            }
            HeaderEdit::Delete { name: n, positions } if n.eq_ignore_ascii_case(name) => {
                let mut i = 0;
                values.retain(|_| {
                    let keep = !positions.contains(&i);
                    i += 1;
                    keep
                });
            }
            _ => {}
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replay_in_order() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let edits = vec![
            HeaderEdit::Add {
                name: "X-A".into(),
                value: "first".into(),
                last: false,
            },
            HeaderEdit::Add {
                name: "x-a".into(),
                value: "end".into(),
                last: true,
            },
            HeaderEdit::Delete {
                name: "X-A".into(),
                positions: vec![1],
            },
        ];
        assert_eq!(replay("x-a", v(&["orig"]), &edits), v(&["first", "end"]));
        assert_eq!(replay("x-b", v(&["b"]), &edits), v(&["b"]));
        assert!(protected("RECEIVED") && !protected("subject"));
        assert!(valid_name("X-Ok") && !valid_name("Bad Name") && !valid_name(""));
    }
}
