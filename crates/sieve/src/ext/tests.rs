//! The extensions through the public API: parsing, actions, and the environment's answers.

use std::cell::RefCell;

use crate::{Action, DuplicateKey, Facts, Limits, MessageView, Period, Reject, Script, SieveError};

/// A message plus the answers a delivering side would give.
struct Env {
    headers: Vec<(String, String)>,
    seen: Vec<DuplicateKey>,
    scripts: Vec<(bool, &'static str, &'static str)>,
    asked: RefCell<Vec<String>>,
}

impl Env {
    fn new() -> Env {
        Env {
            headers: vec![
                ("Message-ID".into(), "<m1@a.test>".into()),
                ("Subject".into(), "hello".into()),
                ("X-Id".into(), "abc".into()),
            ],
            seen: Vec::new(),
            scripts: Vec::new(),
            asked: RefCell::new(Vec::new()),
        }
    }
    fn facts(&self) -> Facts<'_> {
        Facts {
            headers: &self.headers,
            from: "a@a.test",
            to: "me@b.test",
            size: 100,
        }
    }
}

impl MessageView for Env {
    fn header(&self, name: &str) -> Vec<String> {
        self.facts().header(name)
    }
    fn envelope_from(&self) -> &str {
        "a@a.test"
    }
    fn envelope_to(&self) -> &str {
        "me@b.test"
    }
    fn size(&self) -> u64 {
        100
    }
    fn duplicate_seen(&self, key: &DuplicateKey) -> bool {
        self.seen
            .iter()
            .any(|k| k.handle == key.handle && k.id == key.id)
    }
    fn script(&self, name: &str, global: bool) -> Result<Option<String>, String> {
        self.asked.borrow_mut().push(format!("{global}:{name}"));
        Ok(self
            .scripts
            .iter()
            .find(|(g, n, _)| *g == global && *n == name)
            .map(|(_, _, t)| t.to_string()))
    }
}

fn eval(src: &str, env: &Env) -> Result<crate::Outcome, SieveError> {
    let limits = Limits {
        max_include_depth: 2,
        max_includes: 3,
        ..Limits::default()
    };
    Script::parse(src)?.evaluate_limited(env, &limits)
}

fn vacation(src: &str) -> crate::Vacation {
    match eval(src, &Env::new()).unwrap().actions.as_slice() {
        [Action::Vacation(v), Action::Keep { .. }] => (**v).clone(),
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn vacation_arguments_and_defaults() {
    let v = vacation(r#"require "vacation"; vacation "Away";"#);
    assert_eq!(v.period, Period::Default);
    assert_eq!(v.reason, "Away");
    assert!(v.subject.is_none() && v.from.is_none() && !v.mime);
    let v2 = vacation(
        r#"require "vacation"; vacation :subject "Out" :days 3 :from "me@b.test" :addresses ["x@b.test", "y@b.test"] :mime :handle "h" "Away";"#,
    );
    assert_eq!(v2.period, Period::Days(3));
    assert_eq!(v2.subject.as_deref(), Some("Out"));
    assert_eq!(v2.from.as_deref(), Some("me@b.test"));
    assert_eq!(v2.addresses, ["x@b.test", "y@b.test"]);
    assert_eq!(v2.handle, "h");
    assert!(v2.mime);
    // Same text, same handle; different reason, different handle (RFC 5230 §4.2).
    let again = vacation(r#"require "vacation"; vacation "Away";"#);
    let other = vacation(r#"require "vacation"; vacation "Elsewhere";"#);
    assert_eq!(v.handle, again.handle);
    assert_ne!(v.handle, other.handle);
    let s = vacation(r#"require "vacation-seconds"; vacation :seconds 30 "Away";"#);
    assert_eq!(s.period, Period::Seconds(30));
}

#[test]
fn vacation_errors() {
    for bad in [
        r#"vacation "x";"#,
        r#"require "vacation"; vacation :seconds 5 "x";"#,
        r#"require "vacation-seconds"; vacation :seconds 5 :days 1 "x";"#,
        r#"require "vacation"; vacation :days "x" "y";"#,
        r#"require "vacation"; vacation;"#,
        r#"require "vacation"; vacation "a" "b";"#,
        r#"require "vacation"; vacation :weeks 2 "a";"#,
    ] {
        assert!(Script::parse(bad).is_err(), "{bad}");
    }
    let two = r#"require "vacation"; vacation "a"; vacation "b";"#;
    assert!(matches!(
        eval(two, &Env::new()),
        Err(SieveError::Runtime(_))
    ));
}

#[test]
fn reject_and_ereject_cancel_the_keep_and_exclude_storing() {
    let o = eval(r#"require "reject"; reject "no thanks";"#, &Env::new()).unwrap();
    assert_eq!(
        o.actions,
        [Action::Reject(Reject {
            reason: "no thanks".into(),
            extended: false
        })]
    );
    assert!(!o.implicit_keep);
    let o = eval(r#"require "ereject"; ereject "go away";"#, &Env::new()).unwrap();
    assert!(matches!(o.actions.as_slice(), [Action::Reject(r)] if r.extended));
    for bad in [
        r#"require "reject"; reject "x"; keep;"#,
        r#"require ["reject", "fileinto"]; fileinto "A"; reject "x";"#,
        r#"require ["reject", "vacation"]; vacation "v"; reject "x";"#,
        r#"require ["reject", "ereject"]; reject "x"; ereject "y";"#,
    ] {
        assert!(
            matches!(eval(bad, &Env::new()), Err(SieveError::Runtime(_))),
            "{bad}"
        );
    }
    assert!(Script::parse(r#"reject "x";"#).is_err());
    assert!(Script::parse(r#"require "reject"; reject;"#).is_err());
}

#[test]
fn duplicate_asks_the_environment_and_reports_its_keys() {
    let src = r#"require ["duplicate", "fileinto"];
        if duplicate { fileinto "Dup"; }"#;
    let mut env = Env::new();
    let o = eval(src, &env).unwrap();
    assert_eq!(o.actions, [Action::keep()]);
    assert_eq!(o.duplicates.len(), 1);
    assert_eq!(o.duplicates[0].id, "<m1@a.test>");
    env.seen = o.duplicates;
    assert_eq!(eval(src, &env).unwrap().actions, [Action::fileinto("Dup")]);

    let o = eval(
        r#"require "duplicate"; if duplicate :handle "h" :header "x-id" :seconds 60 :last { discard; }"#,
        &Env::new(),
    )
    .unwrap();
    let k = &o.duplicates[0];
    assert_eq!(
        (k.handle.as_str(), k.id.as_str(), k.seconds, k.last),
        ("h", "abc", Some(60), true)
    );
    let o = eval(
        r#"require "duplicate"; if duplicate :uniqueid "u1" { discard; }"#,
        &Env::new(),
    )
    .unwrap();
    assert_eq!(o.duplicates[0].id, "u1");
    // No such header: not a duplicate, nothing to record.
    let o = eval(
        r#"require "duplicate"; if duplicate :header "x-none" { discard; }"#,
        &Env::new(),
    )
    .unwrap();
    assert!(o.duplicates.is_empty() && o.actions == [Action::keep()]);
    assert!(Script::parse(
        r#"require "duplicate"; if duplicate :header "a" :uniqueid "b" { stop; }"#
    )
    .is_err());
    assert!(Script::parse(r#"if duplicate { stop; }"#).is_err());
}

#[test]
fn include_runs_in_place_with_return_stop_once_and_optional() {
    let mut env = Env::new();
    env.scripts = vec![
        (
            false,
            "a",
            "require [\"fileinto\", \"include\"]; fileinto \"A\"; return; fileinto \"Never\";",
        ),
        (true, "g", "require \"fileinto\"; fileinto \"G\";"),
        (false, "stopper", "stop;"),
        (false, "self", "require \"include\"; include \"self\";"),
        (false, "deep", "require \"include\"; include \"deeper\";"),
        (false, "deeper", "require \"include\"; include \"a\";"),
        (false, "broken", "fileinto \"X\";"),
    ];
    let o = eval(
        r#"require ["include", "fileinto"];
           include "a"; include :global "g"; include :once "a"; include :optional "missing";
           fileinto "After";"#,
        &env,
    )
    .unwrap();
    let files: Vec<_> = ["A", "G", "After"].map(Action::fileinto).into();
    assert_eq!(o.actions, files);
    assert_eq!(
        *env.asked.borrow(),
        ["false:a", "true:g", "false:missing"],
        ":once does not fetch the script again"
    );
    let o = eval(
        r#"require ["include", "fileinto"]; include "stopper"; fileinto "B";"#,
        &env,
    )
    .unwrap();
    assert_eq!(o.actions, [Action::keep()]);
    for bad in [
        r#"require "include"; include "missing";"#,
        r#"require "include"; include "self";"#,
        r#"require "include"; include "deep";"#,
        r#"require "include"; include "broken";"#,
    ] {
        assert!(
            matches!(eval(bad, &env), Err(SieveError::Runtime(_))),
            "{bad}"
        );
    }
    for bad in [
        r#"include "a";"#,
        r#"require "include"; include "../etc/passwd";"#,
        r#"require "include"; include :global :personal "a";"#,
        r#"require "include"; return 1;"#,
    ] {
        assert!(Script::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn included_scripts_share_only_global_variables() {
    let mut env = Env::new();
    env.scripts = vec![(
        false,
        "inner",
        r#"require ["include", "variables", "fileinto"]; global "box";
           fileinto "${box}-${own}-${global.ns}"; set "box" "Changed"; set "own" "Inner";"#,
    )];
    let o = eval(
        r#"require ["include", "variables", "fileinto"];
           global "box"; set "box" "Shared"; set "own" "Outer"; set "global.ns" "N";
           include "inner"; fileinto "${box}+${own}";"#,
        &env,
    )
    .unwrap();
    let files: Vec<_> = ["Shared--N", "Changed+Outer"].map(Action::fileinto).into();
    assert_eq!(o.actions, files);
    assert!(Script::parse(r#"require "include"; global "x";"#).is_err());
}

#[test]
fn vacation_and_reject_expand_variables() {
    let v = vacation(
        r#"require ["vacation", "variables"]; set "s" "hello";
           vacation :subject "Re: ${s}" :handle "h-${s}" "Away (${s}).";"#,
    );
    assert_eq!(
        (v.subject.as_deref(), v.handle.as_str(), v.reason.as_str()),
        (Some("Re: hello"), "h-hello", "Away (hello).")
    );
    let o = eval(
        r#"require ["reject", "variables"]; set "w" "you"; reject "Not ${w}.";"#,
        &Env::new(),
    )
    .unwrap();
    assert!(matches!(o.actions.as_slice(), [Action::Reject(r)] if r.reason == "Not you."));
}
