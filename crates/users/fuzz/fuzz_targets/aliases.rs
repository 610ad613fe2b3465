#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch directory per fuzzing process for the aliases, passwd and
/// include files of each input (emptied again after every input). Includes
/// outside it are never read.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("ferrymail-users-fuzz-")
            .tempdir()
            .expect("scratch directory")
            .keep()
    })
}

fuzz_target!(|data: &[u8]| {
    // Any aliases table with includes: no panic, render→parse keeps every
    // entry, and resolving every alias terminates.
    ferrymail_users::fuzzing::aliases(data, scratch());
});
