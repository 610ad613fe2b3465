//! A sans-IO Sieve (RFC 5228) for per-user filtering: `require`, `if`/`elsif`/`else`,
//! `header`, `address`, `envelope`, `exists`, `size`, `allof`/`anyof`/`not`, `true`/`false`,
//! `:is`/`:contains`/`:matches` with the `i;ascii-casemap` and `i;octet` comparators, and the
//! actions `fileinto`, `keep`, `discard`, `redirect`, `stop`; and the extensions in
//! [`CAPABILITIES`], one module each under `ext/`: variables (RFC 5229), subaddress (5233),
//! relational and `i;ascii-numeric` (5231, 4790), copy (3894), mailbox (5490), imap4flags
//! (5232), body (5173), spamtest/spamtestplus/virustest (5235), date and index (5260),
//! editheader (5293), vacation with vacation-seconds (5230, 6131), reject/ereject (5429),
//! include/return (6609), duplicate (7352).
//! What the script needs beyond the header fields (folders, body, scores, clock) it asks the
//! [`MessageView`].
//!
//! local-delivery parses the user's script with [`Script::parse_limited`] and runs it with
//! [`Script::evaluate_limited`] within its configured [`Limits`]; any error there means "keep"
//! plus a logged error, never a lost message.
//! Plain code over strings: no I/O, so the language is unit-tested and fuzzed on its own. The
//! one exception is [`store`], the users' script files (Pigeonhole's layout), kept here so
//! the ManageSieve server and local-delivery share its path rules.

mod ext;
mod interp;
mod lexer;
mod limits;
mod parser;
pub mod store;

pub use ext::duplicate::DuplicateKey;
pub use ext::editheader::HeaderEdit;
pub use ext::reject::Reject;
pub use ext::vacation::{Period, Vacation};
pub use interp::{addresses, Action, Facts, MessageView};
pub use limits::Limits;
pub use parser::CAPABILITIES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SieveError {
    #[error("line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error("runtime error: {0}")]
    Runtime(String),
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    commands: Vec<parser::Command>,
    /// `require "variables"`: strings are expanded (RFC 5229 §3) only then.
    variables: bool,
}

impl Script {
    pub fn parse(src: &str) -> Result<Script, SieveError> {
        Script::parse_limited(src, &Limits::default())
    }

    /// Parses a script of at most `limits.max_script_bytes`.
    pub fn parse_limited(src: &str, limits: &Limits) -> Result<Script, SieveError> {
        let toks = lexer::tokenize(src, limits.max_script_bytes)?;
        let (commands, required) = parser::parse(&toks)?;
        Ok(Script {
            commands,
            variables: required.iter().any(|r| r == "variables"),
        })
    }

    /// The actions for this message; empty means the message is discarded.
    pub fn run<M: MessageView>(&self, msg: &M) -> Result<Vec<Action>, SieveError> {
        self.evaluate(msg).map(|o| o.actions)
    }

    /// The actions, and whether the keep among them is only the implicit one.
    pub fn evaluate<M: MessageView>(&self, msg: &M) -> Result<Outcome, SieveError> {
        self.evaluate_limited(msg, &Limits::default())
    }

    /// [`Script::evaluate`] within `limits`; exceeding one is a [`SieveError::Runtime`].
    pub fn evaluate_limited<M: MessageView>(
        &self,
        msg: &M,
        limits: &Limits,
    ) -> Result<Outcome, SieveError> {
        interp::run(&self.commands, self.variables, msg, limits)
    }
}

/// What a script decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub actions: Vec<Action>,
    /// No action cancelled the implicit keep (RFC 5228 §2.10.2), so the `Keep` in `actions`
    /// is not the script's own: delivery may send it elsewhere (a spam verdict).
    pub implicit_keep: bool,
    /// Folders `fileinto :create` (RFC 5490) asked for: made when missing, never replaced.
    pub create: Vec<String>,
    /// Header changes (RFC 5293) for the delivered copies, in order.
    pub header_edits: Vec<HeaderEdit>,
    /// The `duplicate` tests' keys: delivery records them once the message is delivered
    /// (RFC 7352 §3), so a failed delivery's retry is not taken for a duplicate.
    pub duplicates: Vec<DuplicateKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: [(&str, &str); 4] = [
        ("From", "\"Alice, A.\" <alice@Lists.Example.org>"),
        ("To", "bob@example.test, carol@example.test"),
        ("Subject", "[list] Weekly report"),
        ("X-Spam-Flag", "YES"),
    ];

    fn run(src: &str) -> Result<Vec<Action>, SieveError> {
        let headers: Vec<(String, String)> = HEADERS
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Script::parse(src)?.run(&Facts {
            headers: &headers,
            from: "owner-list@lists.example.org",
            to: "bob+lists@example.test",
            size: 2000,
        })
    }

    fn file(f: &str) -> Vec<Action> {
        vec![Action::fileinto(f)]
    }

    #[test]
    fn empty_script_keeps() {
        assert_eq!(run("").unwrap(), vec![Action::keep()]);
        assert_eq!(
            run("# nothing\n/* at all */").unwrap(),
            vec![Action::keep()]
        );
    }

    #[test]
    fn header_match_types() {
        for (test, hit) in [
            (r#"header :is "subject" "[LIST] weekly report""#, true),
            (r#"header :is "subject" "weekly""#, false),
            (r#"header :contains "subject" "WEEKLY""#, true),
            (
                r#"header :contains :comparator "i;octet" "subject" "WEEKLY""#,
                false,
            ),
            (r#"header :matches "subject" "\\[list\\]*""#, true),
            (r#"header :matches "subject" "?list]*report""#, true),
            (r#"header :matches "subject" "*digest*""#, false),
            (
                r#"header :contains ["x-nope", "subject"] ["zzz", "report"]"#,
                true,
            ),
        ] {
            let src = format!("require \"fileinto\";\nif {test} {{ fileinto \"X\"; }}");
            let want = if hit { file("X") } else { vec![Action::keep()] };
            assert_eq!(run(&src).unwrap(), want, "{test}");
        }
    }

    #[test]
    fn address_envelope_exists_size_and_logic() {
        for (test, hit) in [
            (r#"address :is :domain "from" "lists.example.org""#, true),
            (r#"address :is :localpart "from" "alice""#, true),
            (r#"address :is :all "to" "carol@example.test""#, true),
            (r#"address :is "from" "Alice, A.""#, false),
            (r#"envelope :is :domain "from" "lists.example.org""#, true),
            (r#"envelope :matches "to" "bob+*@example.test""#, true),
            (r#"envelope :is "from" "alice@lists.example.org""#, false),
            (r#"exists ["x-spam-flag", "subject"]"#, true),
            (r#"exists ["x-spam-flag", "x-missing"]"#, false),
            (r#"size :over 1K"#, true),
            (r#"size :under 1K"#, false),
            (r#"size :over 2000"#, false),
            (r#"allof (true, exists "subject")"#, true),
            (r#"allof (true, false)"#, false),
            (r#"anyof (false, not false)"#, true),
            (r#"not anyof (false, false)"#, true),
        ] {
            let src =
                format!("require [\"fileinto\", \"envelope\"];\nif {test} {{ fileinto \"X\"; }}");
            let want = if hit { file("X") } else { vec![Action::keep()] };
            assert_eq!(run(&src).unwrap(), want, "{test}");
        }
    }

    #[test]
    fn elsif_else_stop_discard_redirect() {
        let src = r#"require "fileinto";
            if header :contains "subject" "nomatch" { fileinto "A"; }
            elsif header :contains "subject" "weekly" { fileinto "B"; keep; }
            else { fileinto "C"; }
            stop;
            fileinto "D";"#;
        assert_eq!(
            run(src).unwrap(),
            vec![Action::fileinto("B"), Action::keep()]
        );
        assert_eq!(run("discard;").unwrap(), vec![]);
        assert_eq!(
            run(r#"redirect "x@y.test"; redirect "x@y.test";"#).unwrap(),
            vec![Action::Redirect("x@y.test".into())]
        );
        assert_eq!(
            run(r#"if false { discard; } else { keep; }"#).unwrap(),
            vec![Action::keep()]
        );
        let text = "require \"fileinto\";\nfileinto text:\nMulti\n.\n;";
        assert_eq!(run(text).unwrap(), file("Multi\r\n"));
    }

    #[test]
    fn errors() {
        for bad in [
            r#"fileinto "X";"#,
            r#"require "envelope"; envelope :is "cc" "x";"#,
            r#"require "vacation-weeks";"#,
            r#"keep"#,
            r#"if true { keep; "#,
            r#"if header :is "a" { keep; }"#,
            r#"frobnicate;"#,
            r#"keep; require "fileinto";"#,
            r#"else { keep; }"#,
            r#"size :over "x";"#,
            "\"unterminated",
            "/* open",
            "}",
        ] {
            assert!(
                matches!(Script::parse(bad), Err(SieveError::Parse { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            run(r#"redirect "not an address";"#),
            Err(SieveError::Runtime(_))
        ));
        let many: String = (0..=Limits::default().max_redirects)
            .map(|i| format!("redirect \"u{i}@x.test\";"))
            .collect();
        assert!(matches!(run(&many), Err(SieveError::Runtime(_))));
        let deep = "if not ".repeat(200) + "true { keep; }";
        assert!(Script::parse(&deep).is_err());
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            addresses(r#""Joe, Jr." <joe@a.test>, bob@b.test (Bob, B), group: c@c.test;"#),
            vec!["joe@a.test", "bob@b.test", "c@c.test"]
        );
    }

    #[test]
    fn wildcards_do_not_blow_up() {
        let src = format!(
            "require \"fileinto\"; if header :matches \"subject\" \"{}x\" {{ fileinto \"X\"; }}",
            "*a".repeat(200)
        );
        assert_eq!(run(&src).unwrap(), vec![Action::keep()]);
    }

    #[test]
    fn the_keep_is_implicit_only_when_no_action_cancelled_it() {
        let facts_headers: Vec<(String, String)> = Vec::new();
        let facts = Facts {
            headers: &facts_headers,
            from: "a@b.test",
            to: "c@d.test",
            size: 10,
        };
        for (src, actions, implicit) in [
            ("", vec![Action::keep()], true),
            ("if false { keep; }", vec![Action::keep()], true),
            // RFC 5228 §4.2: redirect cancels the implicit keep too.
            (
                "redirect \"x@y.test\";",
                vec![Action::Redirect("x@y.test".into())],
                false,
            ),
            ("keep;", vec![Action::keep()], false),
            ("require \"fileinto\"; fileinto \"W\";", file("W"), false),
            ("discard;", vec![], false),
        ] {
            let o = Script::parse(src).unwrap().evaluate(&facts).unwrap();
            assert_eq!((o.actions, o.implicit_keep), (actions, implicit), "{src}");
        }
    }
}
