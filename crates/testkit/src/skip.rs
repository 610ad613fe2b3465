//! One way for a test that cannot run here to say so: a `SKIP: <reason>` line on the real
//! stderr (not swallowed by the test harness's capture), naming the test.

use std::io::Write;

/// Prints `SKIP: <reason> (<test>)`.
pub fn report(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let _ = writeln!(std::io::stderr(), "SKIP: {reason} ({test})");
}

/// Whether the test must stop because it is not running as root; says why if so. Use as
/// `if skip_unless_root("…") { return; }`.
pub fn skip_unless_root(reason: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    report(&format!("needs root ({reason})"));
    true
}

/// Reports the test as skipped (`format!` arguments) and returns from it.
#[macro_export]
macro_rules! skip {
    ($($why:tt)+) => {{
        $crate::skip::report(&format!($($why)+));
        return;
    }};
}
