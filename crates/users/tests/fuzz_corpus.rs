//! Every seed of the cargo-fuzz targets (fuzz/corpus/<target>/) runs here as
//! a plain regression test, through the same functions the targets call.

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn passwd_file_corpus() {
    let inputs = corpus("passwd_file");
    assert!(inputs.len() >= 8, "passwd_file corpus has {}", inputs.len());
    for (name, data) in inputs {
        eprintln!("passwd_file/{name}");
        let n = ferrymail_users::fuzzing::passwd_file(&data);
        if name == "real" {
            assert_eq!(n, 11, "entries of the realistic seed");
        }
    }
}

#[test]
fn aliases_corpus() {
    let inputs = corpus("aliases");
    assert!(inputs.len() >= 8, "aliases corpus has {}", inputs.len());
    for (name, data) in inputs {
        eprintln!("aliases/{name}");
        let dir = tempfile::tempdir().unwrap();
        let resolved = ferrymail_users::fuzzing::aliases(&data, dir.path());
        if matches!(
            name.as_str(),
            "real" | "loops" | "include_cycle" | "fan_out"
        ) {
            assert!(resolved >= 3, "{name}: only {resolved} probes resolved");
        }
        // The harness cleans up after itself.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{name}");
    }
}
