//! RFC 5229 variables: the variable store with its limits, `${name}` / `${N}` expansion,
//! the `set` modifiers, and `:matches` with the wildcard captures that fill `${1}`…`${9}`.

use std::collections::{HashMap, HashSet};

use crate::SieveError;

/// Match variables `${0}`…`${9}` (RFC 5229 §3.2 requires at least these).
const MATCH_VARIABLES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

impl Modifier {
    pub fn parse(tag: &str) -> Option<Modifier> {
        Some(match tag {
            "lower" => Modifier::Lower,
            "upper" => Modifier::Upper,
            "lowerfirst" => Modifier::LowerFirst,
            "upperfirst" => Modifier::UpperFirst,
            "quotewildcard" => Modifier::QuoteWildcard,
            "length" => Modifier::Length,
            _ => return None,
        })
    }

    /// RFC 5229 §4.1: modifiers apply from the highest precedence down; two of the same
    /// precedence in one `set` is an error.
    pub fn precedence(self) -> u8 {
        match self {
            Modifier::Lower | Modifier::Upper => 40,
            Modifier::LowerFirst | Modifier::UpperFirst => 30,
            Modifier::QuoteWildcard => 20,
            Modifier::Length => 10,
        }
    }

    fn apply(self, s: String) -> String {
        let first = |f: fn(&char) -> String| {
            let mut c = s.chars();
            match c.next() {
                Some(h) => f(&h) + c.as_str(),
                None => String::new(),
            }
        };
        match self {
            Modifier::Lower => s.to_lowercase(),
            Modifier::Upper => s.to_uppercase(),
            Modifier::LowerFirst => first(|c| c.to_lowercase().collect()),
            Modifier::UpperFirst => first(|c| c.to_uppercase().collect()),
            Modifier::QuoteWildcard => {
                let mut out = String::with_capacity(s.len());
                for c in s.chars() {
                    if matches!(c, '*' | '?' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out
            }
            Modifier::Length => s.chars().count().to_string(),
        }
    }
}

/// Applies the modifiers of one `set` (already checked to be of distinct precedence).
pub fn modify(mut value: String, modifiers: &[Modifier]) -> String {
    let mut ms = modifiers.to_vec();
    ms.sort_by_key(|m| std::cmp::Reverse(m.precedence()));
    for m in ms {
        value = m.apply(value);
    }
    value
}

/// The variables of one run.
#[derive(Debug)]
pub struct Variables {
    named: HashMap<String, String>,
    /// RFC 6609 §3.3: the variables all scripts of one run share, and the names this script
    /// declared `global` (also reachable as `global.name`).
    global: HashMap<String, String>,
    declared: HashSet<String>,
    matched: Vec<String>,
    max_variables: usize,
    max_len: usize,
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Variables {
    /// At most `max_variables` names, values cut at `max_len` bytes.
    pub fn new(max_variables: usize, max_len: usize) -> Variables {
        Variables {
            named: HashMap::new(),
            global: HashMap::new(),
            declared: HashSet::new(),
            matched: Vec::new(),
            max_variables,
            max_len,
        }
    }

    /// Names are case-insensitive (RFC 5229 §3).
    pub fn set(&mut self, name: &str, value: String) -> Result<(), SieveError> {
        let (global, key) = self.slot(name);
        let full = self.named.len() + self.global.len() >= self.max_variables;
        let map = if global {
            &mut self.global
        } else {
            &mut self.named
        };
        if !map.contains_key(&key) && full {
            return Err(SieveError::Runtime("too many variables".into()));
        }
        map.insert(key, cut(value, self.max_len));
        Ok(())
    }

    /// `global` (RFC 6609 §3.3): from now on these names are the shared variables.
    pub fn declare_global(&mut self, names: &[String]) {
        self.declared
            .extend(names.iter().map(|n| n.to_ascii_lowercase()));
    }

    /// The shared variables, handed from one script's scope to an included one's and back.
    pub fn take_globals(&mut self) -> HashMap<String, String> {
        std::mem::take(&mut self.global)
    }

    pub fn put_globals(&mut self, global: HashMap<String, String>) {
        self.global = global;
    }

    /// Which map `name` lives in, and its key there (names are case-insensitive).
    fn slot(&self, name: &str) -> (bool, String) {
        let key = name.to_ascii_lowercase();
        match key.strip_prefix("global.") {
            Some(n) => (true, n.to_string()),
            None => (self.declared.contains(&key), key),
        }
    }

    pub fn set_matches(&mut self, captures: Vec<String>) {
        self.matched = captures
            .into_iter()
            .take(MATCH_VARIABLES)
            .map(|c| cut(c, self.max_len))
            .collect();
    }

    fn get(&self, reference: &str) -> Option<&str> {
        if reference.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = reference.parse().unwrap_or(usize::MAX);
            return Some(self.matched.get(n).map(String::as_str).unwrap_or(""));
        }
        if valid_name(reference) || global_name(reference) {
            let (global, key) = self.slot(reference);
            let map = if global { &self.global } else { &self.named };
            return Some(map.get(&key).map(String::as_str).unwrap_or(""));
        }
        // A namespaced or malformed reference stays literal text (RFC 5229 §3).
        None
    }

    /// Replaces each `${name}` / `${N}` in `s`, once, left to right (RFC 5229 §3).
    pub fn expand(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after
                .find('}')
                .and_then(|j| Some((self.get(&after[..j])?, j)))
            {
                Some((v, j)) => {
                    out.push_str(v);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `global.name` (RFC 6609 §3.5): a variable of the shared namespace.
pub fn global_name(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("global."))
        && valid_name(&s[7..])
}

/// An identifier as `set` accepts it: a letter or `_`, then letters, digits, `_`.
pub fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// One item of a `:matches` pattern (RFC 5228 §2.7.1).
#[derive(Clone, Copy, PartialEq)]
pub enum P {
    Star,
    One,
    Lit(char),
}

/// `*`, `?` and `\`-escaped literals; a trailing lone `\` is dropped.
pub fn pattern(pat: &str) -> Vec<P> {
    let mut items = Vec::with_capacity(pat.len());
    let mut it = pat.chars();
    while let Some(c) = it.next() {
        items.push(match c {
            '*' => P::Star,
            '?' => P::One,
            '\\' => match it.next() {
                Some(n) => P::Lit(n),
                None => continue,
            },
            c => P::Lit(c),
        });
    }
    items
}

/// Largest pattern × value table the capturing matcher builds; beyond it a `:matches`
/// still matches, through the caller's plain matcher, but captures nothing.
const MAX_TABLE: usize = 1 << 22;

/// `:matches` of `pat` against `val` (both already case-folded as the comparator wants),
/// returning `${0}` and each wildcard's text taken from `orig` (the unfolded value, same
/// char positions). Each `*` takes as little as it can, leftmost first, as Pigeonhole does.
pub fn captures(pat: &str, val: &str, orig: &str) -> Option<Option<Vec<String>>> {
    let items = pattern(pat);
    let v: Vec<char> = val.chars().collect();
    let o: Vec<char> = orig.chars().collect();
    if o.len() != v.len() || (items.len() + 1).saturating_mul(v.len() + 1) > MAX_TABLE {
        return Some(None);
    }
    // ok[i][j]: items[i..] matches v[j..].
    let w = v.len() + 1;
    let mut ok = vec![false; (items.len() + 1) * w];
    ok[items.len() * w + v.len()] = true;
    for i in (0..items.len()).rev() {
        for j in (0..=v.len()).rev() {
            ok[i * w + j] = match items[i] {
                P::Star => ok[(i + 1) * w + j] || (j < v.len() && ok[i * w + j + 1]),
                P::One => j < v.len() && ok[(i + 1) * w + j + 1],
                P::Lit(c) => j < v.len() && v[j] == c && ok[(i + 1) * w + j + 1],
            };
        }
    }
    if !ok[0] {
        return None;
    }
    let mut caps = vec![orig.to_string()];
    let mut j = 0;
    for (i, item) in items.iter().enumerate() {
        match item {
            P::Star => {
                let mut k = j;
                while !ok[(i + 1) * w + k] {
                    k += 1;
                }
                caps.push(o[j..k].iter().collect());
                j = k;
            }
            P::One => {
                caps.push(o[j].to_string());
                j += 1;
            }
            P::Lit(_) => j += 1,
        }
    }
    Some(Some(caps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5229_modifier_examples() {
        use Modifier::*;
        assert_eq!(
            modify("juMBlEd lETteRS".into(), &[Lower]),
            "jumbled letters"
        );
        assert_eq!(
            modify("juMBlEd lETteRS".into(), &[Upper]),
            "JUMBLED LETTERS"
        );
        assert_eq!(
            modify("juMBlEd lETteRS".into(), &[LowerFirst]),
            "juMBlEd lETteRS"
        );
        assert_eq!(
            modify("juMBlEd lETteRS".into(), &[UpperFirst]),
            "JuMBlEd lETteRS"
        );
        assert_eq!(modify("juMBlEd lETteRS".into(), &[Length]), "15");
        assert_eq!(modify("Rock*".into(), &[QuoteWildcard]), "Rock\\*");
        assert_eq!(
            modify("juMBlEd lETteRS".into(), &[UpperFirst, Lower]),
            "Jumbled letters"
        );
        assert_eq!(modify("a*b".into(), &[Length, QuoteWildcard]), "4");
    }

    #[test]
    fn expansion() {
        let mut v = Variables::new(255, 4096);
        v.set("Company", "ACME".into()).unwrap();
        v.set_matches(vec!["all".into(), "one".into()]);
        assert_eq!(v.expand("${company} ${1}${2}."), "ACME one.");
        assert_eq!(v.expand("${unknown}x${0}"), "xall");
        assert_eq!(v.expand("${a.b} ${ x} ${"), "${a.b} ${ x} ${");
        assert_eq!(v.expand("${${company}}"), "${ACME}");
    }

    #[test]
    fn matches_capture_shortest_leftmost() {
        let c = |p: &str, v: &str| captures(p, &v.to_lowercase(), v).map(|c| c.unwrap_or_default());
        assert_eq!(
            c("* *", "Weekly report now").unwrap(),
            vec!["Weekly report now", "Weekly", "report now"]
        );
        assert_eq!(
            c("*<*@*>", "coyote <coyote@example.com>").unwrap(),
            vec![
                "coyote <coyote@example.com>",
                "coyote ",
                "coyote",
                "example.com"
            ]
        );
        assert_eq!(c("a?c", "ABC").unwrap(), vec!["ABC", "B"]);
        assert_eq!(c("x*", "abc"), None);
    }

    #[test]
    fn limits() {
        let mut v = Variables::new(3, 10);
        for i in 0..3 {
            v.set(&format!("v{i}"), "x".repeat(10 + 10)).unwrap();
        }
        assert!(v.set("one_more", String::new()).is_err());
        assert_eq!(v.expand("${v0}").len(), 10);
    }
}
