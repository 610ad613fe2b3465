//! The ESEARCH response (RFC 4731, RFC 5267's PARTIAL): `ESEARCH (TAG "t") UID MIN 1 ...`.

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
                    push_num(out, range.0);
                    out.push(b':');
                    push_num(out, range.1);
                    out.push(b' ');
                    if hits.is_empty() {
                        out.extend_from_slice(b"NIL");
                    } else {
                        compact_set(out, hits);
                    }
                    out.push(b')');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::response::{Data, Esearch, EsearchItem, Response};

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
                        range: (1, 3),
                        hits: vec![1, 2, 4],
                    },
                    EsearchItem::Partial {
                        range: (6, 6),
                        hits: vec![],
                    },
                ],
            }),
            b"* ESEARCH PARTIAL (1:3 1:2,4) PARTIAL (6:6 NIL)\r\n"
        );
    }
}
