//! The extensions end to end through `Script::parse` and `Script::run`, on RFC examples.

use ferrymail_sieve::{Action, Facts, Limits, Script, SieveError};

fn run(src: &str) -> Result<Vec<Action>, SieveError> {
    let headers = fields(&[
        ("From", "coyote <coyote@desert.example.org>"),
        ("To", "ken+sieve@example.com, roadrunner@example.com"),
        ("Subject", "[acme-users] [fwd] version 1.0 is out"),
        ("X-Priority", "12"),
        ("Received", "a"),
        ("Received", "b"),
    ]);
    Script::parse(src)?.run(&Facts {
        headers: &headers,
        from: "coyote@desert.example.org",
        to: "ken+sieve@example.com",
        size: 500,
    })
}

/// Owned header fields from literal pairs.
fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A small message from a@b.test to c@d.test with these fields.
fn facts(headers: &[(String, String)]) -> Facts<'_> {
    Facts {
        headers,
        from: "a@b.test",
        to: "c@d.test",
        size: 10,
    }
}

fn file(f: &str) -> Vec<Action> {
    vec![Action::fileinto(f)]
}

#[test]
fn rfc5229_list_example_files_by_list_name() {
    let src = r#"require ["fileinto", "variables"];
        if header :matches "Subject" "[*] *" {
            set :lower "list" "${1}";
            fileinto "lists.${list}";
        }"#;
    assert_eq!(run(src).unwrap(), file("lists.acme-users"));
}

#[test]
fn variables_are_literal_without_require() {
    let src = r#"require "fileinto"; fileinto "${x}";"#;
    assert_eq!(run(src).unwrap(), file("${x}"));
    assert!(run(r#"set "a" "b";"#).is_err());
    assert!(run(r#"require "variables"; if string "a" "a" { keep; }"#).is_ok());
}

#[test]
fn string_test_and_set_modifiers() {
    let src = r#"require ["fileinto", "variables"];
        set :upperfirst "n" "world";
        set :length "l" "${n}";
        if string :is "${n}${l}" "World5" { fileinto "ok"; }"#;
    assert_eq!(run(src).unwrap(), file("ok"));
}

#[test]
fn subaddress_user_and_detail() {
    let src = r#"require ["fileinto", "subaddress", "envelope"];
        if envelope :detail "to" "sieve" { fileinto "sieve"; }
        if address :user "to" "roadrunner" { fileinto "rr"; }
        if address :detail :matches "from" "*" { fileinto "never"; }"#;
    assert_eq!(
        run(src).unwrap(),
        vec![Action::fileinto("sieve"), Action::fileinto("rr")]
    );
    assert!(Script::parse(r#"if address :user "to" "x" { keep; }"#).is_err());
}

#[test]
fn relational_count_and_value() {
    for (test, hit) in [
        (
            r#"header :count "eq" :comparator "i;ascii-numeric" "received" "2""#,
            true,
        ),
        (
            r#"address :count "ge" :comparator "i;ascii-numeric" "to" "3""#,
            false,
        ),
        (
            r#"header :value "gt" :comparator "i;ascii-numeric" "x-priority" "9""#,
            true,
        ),
        // As text, "12" sorts before "9".
        (r#"header :value "gt" "x-priority" "9""#, false),
        (
            r#"header :is :comparator "i;ascii-numeric" "x-priority" "012""#,
            true,
        ),
    ] {
        let src = format!(
            "require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"];\n\
             if {test} {{ fileinto \"X\"; }}"
        );
        let want = if hit { file("X") } else { vec![Action::keep()] };
        assert_eq!(run(&src).unwrap(), want, "{test}");
    }
    assert!(Script::parse(
        r#"require "comparator-i;ascii-numeric"; if header :contains :comparator "i;ascii-numeric" "a" "1" { keep; }"#
    )
    .is_err());
}

#[test]
fn copy_keeps_the_implicit_keep() {
    let src = r#"require ["fileinto", "copy"]; fileinto :copy "A"; redirect :copy "x@y.test";"#;
    assert_eq!(
        run(src).unwrap(),
        vec![
            Action::fileinto("A"),
            Action::Redirect("x@y.test".into()),
            Action::keep()
        ]
    );
    assert!(Script::parse(r#"redirect :copy "x@y.test";"#).is_err());
}

#[test]
fn imap4flags_attach_the_flags_current_at_each_store() {
    let src = r#"require ["fileinto", "imap4flags"];
        addflag "\\Flagged";
        fileinto "A";
        addflag ["\\Seen", "\\flagged"];
        fileinto :flags "\\Answered" "B";
        removeflag "\\Flagged";
        if hasflag :is "\\seen" { keep; }"#;
    let f = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        run(src).unwrap(),
        vec![
            Action::FileInto {
                mailbox: "A".into(),
                flags: f(&["\\Flagged"])
            },
            Action::FileInto {
                mailbox: "B".into(),
                flags: f(&["\\Answered"])
            },
            Action::Keep {
                flags: f(&["\\Seen"])
            },
        ]
    );
    let implicit = run(r#"require "imap4flags"; setflag "\\Deleted";"#).unwrap();
    assert_eq!(
        implicit,
        vec![Action::Keep {
            flags: f(&["\\Deleted"])
        }]
    );
    assert!(Script::parse(r#"keep :flags "\\Seen";"#).is_err());
}

#[test]
fn each_limit_is_a_runtime_error_or_a_refused_script() {
    let headers = fields(&[("Subject", "x")]);
    let facts = facts(&headers);
    let tight = Limits {
        max_script_bytes: 200,
        max_instructions: 20,
        max_actions: 2,
        max_redirects: 1,
        max_variables: 2,
        max_variable_len: 3,
        max_body_bytes: 0,
        ..Limits::default()
    };
    let eval = |src: &str| Script::parse_limited(src, &tight)?.evaluate_limited(&facts, &tight);
    assert!(matches!(
        eval(&" ".repeat(201)),
        Err(SieveError::Parse { .. })
    ));
    let busy = "if true { keep; }\n".repeat(11);
    assert!(Script::parse(&busy).is_ok());
    assert!(matches!(eval(&busy), Err(SieveError::Runtime(_))));
    let actions = r#"require "fileinto"; fileinto "a"; fileinto "b"; fileinto "c";"#;
    assert!(matches!(eval(actions), Err(SieveError::Runtime(_))));
    let redirects = r#"redirect "a@x.test"; redirect "b@x.test";"#;
    assert!(matches!(eval(redirects), Err(SieveError::Runtime(_))));
    let vars = r#"require "variables"; set "a" "1"; set "b" "2"; set "c" "3";"#;
    assert!(matches!(eval(vars), Err(SieveError::Runtime(_))));
    // A long value is cut, not refused.
    let cut = r#"require ["variables", "fileinto"]; set "a" "abcdef"; fileinto "${a}";"#;
    assert_eq!(eval(cut).unwrap().actions, vec![Action::fileinto("abc")]);
}

#[test]
fn date_and_index() {
    let headers = fields(&[
        ("Date", "Mon, 7 Dec 2026 23:30:00 -0800"),
        ("Received", "from a by b; Tue, 8 Dec 2026 07:31:00 +0000"),
        ("Received", "from c by a; Tue, 8 Dec 2026 07:30:10 +0000"),
    ]);
    let facts = facts(&headers);
    let hit = |test: &str| {
        let src =
            format!("require [\"date\", \"index\", \"relational\"]; if {test} {{ discard; }}");
        Script::parse(&src).unwrap().run(&facts).unwrap().is_empty()
    };
    assert!(hit(r#"date :originalzone :is "date" "date" "2026-12-07""#));
    assert!(hit(r#"date :zone "+0000" :is "date" "date" "2026-12-08""#));
    assert!(hit(
        r#"date :zone "+0100" :is "date" "iso8601" "2026-12-08T08:30:00+01:00""#
    ));
    assert!(hit(r#"date :originalzone :is "date" "weekday" "1""#));
    assert!(hit(r#"date :zone "+0000" :is "received" "minute" "31""#));
    assert!(!hit(
        r#"date :index 2 :zone "+0000" :is "received" "minute" "31""#
    ));
    assert!(hit(
        r#"date :index 1 :last :zone "+0000" :is "received" "second" "10""#
    ));
    assert!(hit(r#"header :index 2 :contains "received" "from c""#));
    assert!(!hit(r#"header :index 3 :contains "received" """#));
    // Without a clock in the view, currentdate matches nothing.
    assert!(!hit(r#"currentdate :value "ge" "year" "1970""#));
    assert!(
        Script::parse(r#"require "date"; if date :zone "1" "date" "year" "1" { keep; }"#).is_err()
    );
}

#[test]
fn editheader_changes_what_later_tests_see_and_is_reported() {
    use ferrymail_sieve::HeaderEdit;
    let headers = fields(&[
        ("Subject", "hello"),
        ("X-Tag", "a"),
        ("X-Tag", "b"),
        ("Received", "from x by y; Mon, 7 Dec 2026 10:00:00 +0000"),
    ]);
    let facts = facts(&headers);
    let src = r#"require ["editheader", "fileinto"];
        addheader :last "X-Seen" "yes";
        deleteheader :index 2 "x-tag";
        deleteheader :matches "subject" "h*";
        deleteheader "received";
        if allof (header :is "x-seen" "yes", not exists "subject", exists "received",
                  header :is "x-tag" "a", not header :is "x-tag" "b") { fileinto "ok"; }"#;
    let o = Script::parse(src).unwrap().evaluate(&facts).unwrap();
    assert_eq!(o.actions, vec![Action::fileinto("ok")]);
    assert_eq!(
        o.header_edits,
        vec![
            HeaderEdit::Add {
                name: "X-Seen".into(),
                value: "yes".into(),
                last: true
            },
            HeaderEdit::Delete {
                name: "x-tag".into(),
                positions: vec![1]
            },
            HeaderEdit::Delete {
                name: "subject".into(),
                positions: vec![0]
            },
        ]
    );
    assert!(Script::parse(r#"require "editheader"; addheader "Bad Name" "x";"#).is_err());
    assert!(Script::parse(r#"addheader "X" "y";"#).is_err());
}

#[test]
fn header_values_are_compared_with_encoded_words_decoded() {
    let headers = fields(&[("Subject", "=?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?cr=E8me?=")]);
    let facts = facts(&headers);
    let run = |k: &str| {
        let src = format!("if header :is \"subject\" \"{k}\" {{ discard; }}");
        Script::parse(&src).unwrap().run(&facts).unwrap().is_empty()
    };
    assert!(run("cafécrème"));
    assert!(!run("=?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?cr=E8me?="));
}
