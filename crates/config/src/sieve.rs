//! The `[delivery.sieve]` section: the bounds on one run of a user's Sieve script (defaults
//! as Dovecot Pigeonhole's) and where `spamtest` (RFC 5235) reads a spam score.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sieve {
    /// Longest script run, in bytes; a longer one is not run (the message is kept).
    pub max_script_size: usize,
    /// Commands and tests one run may evaluate.
    pub max_instructions: usize,
    /// Actions one run may take (Pigeonhole `sieve_max_actions`).
    pub max_actions: usize,
    /// Redirects one run may make (Pigeonhole `sieve_max_redirects`).
    pub max_redirects: usize,
    /// Variables one script may set (Pigeonhole `sieve_variables_max_scope_size`).
    pub max_variables: usize,
    /// Longest variable value in bytes; longer values are cut
    /// (Pigeonhole `sieve_variables_max_variable_size`).
    pub max_variable_size: usize,
    /// Bytes of a message the `body` test looks at.
    pub max_body_size: usize,
    /// Deepest chain of nested `include`s (Pigeonhole `sieve_include_max_nesting_depth`).
    pub max_include_depth: usize,
    /// Most scripts one delivery may include, all levels together.
    pub max_includes: usize,
    /// Header field holding a numeric spam score (`X-Spam-Score: 7.5`, or rspamd's
    /// `X-Spamd-Result: default: False [7.50 / 15.00]`); empty = none.
    pub spam_score_header: String,
    /// The score that means certainly spam: `spamtest` scales scores from 0 up to this.
    pub spam_score_max: f64,
}

impl Default for Sieve {
    fn default() -> Self {
        Sieve {
            max_script_size: 1024 * 1024,
            max_instructions: 100_000,
            max_actions: 32,
            max_redirects: 4,
            max_variables: 255,
            max_variable_size: 4096,
            max_body_size: 1024 * 1024,
            max_include_depth: 10,
            max_includes: 32,
            spam_score_header: "X-Spam-Score".into(),
            spam_score_max: 15.0,
        }
    }
}

pub(crate) fn check(bad: &mut impl FnMut(&str, String), s: &Sieve) {
    for (key, v) in [
        ("max_script_size", s.max_script_size),
        ("max_instructions", s.max_instructions),
        ("max_actions", s.max_actions),
        ("max_variable_size", s.max_variable_size),
    ] {
        if v == 0 {
            bad(
                &format!("delivery.sieve.{key}"),
                "must be at least 1".into(),
            );
        }
    }
    if !(s.spam_score_max.is_finite() && s.spam_score_max > 0.0) {
        bad(
            "delivery.sieve.spam_score_max",
            format!("{} is not a positive number", s.spam_score_max),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, ConfigError};

    #[test]
    fn section_parses_with_pigeonhole_defaults_and_is_checked() {
        let parse = |t: &str| Config::parse(t, Path::new("/etc/ferrymail/test.toml"));
        let c = parse("").unwrap();
        assert_eq!(
            (c.delivery.sieve.max_actions, c.delivery.sieve.max_redirects),
            (32, 4)
        );
        let c =
            parse("[delivery.sieve]\nmax_redirects = 0\nspam_score_header = \"X-Spamd-Result\"\n")
                .unwrap();
        assert_eq!(c.delivery.sieve.max_redirects, 0);
        assert_eq!(c.delivery.sieve.spam_score_header, "X-Spamd-Result");
        match parse("[delivery.sieve]\nmax_actions = 0\nspam_score_max = -1.0\n") {
            Err(ConfigError::Invalid { problems, .. }) => assert_eq!(
                problems.into_iter().map(|p| p.key).collect::<Vec<_>>(),
                [
                    "delivery.sieve.max_actions",
                    "delivery.sieve.spam_score_max"
                ]
            ),
            other => panic!("not refused: {other:?}"),
        }
        assert!(parse("[delivery.sieve]\nmax_action = 3\n").is_err());
    }
}
