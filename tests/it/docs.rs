//! completions/ and man/ are generated from the CLI definition and
//! committed; this test fails when they are stale. `TOKCTL_BLESS=1`
//! rewrites the repository's copies instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::Tokctl;

const DIRS: [&str; 2] = ["completions", "man"];

/// File name -> bytes of every file in `dir` (missing dir: empty).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("listing a docs dir").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(&p).expect("reading a docs file"))
        })
        .collect()
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let run = Tokctl::new();
    let out_dir: PathBuf = run.dir().join("generated");
    let out_text = out_dir.to_string_lossy().to_string();
    run.run(&["generate-docs", "--out", &out_text])
        .expect_code(0);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("TOKCTL_BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut stale = Vec::new();
    for d in DIRS {
        let fresh = files(&out_dir.join(d));
        assert!(!fresh.is_empty(), "generate-docs wrote nothing into {d}/");
        let committed = files(&repo.join(d));
        if fresh == committed {
            continue;
        }
        if bless {
            let target = repo.join(d);
            let _ = std::fs::remove_dir_all(&target);
            std::fs::create_dir_all(&target).expect("creating a docs dir in the repo");
            for (name, bytes) in &fresh {
                std::fs::write(target.join(name), bytes).expect("writing a blessed docs file");
            }
            continue;
        }
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        let differ: Vec<&String> = fresh
            .iter()
            .filter(|(n, b)| committed.get(*n) != Some(*b))
            .map(|(n, _)| n)
            .collect();
        stale.push(format!(
            "{d}/: generated {:?}, committed {:?}, differing {differ:?}",
            names(&fresh),
            names(&committed)
        ));
    }
    assert!(
        stale.is_empty(),
        "completions/ or man/ are stale; run `TOKCTL_BLESS=1 cargo test docs` and commit:\n{}",
        stale.join("\n")
    );
}
