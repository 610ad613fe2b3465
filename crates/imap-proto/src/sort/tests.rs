//! SORT and THREAD over hand-made facts, with RFC 5256's own examples of base subjects.

use super::*;

fn msg(seq: u32, subject: &str, sent: i64) -> SortInput {
    SortInput {
        seq,
        id: seq,
        facts: Arc::new(SortFacts {
            arrival: i64::from(seq),
            sent: Some(sent),
            subject: subject.to_owned(),
            ..Default::default()
        }),
    }
}

fn threaded(msgs: &[SortInput], alg: ThreadAlgorithm) -> Vec<u8> {
    let r = crate::response::Response::Data(crate::response::Data::Thread(thread(msgs, alg)));
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

#[test]
fn base_subjects() {
    for (raw, base, reply) in [
        ("Re: test", "test", true),
        ("Re: Re: test", "test", true),
        ("Fwd: test", "test", true),
        ("test (fwd)", "test", true),
        ("[fwd: test]", "test", true),
        ("[mailing-list] Re: test", "test", true),
        ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true),
        ("Re: [FWD: c]", "c", true),
        ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", true),
        ("[xyz]", "[xyz]", false),
        ("  test  \t here ", "test here", false),
        ("Ad: Re: Ad: x", "Ad: Re: Ad: x", false),
        ("b (a)", "b (a)", false),
    ] {
        let b = base_subject(raw);
        assert_eq!(
            (b.text.as_str(), b.reply_or_forward),
            (base, reply),
            "{raw}"
        );
    }
}

#[test]
fn sort_by_subject_then_reverse_size_then_sequence() {
    let mut msgs = vec![
        msg(1, "b", 0),
        msg(2, "Re: A", 0),
        msg(3, "a", 0),
        msg(4, "_", 0),
    ];
    Arc::make_mut(&mut msgs[2].facts).size = 10;
    let by = |key, reverse| SortCriterion { reverse, key };
    assert_eq!(sort(&msgs, &[by(SortKey::Subject, false)]), [2, 3, 1, 4]);
    assert_eq!(
        sort(
            &msgs,
            &[by(SortKey::Subject, false), by(SortKey::Size, true)]
        ),
        [3, 2, 1, 4]
    );
    assert_eq!(sort(&msgs, &[by(SortKey::Arrival, true)]), [4, 3, 2, 1]);
}

#[test]
fn date_falls_back_to_arrival() {
    let mut msgs = vec![msg(1, "", 50), msg(2, "", 0), msg(3, "", 0)];
    Arc::make_mut(&mut msgs[1].facts).sent = None;
    Arc::make_mut(&mut msgs[1].facts).arrival = 100;
    let c = [SortCriterion {
        reverse: false,
        key: SortKey::Date,
    }];
    assert_eq!(sort(&msgs, &c), [3, 1, 2]);
}

#[test]
fn ordered_subject() {
    let msgs = vec![
        msg(1, "a", 10),
        msg(2, "Re: a", 5),
        msg(3, "b", 1),
        msg(4, "re: a", 20),
        msg(5, "c", 30),
        msg(6, "Re: c", 40),
    ];
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::OrderedSubject),
        b"* THREAD (3)(2 (1)(4))(5 6)\r\n"
    );
}

fn refs(seq: u32, id: &str, references: &str, subject: &str) -> SortInput {
    let mut m = msg(seq, subject, i64::from(seq));
    Arc::make_mut(&mut m.facts).message_id = format!("<{id}@x>");
    Arc::make_mut(&mut m.facts).references = references.to_owned();
    m
}

#[test]
fn references_chains_siblings_and_dummies() {
    let msgs = vec![
        refs(1, "a", "", "one"),
        refs(2, "b", "<a@x>", "Re: one"),
        refs(3, "c", "<a@x> <b@x>", "Re: one"),
        refs(4, "d", "<a@x>", "Re: one"),
        // Replies to a message not in the mailbox: a dummy root with two children.
        refs(5, "e", "<gone@x>", "two"),
        refs(6, "f", "<gone@x>", "Re: two"),
    ];
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::References),
        b"* THREAD (1 (2 3)(4))((5)(6))\r\n"
    );
}

#[test]
fn references_gathers_by_subject_and_ignores_loops() {
    let msgs = vec![
        refs(1, "a", "<b@x>", "topic"),
        refs(2, "b", "<a@x>", "topic"),
        refs(3, "c", "", "Re: topic"),
        refs(4, "d", "", "fresh"),
    ];
    // 1 and 2 refer to each other: the first link made (2 above 1) stands; the reply 3
    // joins 2's thread by subject.
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::References),
        b"* THREAD (2 (1)(3))(4)\r\n"
    );
}

#[test]
fn own_references_win_and_a_loop_leaves_a_root() {
    // 2 names 3 as its parent before 3 arrives; 3 names 2 as its parent: a loop, so 3
    // leaves the parent 2's References gave it (1) and is a root.
    let mut msgs = vec![
        refs(1, "a", "", ""),
        refs(2, "b", "<a@x> <c@x>", ""),
        refs(3, "c", "<b@x>", ""),
    ];
    Arc::make_mut(&mut msgs[0].facts).sent = Some(30);
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::References),
        b"* THREAD (3 2)(1)\r\n"
    );
}

#[test]
fn message_ids_are_angle_bracketed_with_an_at() {
    assert_eq!(message_ids(" <a@b> junk <noat> <c@d>"), ["a@b", "c@d"]);
}

/// A crafted chain of replies far deeper than any real thread is cut into threads of
/// bounded depth instead of recursing without limit (in threading, encoding and dropping).
#[test]
fn a_hostile_reply_chain_is_cut_to_a_bounded_depth() {
    let n = 20_000;
    let msgs: Vec<SortInput> = (1..=n)
        .map(|i| {
            let parent = if i == 1 {
                String::new()
            } else {
                format!("<m{}@x>", i - 1)
            };
            refs(i, &format!("m{i}"), &parent, &format!("s{i}"))
        })
        .collect();
    let handle = std::thread::Builder::new()
        // Smaller than the blocking pool's threads: the bound must hold with room to spare.
        .stack_size(1 << 20)
        .spawn(move || threaded(&msgs, ThreadAlgorithm::References))
        .unwrap();
    let out = handle
        .join()
        .expect("threading a deep chain must not overflow the stack");
    let text = String::from_utf8(out).unwrap();
    // Every message is listed once, in threads of at most 500 levels.
    let listed = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .count();
    assert_eq!(listed, n as usize);
    assert!(text.matches('(').count() >= (n as usize) / 500);
}

/// REFS: the trees of REFERENCES, no gathering by subject ("Re: two" stays apart from
/// "two"), threads ordered by their newest message: the thread of 1 has a reply sent at 4,
/// so it follows 3's; a dummy's thread counts its children's dates.
#[test]
fn refs_orders_threads_by_newest_message_without_subject_gathering() {
    let mut msgs = vec![
        refs(1, "a", "", "one"),
        refs(2, "b", "<a@x>", "Re: one"),
        refs(3, "c", "", "two"),
        refs(4, "d", "<a@x>", "Re: one"),
        refs(5, "e", "", "Re: two"),
        refs(6, "f", "<gone@x>", "three"),
        refs(7, "g", "<gone@x>", "Re: three"),
    ];
    Arc::make_mut(&mut msgs[5].facts).sent = Some(0);
    Arc::make_mut(&mut msgs[6].facts).sent = Some(2);
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::Refs),
        b"* THREAD ((6)(7))(3)(1 (2)(4))(5)\r\n"
    );
    assert_eq!(
        threaded(&msgs, ThreadAlgorithm::References),
        b"* THREAD ((6)(7))(1 (2)(4))(3 5)\r\n"
    );
}
