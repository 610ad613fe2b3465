//! The bodies of the cargo-fuzz targets in `fuzz/`, shared with the test that
//! replays their seed corpora (`tests/fuzz_corpus.rs`), so both run exactly
//! the same code. Every function must return normally for any input; a
//! broken invariant panics, which is what the fuzzer reports.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::aliases::{AliasTarget, AliasesFile};
use crate::files::{read_text, ReadOutcome};
use crate::passwd_file::{PasswdEntry, PasswdFile};
use crate::resolve::{self, MAX_ALIAS_DEPTH};
use crate::{snapshot, UserDbConfig};

/// Separates the aliases file from the include files in an `aliases` input.
pub const PART_SEPARATOR: &[u8] = b"\n%%\n";
/// Include files an `aliases` input can provide, named `1` to `6` in the
/// scratch directory (`:include:1`, or `:include:<dir>/1`).
pub const MAX_INCLUDE_PARTS: usize = 6;
/// Addresses resolved per input, to bound the time one input takes.
const MAX_PROBES: usize = 64;

/// The passwd-file users every `aliases` input can resolve to.
const PASSWD: &str = "joe@a.test:{PLAIN}x\nann@a.test:{PLAIN}x\nroot:{PLAIN}x\n";

fn entries(file: &PasswdFile) -> Vec<PasswdEntry> {
    file.entries().cloned().collect()
}

/// Parses a passwd-file text, then checks that writing it back and reading it
/// again keeps every entry: once as loaded (lines kept verbatim), and once
/// with every entry that mailctl could edit re-rendered from its fields.
/// Returns the number of entries.
pub fn passwd_file(data: &[u8]) -> usize {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/fuzz/passwd");
    let mut file = PasswdFile::parse(path, &text);
    let loaded = entries(&file);
    for issue in file.issues() {
        assert!(issue.line.is_some_and(|n| n >= 1), "{issue}");
    }
    for e in &loaded {
        if let Some(p) = &e.password {
            if p.is_cheap_to_verify() {
                let _ = p.verify(b"fuzz");
            }
        }
    }

    let again = PasswdFile::parse(path, &file.render());
    assert_eq!(entries(&again), loaded, "verbatim round trip");

    let logins: Vec<String> = loaded.iter().map(|e| e.login.clone()).collect();
    for login in &logins {
        // A no-op edit: validates the entry and marks it for re-rendering.
        let _ = file.update(login, |_| {});
    }
    let rendered = PasswdFile::parse(path, &file.render());
    assert_eq!(entries(&rendered), loaded, "re-rendered round trip");
    loaded.len()
}

/// A reader that serves files from `dir` only: absolute paths elsewhere and
/// any `..` are treated as missing files, so hostile `:include:` targets such
/// as `/etc/shadow` are never opened.
fn confined_reader(dir: &Path) -> impl Fn(&Path) -> io::Result<ReadOutcome> + '_ {
    move |path: &Path| {
        let inside = path.starts_with(dir)
            && path
                .components()
                .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
        if inside {
            read_text(path)
        } else {
            Ok(ReadOutcome::Missing)
        }
    }
}

/// The addresses to resolve: every alias, catch-all and named target, plus
/// a few fixed ones.
fn probes(file: &AliasesFile) -> Vec<String> {
    let mut out = vec![
        "joe@a.test".to_string(),
        "nobody@a.test".to_string(),
        "joe+tag@a.test".to_string(),
        "someone@b.test".to_string(),
        "root".to_string(),
    ];
    for e in file.entries() {
        match e.name.strip_prefix('@') {
            Some(domain) => out.push(format!("catchall-probe@{domain}")),
            None if e.name.contains('@') => out.push(e.name.clone()),
            None => {
                out.push(e.name.clone());
                out.push(format!("{}@a.test", e.name));
            }
        }
        for t in &e.targets {
            if let AliasTarget::Address(n) | AliasTarget::Local(n) | AliasTarget::NoExpand(n) = t {
                out.push(n.clone());
            }
        }
    }
    out.truncate(MAX_PROBES);
    out
}

/// Parses an aliases text (the part of `data` before the first
/// [`PART_SEPARATOR`]; the following parts become include files `1`..`6` in
/// `dir`), checks the render→parse round trip, loads it the way the daemons
/// do (includes, depth limit) and resolves every alias. Resolution must end
/// for any table (loops, self references, include cycles) and never report a
/// chain deeper than [`MAX_ALIAS_DEPTH`]. `dir` must be an empty scratch
/// directory owned by the caller; the function writes `aliases`, `passwd` and
/// the include files there, and removes them again. Returns how many probe
/// addresses resolved to at least one destination.
pub fn aliases(data: &[u8], dir: &Path) -> usize {
    let mut parts = split(data, PART_SEPARATOR);
    let first = parts.remove(0);
    let text = String::from_utf8_lossy(first);
    let aliases_path = dir.join("aliases");

    let mut file = AliasesFile::parse(&aliases_path, &text);
    let loaded: Vec<_> = file.entries().cloned().collect();
    let again = AliasesFile::parse(&aliases_path, &file.render());
    assert_eq!(
        again.entries().cloned().collect::<Vec<_>>(),
        loaded,
        "verbatim round trip"
    );
    for e in &loaded {
        // Re-setting the same targets forces the entry to be re-rendered.
        let _ = file.set(&e.name, e.targets.clone());
    }
    let rendered = AliasesFile::parse(&aliases_path, &file.render());
    assert_eq!(
        rendered.entries().cloned().collect::<Vec<_>>(),
        loaded,
        "re-rendered round trip"
    );

    let mut written: HashMap<PathBuf, &[u8]> = HashMap::new();
    written.insert(aliases_path.clone(), text.as_bytes());
    written.insert(dir.join("passwd"), PASSWD.as_bytes());
    for (i, part) in parts.iter().take(MAX_INCLUDE_PARTS).enumerate() {
        written.insert(dir.join((i + 1).to_string()), part);
    }
    for (path, bytes) in &written {
        if std::fs::write(path, bytes).is_err() {
            // A full or vanished scratch directory is the harness's problem,
            // not a finding.
            return 0;
        }
    }
    let config = UserDbConfig {
        passwd_file: dir.join("passwd"),
        aliases_file: Some(aliases_path),
        domains_file: None,
        local_domains: vec!["a.test".into()],
        unix_accounts: None,
        recipient_delimiter: Some('+'),
        auth_cache: crate::AuthCacheConfig::default(),
    };
    let reader = confined_reader(dir);
    let snap = snapshot::load_with(&config, None, &reader);
    for path in written.keys() {
        let _ = std::fs::remove_file(path);
    }
    let Ok(snap) = snap else {
        return 0;
    };
    let mut resolved = 0;
    for address in probes(&file) {
        if let Ok(r) = resolve::resolve(&snap, &address) {
            assert!(!r.destinations.is_empty(), "{address}");
            resolved += 1;
            for d in &r.destinations {
                // Each alias or include level adds one `via` entry.
                assert!(d.via.len() <= MAX_ALIAS_DEPTH, "{address}: {:?}", d.via);
            }
        }
    }
    resolved
}

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(rest.get(..i).unwrap_or_default());
        rest = rest.get(i + sep.len()..).unwrap_or_default();
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_empty_parts() {
        assert_eq!(
            split(b"a\n%%\n\n%%\nb", PART_SEPARATOR),
            vec![&b"a"[..], b"", b"b"]
        );
        assert_eq!(split(b"", PART_SEPARATOR), vec![&b""[..]]);
    }

    #[test]
    fn confined_reader_refuses_paths_outside_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1"), "joe\n").unwrap();
        let read = confined_reader(dir.path());
        assert!(matches!(
            read(&dir.path().join("1")),
            Ok(ReadOutcome::Present { .. })
        ));
        for outside in [
            PathBuf::from("/etc/passwd"),
            dir.path().join("../1"),
            dir.path().join("sub/../1"),
        ] {
            assert!(
                matches!(read(&outside), Ok(ReadOutcome::Missing)),
                "{}",
                outside.display()
            );
        }
    }
}
