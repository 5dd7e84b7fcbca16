//! Subcommand implementations; `main.rs` only parses arguments.

pub mod bench;
pub mod convert;
pub mod demo;
pub mod enroll;
pub mod eval;
pub mod info;
pub mod install;
pub mod record;
pub mod replay;
pub mod run;
pub mod validate;

use std::path::{Path, PathBuf};

use skelact_runtime::wire::{PROTOCOL_MAJOR, PROTOCOL_MINOR};
use skelact_tensorrt as tensorrt;

pub fn print_version() {
    println!("skelact {} (protocol v{PROTOCOL_MAJOR}.{PROTOCOL_MINOR})", env!("CARGO_PKG_VERSION"));
    println!("backend tract: built in (CPU)");
    match tensorrt::build_status() {
        Ok(found) => println!("backend tensorrt: built in ({found})"),
        Err(error) => println!("backend tensorrt: unavailable ({error})"),
    }
}

/// A file committed to the repository: relative to the working directory if it is there, else relative to the
/// repository this binary was built from (so `cargo run -p skelact -- demo` works from any
/// folder of a clone).
pub fn committed_path(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}
