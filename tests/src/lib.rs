//! Shared helpers for skelact's end-to-end tests.

pub mod alloc_count;
pub mod stream;

use std::io::Write;
use std::path::PathBuf;

/// The repository root (the parent of this crate).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Reports a test that cannot run here as `SKIPPED: <test>: <why>` on stderr; the caller then returns.
///
/// It writes to the process's stderr directly, not through `eprintln!`, because the test harness captures
/// `eprintln!` and shows it only for failing tests: a skip must be visible in a passing run's log.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// Where the shared real-sensor recordings live: `$SKELACT_FIXTURES` or `../shared/fixtures` beside the checkout.
///
/// They are read in place because the NTU terms do not allow copying them into the repository.
pub fn shared_fixtures() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("SKELACT_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("..").join("shared").join("fixtures"),
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("{} is absent; set SKELACT_FIXTURES to run the NTU recording tests", dir.display()))
    }
}

/// The NTU `.skeleton` recordings, sorted by name, or why there are none (for [`skip`]).
pub fn ntu_recordings() -> Result<Vec<PathBuf>, String> {
    let dir = shared_fixtures()?.join("ntu");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "skeleton"))
        .collect();
    if files.is_empty() {
        return Err(format!("{} holds no .skeleton recording", dir.display()));
    }
    files.sort();
    Ok(files)
}
