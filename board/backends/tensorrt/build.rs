//! Compiles the TensorRT shim (`src/shim/`) against TensorRT 10's public headers. Nothing is linked: the Rust side
//! opens `libnvinfer.so.10` and `libcudart.so.12` at run time (`src/library.rs`), so the shim compiles on every
//! machine that has the headers, GPU or not, and CI compiles it on every change.
//!
//! Where `NvInfer.h` is looked for, in order: `$TENSORRT_INCLUDE`, `$TENSORRT_ROOT/include`, the headers beside the
//! project (`../shared/sdk/tensorrt-10.3/include` from the workspace root), then where JetPack and NVIDIA's
//! packages install them (`/usr/include/{aarch64,x86_64}-linux-gnu`, `/usr/include`, `/usr/local/tensorrt/include`).
//! No CUDA toolkit is needed: TensorRT's headers only want CUDA's stream and event handle types, which
//! `src/shim/cuda_runtime_api.h` declares.
//!
//! Without the headers the crate still builds, without the shim: cfg `skelact_tensorrt` stays unset, a cargo
//! warning says where the build looked, and `SKELACT_TENSORRT_SEARCHED` carries the same to `build_status()`.

use std::env;
use std::path::{Path, PathBuf};

/// The TensorRT release whose headers the project keeps beside it (design.md, "Real data").
const SHARED_HEADERS: &str = "../shared/sdk/tensorrt-10.3/include";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skelact_tensorrt)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/shim");
    for var in ["TENSORRT_INCLUDE", "TENSORRT_ROOT"] {
        println!("cargo::rerun-if-env-changed={var}");
    }

    let candidates = header_candidates();
    match candidates.iter().find(|dir| dir.join("NvInfer.h").is_file()) {
        Some(include) => {
            // A header edited or replaced in place must rebuild the shim.
            println!("cargo::rerun-if-changed={}", include.join("NvInferRuntime.h").display());
            build_shim(include);
            println!("cargo::rustc-cfg=skelact_tensorrt");
            println!("cargo::rustc-env=SKELACT_TENSORRT_SEARCHED=compiled against NvInfer.h in {}", include.display());
        }
        None => {
            let looked: Vec<String> = candidates.iter().map(|dir| dir.display().to_string()).collect();
            let looked = looked.join(", ");
            // Rebuild once the headers appear in any of those places.
            for dir in &candidates {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
            println!("cargo::warning=TensorRT shim not compiled: no NvInfer.h in {looked} (set TENSORRT_INCLUDE)");
            println!("cargo::rustc-env=SKELACT_TENSORRT_SEARCHED=no NvInfer.h in {looked}");
        }
    }
}

/// Folders that may hold `NvInfer.h`, in the order they are tried.
fn header_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(include) = env::var_os("TENSORRT_INCLUDE").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(include));
    }
    if let Some(root) = env::var_os("TENSORRT_ROOT").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(root).join("include"));
    }
    // The manifest is board/backends/tensorrt; the workspace root is three folders up.
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    if let Some(root) = manifest.ancestors().nth(3) {
        candidates.push(root.join(SHARED_HEADERS));
    }
    for dir in [
        "/usr/include/aarch64-linux-gnu",
        "/usr/include/x86_64-linux-gnu",
        "/usr/include",
        "/usr/local/tensorrt/include",
    ] {
        candidates.push(PathBuf::from(dir));
    }
    candidates
}

fn build_shim(tensorrt_include: &Path) {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("src/shim/shim.cpp")
        // Our CUDA declarations first, so that they, not a toolkit's, are what TensorRT's headers see.
        .include("src/shim")
        .warnings(true)
        .extra_warnings(true);
    // TensorRT's headers as system headers: their own warnings are not ours to fix. `/usr/include` is searched
    // already, and naming it with -isystem would break libstdc++'s `#include_next`.
    if tensorrt_include != Path::new("/usr/include") {
        build.flag("-isystem").flag(tensorrt_include.to_string_lossy().as_ref());
    }
    build.compile("skelact_trt_shim");
}
