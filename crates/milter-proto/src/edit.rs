//! Applying the milters' header edits to a message's header section, with Postfix's index
//! rules: our own trace header is hidden from the milters, so CHGHEADER indexes count the
//! fields they saw (and can never touch ours), while INSHEADER positions count every field,
//! ours included (the message as delivered).

use crate::content::Field;
use crate::response::Edit;

/// A header edit and how the milter that asked for it wants values written.
#[derive(Debug, Clone)]
pub struct HeaderEdit {
    pub edit: Edit,
    /// The milter negotiated `HDR_LEADSPC`: its values carry their own leading space.
    pub leading_space: bool,
}

/// Formats a new field: `Name: value` with LF-folded lines turned into CRLF.
pub fn format_field(name: &str, value: &str, leading_space: bool) -> Field {
    let sep = if leading_space { "" } else { " " };
    let value = value.replace("\r\n", "\n").replace('\n', "\r\n");
    Field {
        raw: format!("{name}:{sep}{value}\r\n").into_bytes(),
    }
}

/// Applies the header edits in order. `hidden`: the position of the field the milters did not
/// see (our Received header), if any; returns where it is afterwards.
pub fn apply(
    fields: &mut Vec<Field>,
    edits: &[HeaderEdit],
    mut hidden: Option<usize>,
) -> Option<usize> {
    for HeaderEdit {
        edit,
        leading_space,
    } in edits
    {
        match edit {
            Edit::AddHeader { name, value } => {
                fields.push(format_field(name, value, *leading_space));
            }
            Edit::InsHeader { index, name, value } => {
                let at = (*index as usize).min(fields.len());
                fields.insert(at, format_field(name, value, *leading_space));
                hidden = hidden.map(|h| if at <= h { h + 1 } else { h });
            }
            Edit::ChgHeader { index, name, value } => {
                let nth = (*index).max(1) as usize;
                let found = fields
                    .iter()
                    .enumerate()
                    .filter(|(i, f)| Some(*i) != hidden && f.name().eq_ignore_ascii_case(name))
                    .nth(nth - 1)
                    .map(|(i, _)| i);
                match (found, value.is_empty()) {
                    (Some(i), true) => {
                        fields.remove(i);
                        hidden = hidden.map(|h| if i < h { h - 1 } else { h });
                    }
                    (Some(i), false) => {
                        if let Some(f) = fields.get_mut(i) {
                            *f = format_field(name, value, *leading_space);
                        }
                    }
                    // Sendmail adds a field changed beyond the last of its name.
                    (None, false) => fields.push(format_field(name, value, *leading_space)),
                    (None, true) => {}
                }
            }
            Edit::AddRcpt(_)
            | Edit::AddRcptPar { .. }
            | Edit::DelRcpt(_)
            | Edit::ChgFrom { .. } => {}
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Field {
        Field {
            raw: s.as_bytes().to_vec(),
        }
    }

    fn e(edit: Edit) -> HeaderEdit {
        HeaderEdit {
            edit,
            leading_space: false,
        }
    }

    fn text(fields: &[Field]) -> String {
        fields
            .iter()
            .map(|f| String::from_utf8_lossy(&f.raw).into_owned())
            .collect()
    }

    #[test]
    fn change_counts_visible_fields_and_insert_counts_all() {
        let mut fields = vec![
            f("X-Before: 0\r\n"),
            f("Received: ours\r\n"),
            f("Received: theirs\r\n"),
            f("Subject: a\r\n"),
            f("received: second\r\n"),
        ];
        let hidden = apply(
            &mut fields,
            &[
                e(Edit::ChgHeader {
                    index: 1,
                    name: "Received".into(),
                    value: "changed".into(),
                }),
                e(Edit::ChgHeader {
                    index: 2,
                    name: "RECEIVED".into(),
                    value: String::new(),
                }),
                e(Edit::InsHeader {
                    index: 0,
                    name: "X-Top".into(),
                    value: "1\n\tfolded".into(),
                }),
                e(Edit::AddHeader {
                    name: "X-End".into(),
                    value: "2".into(),
                }),
                e(Edit::ChgHeader {
                    index: 3,
                    name: "X-New".into(),
                    value: "3".into(),
                }),
                e(Edit::ChgHeader {
                    index: 1,
                    name: "x-before".into(),
                    value: String::new(),
                }),
            ],
            Some(1),
        );
        // Ours moved down by the insert and back up by the deletion.
        assert_eq!(hidden, Some(1));
        assert_eq!(
            text(&fields),
            "X-Top: 1\r\n\tfolded\r\nReceived: ours\r\nReceived: changed\r\nSubject: a\r\nX-End: 2\r\nX-New: 3\r\n"
        );
    }

    #[test]
    fn leading_space_milters_write_their_own_space() {
        let mut fields = vec![];
        let edit = HeaderEdit {
            edit: Edit::AddHeader {
                name: "X".into(),
                value: " v".into(),
            },
            leading_space: true,
        };
        apply(&mut fields, &[edit], None);
        assert_eq!(text(&fields), "X: v\r\n");
    }
}
