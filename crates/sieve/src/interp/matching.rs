//! The match machinery the tests share: header decoding, `:index`, address parts,
//! comparators and the `:is`/`:contains`/`:matches` match types (RFC 5228 §2.7).

use super::*;

/// A header value with its RFC 2047 encoded words decoded, as the header test compares it
/// (RFC 5228 §2.7.2).
pub(super) fn decoded(v: String) -> String {
    if !v.contains("=?") {
        return v;
    }
    match mailparse::parse_header(format!("X: {v}").as_bytes()) {
        Ok((h, _)) => h.get_value(),
        Err(_) => v,
    }
}

/// The position `:index n [:last]` (RFC 5260 §6) names among `len` fields, if any.
pub(super) fn index_position(len: usize, (n, last): (usize, bool)) -> Option<usize> {
    let i = if last {
        len.checked_sub(n)
    } else {
        n.checked_sub(1)
    };
    i.filter(|&i| i < len)
}

/// The `:index` field of `values`, or all of them.
pub(super) fn pick(mut values: Vec<String>, index: Option<(usize, bool)>) -> Vec<String> {
    let Some(index) = index else {
        return values;
    };
    match index_position(values.len(), index) {
        Some(i) => vec![values.swap_remove(i)],
        None => Vec::new(),
    }
}

pub(super) fn plausible_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.is_empty()
                && a.len() <= 320
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
        }
        None => false,
    }
}

pub(super) fn address_part(a: &str, part: AddressPart) -> Option<&str> {
    let local = a.rsplit_once('@').map(|(l, _)| l).unwrap_or(a);
    Some(match part {
        AddressPart::All => a,
        AddressPart::LocalPart => local,
        AddressPart::Domain => a.rsplit_once('@').map(|(_, d)| d).unwrap_or(""),
        AddressPart::User => subaddress::user(local),
        AddressPart::Detail => subaddress::detail(local)?,
    })
}

/// The addresses in a header value such as `"Joe, Jr." <joe@a.test>, bob@b.test (Bob)`.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut angle: Option<String> = None;
    let mut depth = 0usize;
    let mut chars = value.chars();
    let finish = |cur: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let a = match angle.take() {
            Some(a) => a,
            None => cur.trim().to_string(),
        };
        let a = a.trim().to_string();
        if !a.is_empty() {
            out.push(a);
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '<' => angle = Some(String::new()),
            '>' => {}
            ',' | ';' => finish(&mut cur, &mut angle, &mut out),
            // A group name `undisclosed-recipients:` is not an address.
            ':' if angle.is_none() => cur.clear(),
            _ => match &mut angle {
                Some(a) => a.push(c),
                None => cur.push(c),
            },
        }
    }
    finish(&mut cur, &mut angle, &mut out);
    out
}

pub(super) fn fold(s: &str, c: Comparator) -> String {
    match c {
        Comparator::AsciiCasemap => s.to_ascii_lowercase(),
        Comparator::Octet | Comparator::AsciiNumeric => s.to_string(),
    }
}

pub(super) fn matches(m: &Match, value: &str, key: &str) -> bool {
    let v = fold(value, m.comparator);
    let k = fold(key, m.comparator);
    match m.match_type {
        MatchType::Is if m.comparator == Comparator::AsciiNumeric => {
            relation_holds(Relation::Eq, m.comparator, value, key)
        }
        MatchType::Is => v == k,
        MatchType::Contains => v.contains(&k),
        MatchType::Matches => wildcard(&k, &v),
        MatchType::Value(rel) => relation_holds(rel, m.comparator, value, key),
        MatchType::Count(_) => false,
    }
}

/// `*` and `?` with `\` escaping (RFC 5228 §2.7.1), iterative with one backtrack point, so
/// the time stays O(len(pattern) * len(value)). `?` is one character, not one byte.
pub(super) fn wildcard(pat: &str, val: &str) -> bool {
    use variables::P;
    let items = variables::pattern(pat);
    let val: Vec<char> = val.chars().collect();
    let (mut p, mut v) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        match (items.get(p), val.get(v)) {
            (Some(P::Star), _) => {
                back = Some((p, v));
                p += 1;
            }
            (Some(P::One), Some(_)) => {
                p += 1;
                v += 1;
            }
            (Some(P::Lit(c)), Some(ch)) if c == ch => {
                p += 1;
                v += 1;
            }
            (None, None) => return true,
            _ => match back {
                Some((bp, bv)) if bv < val.len() => {
                    p = bp + 1;
                    v = bv + 1;
                    back = Some((bp, bv + 1));
                }
                _ => return false,
            },
        }
    }
}
