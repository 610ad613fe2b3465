//! RFC 5256 §2.1 base subject extraction: what SORT SUBJECT compares and the THREAD
//! algorithms group by, with whether the subject marked a reply or forward.

/// A subject reduced to its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSubject {
    pub text: String,
    /// A `Re:`/`Fwd:` leader, `(fwd)` trailer or `[fwd: ...]` wrapper was removed.
    pub reply_or_forward: bool,
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// `subj-blob`: `[` text without brackets `]`, then spaces; returns what follows.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes().get(end) != Some(&b']') {
        return None;
    }
    Some(rest.get(end + 1..)?.trim_start_matches(' '))
}

/// `subj-refwd`: `re`, `fw` or `fwd`, spaces, an optional blob, `:`.
fn strip_refwd(s: &str) -> Option<&str> {
    let rest = if starts_with_ci(s, "re") {
        s.get(2..)?
    } else if starts_with_ci(s, "fwd") {
        s.get(3..)?
    } else if starts_with_ci(s, "fw") {
        s.get(2..)?
    } else {
        return None;
    };
    let rest = rest.trim_start_matches(' ');
    let rest = strip_blob(rest).unwrap_or(rest);
    rest.strip_prefix(':')
}

/// `subj-leader`: blobs then a `subj-refwd` (a reply marker), or one space.
fn strip_leader(s: &str) -> Option<(&str, bool)> {
    if let Some(rest) = s.strip_prefix(' ') {
        return Some((rest, false));
    }
    let mut rest = s;
    loop {
        if let Some(r) = strip_refwd(rest) {
            return Some((r, true));
        }
        rest = strip_blob(rest)?;
    }
}

/// Whitespace runs become one space (step 1; the store has decoded RFC 2047 words).
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
    out
}

/// The base subject of a decoded Subject header (RFC 5256 §2.1 steps 1–6).
pub fn base_subject(subject: &str) -> BaseSubject {
    let mut s = collapse(subject);
    let mut reply = false;
    loop {
        // Step 2: trailers.
        loop {
            let t = s.trim_end_matches(' ');
            let cut = t.len().checked_sub(5).filter(|&at| {
                t.get(at..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case("(fwd)"))
            });
            match cut {
                Some(at) => {
                    s.truncate(at);
                    reply = true;
                }
                None => {
                    s.truncate(t.len());
                    break;
                }
            }
        }
        // Steps 3 and 4: leaders, then a leading blob unless it is all there is.
        loop {
            let before = s.len();
            while let Some((rest, refwd)) = strip_leader(&s) {
                reply |= refwd;
                s = rest.to_owned();
            }
            if let Some(rest) = strip_blob(&s) {
                if !rest.is_empty() {
                    s = rest.to_owned();
                }
            }
            if s.len() == before {
                break;
            }
        }
        // Step 5: a `[fwd: ...]` wrapper, then again from step 2.
        if starts_with_ci(&s, "[fwd:") && s.ends_with(']') {
            s = s.get(5..s.len() - 1).unwrap_or_default().to_owned();
            reply = true;
            continue;
        }
        return BaseSubject {
            text: s,
            reply_or_forward: reply,
        };
    }
}
