//! Where the tools find the files that ship with skelact when no option names them: the default bundle (`demo`,
//! `classify`, `eval`, `bench`) and the demo's session.
//!
//! An installed binary has no checkout around it, so the files are looked for in this order (the first that
//! exists wins):
//!
//! 1. the bundle only: `$SKELACT_BUNDLE`, a file (when set, it must exist: a typo should not fall through to
//!    another model);
//! 2. `models/zoo/` under the working directory (a checkout you are in);
//! 3. `../share/skelact/` beside the binary's folder (`/usr/bin/skelact` → `/usr/share/skelact/`,
//!    `/usr/local/bin/skelact` → `/usr/local/share/skelact/`);
//! 4. `/opt/skelact/` (where `board/dist/skelact.service` installs the factory bundle) and `/usr/share/skelact/`;
//! 5. `models/zoo/` of the checkout the binary was built from (`cargo run` from anywhere in a clone).
//!
//! Each folder holds the files as `models/zoo/` does: `default.skb`, `sessions/session-utd-mhad-s4-p001.skr` and
//! its `.segments.json`.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The variable that names the default bundle.
pub const BUNDLE_VARIABLE: &str = "SKELACT_BUNDLE";
/// The default bundle's name in a data folder.
pub const DEFAULT_BUNDLE: &str = "default.skb";
/// The demo's session (and its `.segments.json` beside it) in a data folder.
pub const DEMO_SESSION: &str = "sessions/session-utd-mhad-s4-p001.skr";

/// The data folders, in search order (steps 2 to 5 of the module documentation).
pub fn data_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("models/zoo")];
    // `current_exe` resolves symbolic links, so a link in /usr/local/bin to a binary elsewhere finds that binary's
    // share folder.
    if let Some(prefix) = std::env::current_exe().ok().as_deref().and_then(Path::parent).and_then(Path::parent) {
        dirs.push(prefix.join("share/skelact"));
    }
    dirs.push(PathBuf::from("/opt/skelact"));
    dirs.push(PathBuf::from("/usr/share/skelact"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo"));
    dirs
}

/// The first data folder that holds `relative`, or an error listing every place looked.
pub fn find(relative: &str) -> anyhow::Result<PathBuf> {
    let candidates: Vec<PathBuf> = data_dirs().into_iter().map(|dir| dir.join(relative)).collect();
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!("{relative} was not found; looked in {} (board/README.md, \"Installing\")", looked.join(", "))
}

/// The bundle to use: `given` (an option), else `$SKELACT_BUNDLE`, else the data folders' `default.skb`.
pub fn bundle(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(BUNDLE_VARIABLE) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("${BUNDLE_VARIABLE} names {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    find(DEFAULT_BUNDLE).map_err(|error| error.context("no default bundle: give --bundle or set $SKELACT_BUNDLE"))
}
