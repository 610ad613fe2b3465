//! The ESEARCH response (RFC 4731; RFC 5267's PARTIAL, ADDTO, REMOVEFROM; RFC 9394's ranges
//! from the end): `ESEARCH (TAG "t") UID MIN 1 ...`.

use super::{compact_set, push_num, string};
use crate::response::{Esearch, EsearchItem};

fn named_number(out: &mut Vec<u8>, name: &[u8], n: u32) {
    out.extend_from_slice(name);
    push_num(out, n);
}

impl Esearch {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"ESEARCH");
        if let Some(tag) = &self.tag {
            out.extend_from_slice(b" (TAG ");
            string(out, tag.as_bytes());
            out.push(b')');
        }
        if self.uid {
            out.extend_from_slice(b" UID");
        }
        for item in &self.items {
            match item {
                EsearchItem::Min(n) => named_number(out, b" MIN ", *n),
                EsearchItem::Max(n) => named_number(out, b" MAX ", *n),
                EsearchItem::All(nums) => {
                    out.extend_from_slice(b" ALL ");
                    compact_set(out, nums);
                }
                EsearchItem::Count(n) => named_number(out, b" COUNT ", *n),
                EsearchItem::ModSeq(n) => {
                    out.extend_from_slice(b" MODSEQ ");
                    push_num(out, n);
                }
                EsearchItem::Partial { range, hits } => {
                    out.extend_from_slice(b" PARTIAL (");
                    let sign: &[u8] = if range.from_end { b"-" } else { b"" };
                    out.extend_from_slice(sign);
                    push_num(out, range.first);
                    out.push(b':');
                    out.extend_from_slice(sign);
                    push_num(out, range.last);
                    out.push(b' ');
                    if hits.is_empty() {
                        out.extend_from_slice(b"NIL");
                    } else {
                        compact_set(out, hits);
                    }
                    out.push(b')');
                }
                EsearchItem::AddTo(pairs) => context_updates(out, b" ADDTO (", pairs),
                EsearchItem::RemoveFrom(pairs) => context_updates(out, b" REMOVEFROM (", pairs),
            }
        }
    }
}

/// `ADDTO (pos set pos set)`: each set in the order given, consecutive runs compacted.
fn context_updates(out: &mut Vec<u8>, name: &[u8], pairs: &[(u32, Vec<u32>)]) {
    out.extend_from_slice(name);
    for (i, (pos, nums)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_num(out, *pos);
        out.push(b' ');
        compact_set(out, nums);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use crate::response::{Data, Esearch, EsearchItem, Response};
    use crate::types::PartialRange;

    fn bytes(e: Esearch) -> Vec<u8> {
        let r = Response::Data(Data::Esearch(e));
        let out = r.to_bytes();
        assert_eq!(crate::parse_response(&out).ok().map(|(p, _)| p), Some(r));
        out
    }

    #[test]
    fn esearch_exact_bytes_and_round_trip() {
        assert_eq!(
            bytes(Esearch {
                tag: Some("A282".into()),
                uid: false,
                items: vec![EsearchItem::Min(2), EsearchItem::Count(3)],
            }),
            b"* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
        );
        assert_eq!(
            bytes(Esearch {
                tag: Some("A283".into()),
                uid: true,
                items: vec![EsearchItem::All(vec![2, 10, 11, 12, 13, 14, 15, 44])],
            }),
            b"* ESEARCH (TAG \"A283\") UID ALL 2,10:15,44\r\n"
        );
        assert_eq!(
            bytes(Esearch {
                tag: Some("a".into()),
                uid: true,
                items: vec![],
            }),
            b"* ESEARCH (TAG \"a\") UID\r\n"
        );
        assert_eq!(
            bytes(Esearch {
                tag: None,
                uid: false,
                items: vec![
                    EsearchItem::Partial {
                        range: PartialRange {
                            from_end: false,
                            first: 1,
                            last: 3,
                        },
                        hits: vec![1, 2, 4],
                    },
                    EsearchItem::Partial {
                        range: PartialRange {
                            from_end: true,
                            first: 1,
                            last: 100,
                        },
                        hits: vec![],
                    },
                ],
            }),
            b"* ESEARCH PARTIAL (1:3 1:2,4) PARTIAL (-1:-100 NIL)\r\n"
        );
        // RFC 5267 §4.3.3's examples, and a sort order kept as it is.
        assert_eq!(
            bytes(Esearch {
                tag: Some("C01".into()),
                uid: true,
                items: vec![EsearchItem::AddTo(vec![(1, vec![2731, 2732, 2733])])],
            }),
            b"* ESEARCH (TAG \"C01\") UID ADDTO (1 2731:2733)\r\n"
        );
        assert_eq!(
            bytes(Esearch {
                tag: Some("t".into()),
                uid: false,
                items: vec![
                    EsearchItem::RemoveFrom(vec![(0, vec![1, 3, 4, 5])]),
                    EsearchItem::AddTo(vec![(2, vec![5, 3, 4]), (7, vec![9])]),
                ],
            }),
            b"* ESEARCH (TAG \"t\") REMOVEFROM (0 1,3:5) ADDTO (2 5,3:4 7 9)\r\n"
        );
        assert_eq!(
            crate::response::Response::Status(crate::response::Status::untagged(
                crate::response::Kind::No,
                Some(crate::response::Code::NoUpdate("B02".into())),
                "Too many contexts",
            ))
            .to_bytes(),
            b"* NO [NOUPDATE \"B02\"] Too many contexts\r\n"
        );
    }
}
