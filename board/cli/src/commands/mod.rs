//! Subcommand implementations; `main.rs` only parses arguments.

pub mod bench;
pub mod classify;
pub mod convert;
pub mod demo;
pub mod enroll;
pub mod eval;
pub mod info;
pub mod install;
pub mod labels;
pub mod monitor;
pub mod record;
pub mod replay;
pub mod run;
pub mod search_path;
pub mod validate;

use std::path::{Path, PathBuf};

use skelact_runtime::wire::{PROTOCOL_MAJOR, PROTOCOL_MINOR};
use skelact_tensorrt as tensorrt;

/// Asks the daemon with process id `pid` to reload: on SIGHUP it finishes what is queued, reads its configuration,
/// bundle and overlay again, and starts over on the same port.
pub fn ask_to_reload(pid: i32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use nix::sys::signal::{kill, Signal};
        kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP).map_err(|e| e.to_string())
    }
    #[cfg(not(unix))]
    Err(format!("signals are Unix only; restart the daemon (pid {pid})"))
}

pub fn print_version() {
    println!("skelact {} (protocol v{PROTOCOL_MAJOR}.{PROTOCOL_MINOR})", env!("CARGO_PKG_VERSION"));
    println!("backend tract: built in (CPU)");
    // The shim is a build-time matter; TensorRT and the GPU are found (or not) at run time.
    match tensorrt::build_status() {
        Ok(found) => match tensorrt::TensorRtEngine::device_info(&tensorrt::TensorRtOptions::default()) {
            Ok(device) => println!(
                "backend tensorrt: TensorRT {} on {} (compute capability {}); shim {found}",
                device.tensorrt, device.gpu_name, device.compute_capability
            ),
            Err(error) => println!("backend tensorrt: shim {found}; unavailable here: {error}"),
        },
        Err(error) => println!("backend tensorrt: unavailable ({error})"),
    }
}

/// A path relative to the repository: relative to the working directory if it is there, else relative to the
/// repository this binary was built from (so `cargo run -p skelact -- eval` finds `../shared/datasets` from any
/// folder of a clone). Files that ship with an installed binary are found through [`search_path`] instead.
pub fn committed_path(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}
