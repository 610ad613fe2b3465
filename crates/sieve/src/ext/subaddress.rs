//! RFC 5233 subaddress: the `:user` and `:detail` parts of a local part `user+detail`.

/// The separator between user and detail; Pigeonhole's default too.
pub const SEPARATOR: char = '+';

/// `:user`: the local part up to the first separator (all of it when there is none).
pub fn user(local: &str) -> &str {
    local.split_once(SEPARATOR).map(|(u, _)| u).unwrap_or(local)
}

/// `:detail`: the local part after the first separator; `None` when there is no separator,
/// in which case the test does not match at all, not even the empty key (RFC 5233 §4).
pub fn detail(local: &str) -> Option<&str> {
    local.split_once(SEPARATOR).map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_detail() {
        assert_eq!(user("ken+sieve"), "ken");
        assert_eq!(detail("ken+sieve"), Some("sieve"));
        assert_eq!(user("ken"), "ken");
        assert_eq!(detail("ken"), None);
        assert_eq!(detail("ken+"), Some(""));
        assert_eq!(detail("a+b+c"), Some("b+c"));
    }
}
