//! RFC 5231 relational tests (`:count` / `:value` with gt ge lt le eq ne) and the comparators'
//! orderings, including RFC 4790 `i;ascii-numeric`.

use std::cmp::Ordering;

use crate::parser::Comparator;

/// The relation named by a `:count` / `:value` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub fn parse(s: &str) -> Option<Relation> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            Relation::Gt => o == Ordering::Greater,
            Relation::Ge => o != Ordering::Less,
            Relation::Lt => o == Ordering::Less,
            Relation::Le => o != Ordering::Greater,
            Relation::Eq => o == Ordering::Equal,
            Relation::Ne => o != Ordering::Equal,
        }
    }
}

/// `i;ascii-numeric` (RFC 4790 §9.1): the value of the leading digits; a string that does
/// not start with a digit is positive infinity (`None`), equal only to another such string.
fn numeric(s: &str) -> Option<u128> {
    let digits: &str = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return None;
    }
    // Leading zeros do not count, and a value longer than u128 saturates, which keeps the
    // order for any realistic header while never failing.
    Some(digits.bytes().fold(0u128, |n, d| {
        n.saturating_mul(10).saturating_add(u128::from(d - b'0'))
    }))
}

/// How `value` orders against `key` under the comparator.
pub fn compare(c: Comparator, value: &str, key: &str) -> Ordering {
    match c {
        Comparator::Octet => value.as_bytes().cmp(key.as_bytes()),
        Comparator::AsciiCasemap => value
            .to_ascii_lowercase()
            .as_bytes()
            .cmp(key.to_ascii_lowercase().as_bytes()),
        Comparator::AsciiNumeric => match (numeric(value), numeric(key)) {
            (Some(a), Some(b)) => a.cmp(&b),
            (None, None) => Ordering::Equal,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        },
    }
}

pub fn relation_holds(rel: Relation, c: Comparator, value: &str, key: &str) -> bool {
    rel.holds(compare(c, value, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_numeric_orders_by_leading_digits_with_text_as_infinity() {
        let n = Comparator::AsciiNumeric;
        assert_eq!(compare(n, "10", "9"), Ordering::Greater);
        assert_eq!(compare(n, "007", "7"), Ordering::Equal);
        assert_eq!(compare(n, "3 apples", "3"), Ordering::Equal);
        assert_eq!(compare(n, "abc", "99999"), Ordering::Greater);
        assert_eq!(compare(n, "abc", "xyz"), Ordering::Equal);
        assert!(relation_holds(Relation::Ge, n, "5", "5"));
        assert!(!relation_holds(Relation::Ne, n, "5", "05"));
        assert!(relation_holds(
            Relation::Lt,
            Comparator::AsciiCasemap,
            "ABC",
            "abd"
        ));
        assert!(relation_holds(Relation::Gt, Comparator::Octet, "a", "B"));
    }
}
