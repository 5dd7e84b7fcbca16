//! Shared helpers for skelact's end-to-end tests.

pub mod alloc_count;
pub mod stream;

use std::path::PathBuf;

/// The repository root (the parent of this crate).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Where the shared real-sensor recordings live: `$SKELACT_FIXTURES` or `../shared/fixtures` beside the checkout.
///
/// They are read in place because the NTU terms do not allow copying them into the repository.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = match std::env::var_os("SKELACT_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("..").join("shared").join("fixtures"),
    };
    dir.is_dir().then_some(dir)
}

/// The NTU `.skeleton` recordings, sorted by name; empty (with a message on stderr) when the folder is absent.
pub fn ntu_recordings() -> Vec<PathBuf> {
    let Some(dir) = shared_fixtures().map(|d| d.join("ntu")) else {
        eprintln!("SKIPPED: ../shared/fixtures is absent; set SKELACT_FIXTURES to run the NTU recording tests");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "skeleton"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
