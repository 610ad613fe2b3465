//! Differential test against Dovecot Pigeonhole: every script in `tests/corpus/scripts` runs
//! on every message in `tests/corpus/messages` through both this crate and Pigeonhole's
//! `sieve-test`, and the normalised action sets must agree. A disagreement that is justified
//! is listed with its reason in `tests/corpus/exceptions.txt` (`script message reason...`).
//! Adding a case is dropping a `.sieve` or `.eml` file into the corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrymail_sieve::{Action, Facts, MessageView, Script};

/// Envelope used for every message, on both sides.
const SENDER: &str = "sender@example.org";
const RECIPIENT: &str = "bob+lists@example.test";

/// The spam score that means certainly spam, on both sides.
const SPAM_MAX: f64 = 15.0;

/// Mailboxes the message store is taken to hold, on both sides.
const MAILBOXES: &[&str] = &["INBOX", "Existing"];

/// One side's verdict: the set of normalised actions, or `error`.
type Verdict = BTreeSet<String>;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Unfolded header fields of a message, as delivery would give them.
fn headers(msg: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in msg.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
    }
    out
}

fn action_line(kind: &str, arg: &str, flags: &[String]) -> String {
    // sieve-test's listing cannot show trailing blanks reliably, so neither side keeps them.
    let arg = arg.trim();
    let mut s = if kind == "fileinto" && arg == "INBOX" {
        "keep".to_string()
    } else if arg.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {arg}")
    };
    if !flags.is_empty() {
        let mut f: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
        f.sort();
        f.dedup();
        s.push_str(&format!(" flags={}", f.join(" ")));
    }
    s
}

/// The message with the store's [`MAILBOXES`].
struct View<'a>(Facts<'a>, &'a [u8]);

impl MessageView for View<'_> {
    fn header(&self, name: &str) -> Vec<String> {
        self.0.header(name)
    }
    fn envelope_from(&self) -> &str {
        self.0.envelope_from()
    }
    fn envelope_to(&self) -> &str {
        self.0.envelope_to()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn mailbox_exists(&self, name: &str) -> bool {
        MAILBOXES.contains(&name)
    }
    fn message(&self) -> &[u8] {
        self.1
    }
    /// This machine's clock; both sides run in UTC.
    fn now(&self) -> Option<(i64, i32)> {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((t.as_secs() as i64, 0))
    }
    /// As Pigeonhole is configured: the `X-Spam-Score` header over a maximum of 15.
    fn spam_score(&self) -> Option<u8> {
        let s: f64 = self.0.header("x-spam-score").first()?.trim().parse().ok()?;
        Some((s / SPAM_MAX * 100.0).clamp(0.0, 100.0).round() as u8)
    }
}

fn ours(script: &str, msg: &str) -> Verdict {
    let headers = headers(msg);
    let view = View(
        Facts {
            headers: &headers,
            from: SENDER,
            to: RECIPIENT,
            size: msg.len() as u64,
        },
        msg.as_bytes(),
    );
    let actions = match Script::parse(script).and_then(|s| s.run(&view)) {
        Ok(a) => a,
        Err(_) => return ["error".to_string()].into(),
    };
    actions
        .iter()
        .map(|a| match a {
            Action::Keep { flags } => action_line("fileinto", "INBOX", flags),
            Action::FileInto { mailbox, flags } => action_line("fileinto", mailbox, flags),
            Action::Redirect(r) => action_line("redirect", r, &[]),
        })
        .collect()
}

/// Parses `sieve-test`'s "Performed actions" and "Implicit keep" lists.
fn parse_pigeonhole(out: &str) -> Verdict {
    let mut v = Verdict::new();
    let mut cur: Option<(String, String, Vec<String>)> = None;
    let flush = |cur: &mut Option<(String, String, Vec<String>)>, v: &mut Verdict| {
        if let Some((k, a, f)) = cur.take() {
            v.insert(action_line(&k, &a, &f));
        }
    };
    for line in out.lines() {
        let t = line.trim();
        if let Some(item) = t.strip_prefix("* ") {
            flush(&mut cur, &mut v);
            let item = item.trim();
            cur = Some(
                if let Some(f) = item.strip_prefix("store message in folder: ") {
                    ("fileinto".into(), f.to_string(), vec![])
                } else if let Some(r) = item.strip_prefix("redirect message to: ") {
                    let r = r.trim_start_matches('<').trim_end_matches('>');
                    ("redirect".into(), r.to_string(), vec![])
                } else if item == "discard" {
                    continue;
                } else {
                    (item.to_string(), String::new(), vec![])
                },
            );
        } else if let Some(f) = t.strip_prefix("+ add IMAP flags: ") {
            if let Some((_, _, flags)) = &mut cur {
                flags.extend(f.split_whitespace().map(str::to_string));
            }
        }
    }
    flush(&mut cur, &mut v);
    v
}

struct Pigeonhole {
    dir: PathBuf,
}

impl Pigeonhole {
    /// A scratch directory `sieve-test` (which drops to `nobody`) may read and write.
    fn new() -> Option<Pigeonhole> {
        let probe = Command::new("sieve-test").arg("-h").output();
        if probe.is_err() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("sieve-diff-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("mail")).ok()?;
        for m in MAILBOXES.iter().filter(|m| **m != "INBOX") {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(dir.join(format!("mail/.{m}/{sub}"))).ok()?;
            }
        }
        let conf = format!(
            "base_dir = {d}/run\nlog_path = /dev/stderr\nmail_uid = nobody\nmail_gid = nogroup\n\
             first_valid_uid = 0\nfirst_valid_gid = 0\nmail_location = maildir:{d}/mail\n\
             plugin {{\n  sieve_extensions = +spamtest +spamtestplus +virustest\n  \
             sieve_spamtest_status_type = score\n  \
             sieve_spamtest_status_header = X-Spam-Score\n  \
             sieve_spamtest_max_value = {SPAM_MAX}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("dovecot.conf"), conf).ok()?;
        Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(&dir)
            .status()
            .ok()?;
        Some(Pigeonhole { dir })
    }

    fn run(&self, script: &str, msg: &str) -> Verdict {
        let s = self.dir.join("script.sieve");
        let m = self.dir.join("message.eml");
        if std::fs::write(&s, script).is_err() || std::fs::write(&m, msg).is_err() {
            return ["error".to_string()].into();
        }
        let out = Command::new("sieve-test")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["-f", SENDER, "-r", RECIPIENT, "-a", RECIPIENT])
            .args(["-x", "+editheader"])
            .arg(&s)
            .arg(&m)
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let err = String::from_utf8_lossy(&o.stderr);
                if err.contains("final result: failed") {
                    return ["error".to_string()].into();
                }
                parse_pigeonhole(&String::from_utf8_lossy(&o.stdout))
            }
            _ => ["error".to_string()].into(),
        }
    }
}

impl Drop for Pigeonhole {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `script message` → reason, from the exceptions file.
fn exceptions() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(corpus().join("exceptions.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.splitn(3, char::is_whitespace);
            let s = it.next()?.to_string();
            let m = it.next()?.to_string();
            Some(((s, m), it.next().unwrap_or("").trim().to_string()))
        })
        .collect()
}

#[test]
fn agrees_with_pigeonhole() {
    let Some(ph) = Pigeonhole::new() else {
        println!("SKIP: sieve-test (Debian dovecot-sieve) is not installed");
        return;
    };
    let scripts = files(&corpus().join("scripts"), "sieve");
    let messages = files(&corpus().join("messages"), "eml");
    assert!(
        scripts.len() >= 60 && !messages.is_empty(),
        "corpus missing"
    );
    let exceptions = exceptions();
    let (mut pairs, mut agree, mut excused) = (0, 0, 0);
    let mut failures = Vec::new();
    for s in &scripts {
        let script = std::fs::read_to_string(s).expect("script");
        for m in &messages {
            let msg = std::fs::read_to_string(m).expect("message");
            pairs += 1;
            let (a, b) = (ours(&script, &msg), ph.run(&script, &msg));
            let key = (name(s), name(m));
            if a == b {
                agree += 1;
            } else if let Some(reason) = exceptions.get(&key) {
                excused += 1;
                println!(
                    "EXCEPTION {} {}: {reason}\n  ours {a:?}\n  pigeonhole {b:?}",
                    key.0, key.1
                );
            } else {
                failures.push(format!(
                    "{} {}:\n  ours       {a:?}\n  pigeonhole {b:?}",
                    key.0, key.1
                ));
            }
        }
    }
    println!(
        "{pairs} pairs: {agree} agree, {excused} listed exceptions, {} disagree",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}

#[test]
fn pigeonhole_output_is_normalised() {
    let out = "\nPerformed actions:\n\n * store message in folder: A\n        + add IMAP flags: \\flagged foo\n * redirect message to: <x@y.test>\n * discard\n\nImplicit keep:\n\n * store message in folder: INBOX\n";
    let want: Verdict = [
        "fileinto A flags=\\flagged foo",
        "redirect x@y.test",
        "keep",
    ]
    .map(String::from)
    .into();
    assert_eq!(parse_pigeonhole(out), want);
    assert_eq!(
        parse_pigeonhole("Performed actions:\n  (none)\nImplicit keep:\n  (none)\n"),
        Verdict::new()
    );
}
