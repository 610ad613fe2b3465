//! Differential test against Dovecot Pigeonhole: every script in `tests/corpus/scripts` runs
//! on every message in `tests/corpus/messages` through both this crate and Pigeonhole's
//! `sieve-test`, and the normalised action sets must agree. A disagreement that is justified
//! is listed with its reason in `tests/corpus/exceptions.txt` (`script message reason...`).
//! Adding a case is dropping a `.sieve` or `.eml` file into the corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrymail_sieve::{Action, Facts, MessageView, Period, Script};

/// Envelope used for every message, on both sides.
const SENDER: &str = "sender@example.org";
const RECIPIENT: &str = "bob+lists@example.test";

/// The spam score that means certainly spam, on both sides.
const SPAM_MAX: f64 = 15.0;

/// Vacation periods in seconds, as delivery and the test's Pigeonhole configuration apply them.
const VACATION_DEFAULT: u64 = 7 * 86_400;
const VACATION_MIN: u64 = 86_400;
const VACATION_MAX: u64 = 60 * 86_400;

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
    /// The corpus's `include/personal` and `include/global` scripts, as Pigeonhole finds them.
    fn script(&self, name: &str, global: bool) -> Result<Option<String>, String> {
        let dir = corpus()
            .join("include")
            .join(if global { "global" } else { "personal" });
        match std::fs::read_to_string(dir.join(format!("{name}.sieve"))) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
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
    let outcome = match Script::parse(script).and_then(|s| s.evaluate(&view)) {
        Ok(o) => o,
        Err(_) => return ["error".to_string()].into(),
    };
    let mut v: Verdict = outcome
        .actions
        .iter()
        .map(|a| match a {
            Action::Keep { flags } => action_line("fileinto", "INBOX", flags),
            Action::FileInto { mailbox, flags } => action_line("fileinto", mailbox, flags),
            Action::Redirect(r) => action_line("redirect", r, &[]),
            Action::Vacation(v) => {
                let seconds = match v.period {
                    Period::Default => VACATION_DEFAULT,
                    Period::Days(d) => d * 86_400,
                    Period::Seconds(s) => s,
                };
                let seconds = seconds.clamp(VACATION_MIN, VACATION_MAX);
                let subject = v.subject.as_deref().unwrap_or("");
                action_line("vacation", &format!("{seconds} {subject}"), &[])
            }
            Action::Reject(r) if r.extended => action_line("ereject", &r.reason, &[]),
            Action::Reject(r) => action_line("reject", &r.reason, &[]),
        })
        .collect();
    if !outcome.duplicates.is_empty() {
        v.insert("track duplicate".into());
    }
    v
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
                } else if let Some(r) = item.strip_prefix("reject message with reason: ") {
                    ("reject".into(), r.to_string(), vec![])
                } else if item.starts_with("send vacation message") {
                    ("vacation".into(), String::new(), vec![])
                } else if item.starts_with("track ") && item.contains("duplicate") {
                    // The key's handle and `:last` are delivery's bookkeeping, not an action.
                    ("track duplicate".into(), String::new(), vec![])
                } else if item == "discard" {
                    continue;
                } else {
                    (item.to_string(), String::new(), vec![])
                },
            );
        } else if let Some(field) = t.strip_prefix("=> ") {
            // The vacation listing: its period and subject, each on its own line.
            if let Some((k, a, _)) = &mut cur {
                let (n, val) = field.split_once(':').unwrap_or((field, ""));
                match (k.as_str(), n.trim()) {
                    ("vacation", "seconds") => *a = format!("{}{a}", val.trim()),
                    ("vacation", "subject") => a.push_str(&format!(" {}", val.trim())),
                    _ => {}
                }
            }
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
             plugin {{\n  sieve_extensions = +spamtest +spamtestplus +virustest +vacation-seconds\n  \
             sieve = file:{d}/sieve;active={d}/.dovecot.sieve\n  \
             sieve_global = {d}/global\n  \
             sieve_vacation_min_period = {VACATION_MIN}s\n  \
             sieve_vacation_max_period = {VACATION_MAX}s\n  \
             sieve_vacation_default_period = {VACATION_DEFAULT}s\n  \
             sieve_spamtest_status_type = score\n  \
             sieve_spamtest_status_header = X-Spam-Score\n  \
             sieve_spamtest_max_value = {SPAM_MAX}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("dovecot.conf"), conf).ok()?;
        for (from, to) in [("personal", "sieve"), ("global", "global")] {
            std::fs::create_dir_all(dir.join(to)).ok()?;
            for f in files(&corpus().join("include").join(from), "sieve") {
                std::fs::copy(&f, dir.join(to).join(name(&f))).ok()?;
            }
        }
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
