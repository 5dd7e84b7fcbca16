//! Builds the TensorRT shim when the `tensorrt` feature is on and TensorRT 10 and CUDA are found.
//!
//! Search order for TensorRT: `$TENSORRT_ROOT/{include,lib}` (also `lib64`), then JetPack's
//! `/usr/include/aarch64-linux-gnu` + `/usr/lib/aarch64-linux-gnu`, then the x86_64 Debian paths, then `/usr`.
//! CUDA: `$CUDA_HOME`, `$CUDA_PATH`, `/usr/local/cuda`. When something is missing the crate still builds: no cfg
//! `skelact_tensorrt` is set, and `SKELACT_TENSORRT_SEARCHED` tells the Rust side what was searched so that loading
//! an engine can say it.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skelact_tensorrt)");
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["TENSORRT_ROOT", "CUDA_HOME", "CUDA_PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if env::var_os("CARGO_FEATURE_TENSORRT").is_none() {
        println!("cargo::rustc-env=SKELACT_TENSORRT_SEARCHED=the `tensorrt` feature is off");
        return;
    }
    println!("cargo::rerun-if-changed=src/shim.cpp");

    let (tensorrt, tensorrt_searched) = find_tensorrt();
    let (cuda, cuda_searched) = find_cuda();
    match (tensorrt, cuda) {
        (Some((trt_include, trt_lib)), Some((cuda_include, cuda_lib))) => {
            build_shim(&trt_include, &cuda_include);
            println!("cargo::rustc-link-search=native={}", trt_lib.display());
            println!("cargo::rustc-link-search=native={}", cuda_lib.display());
            println!("cargo::rustc-link-lib=dylib=nvinfer");
            println!("cargo::rustc-link-lib=dylib=cudart");
            println!("cargo::rustc-cfg=skelact_tensorrt");
            println!(
                "cargo::rustc-env=SKELACT_TENSORRT_SEARCHED=found NvInfer.h in {} and libnvinfer in {}",
                trt_include.display(),
                trt_lib.display()
            );
        }
        (tensorrt, cuda) => {
            let mut missing = Vec::new();
            if tensorrt.is_none() {
                missing.push(format!("NvInfer.h + libnvinfer.so (looked in {tensorrt_searched})"));
            }
            if cuda.is_none() {
                missing.push(format!("cuda_runtime_api.h + libcudart.so (looked in {cuda_searched})"));
            }
            let missing = missing.join("; ");
            println!("cargo::warning=TensorRT backend built without TensorRT: missing {missing}");
            println!("cargo::rustc-env=SKELACT_TENSORRT_SEARCHED=missing {missing}");
        }
    }
}

/// (include dir, lib dir) of TensorRT, and a description of where we looked.
fn find_tensorrt() -> (Option<(PathBuf, PathBuf)>, String) {
    let mut candidates: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    if let Some(root) = env::var_os("TENSORRT_ROOT").map(PathBuf::from) {
        candidates.push((root.join("include"), vec![root.join("lib"), root.join("lib64")]));
    }
    for triple in ["aarch64-linux-gnu", "x86_64-linux-gnu"] {
        candidates.push((Path::new("/usr/include").join(triple), vec![Path::new("/usr/lib").join(triple)]));
    }
    candidates.push((PathBuf::from("/usr/include"), vec![PathBuf::from("/usr/lib"), PathBuf::from("/usr/lib64")]));
    search(&candidates, "NvInfer.h", "libnvinfer.so")
}

fn find_cuda() -> (Option<(PathBuf, PathBuf)>, String) {
    let mut roots: Vec<PathBuf> =
        ["CUDA_HOME", "CUDA_PATH"].iter().filter_map(env::var_os).map(PathBuf::from).collect();
    roots.push(PathBuf::from("/usr/local/cuda"));
    let mut candidates: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for root in roots {
        candidates.push((
            root.join("include"),
            vec![root.join("lib64"), root.join("targets/aarch64-linux/lib"), root.join("targets/x86_64-linux/lib")],
        ));
    }
    search(&candidates, "cuda_runtime_api.h", "libcudart.so")
}

fn search(candidates: &[(PathBuf, Vec<PathBuf>)], header: &str, library: &str) -> (Option<(PathBuf, PathBuf)>, String) {
    let mut searched = Vec::new();
    for (include, libs) in candidates {
        let lib_names: Vec<String> = libs.iter().map(|l| l.display().to_string()).collect();
        searched.push(format!("{} with {}", include.display(), lib_names.join(" or ")));
        if !include.join(header).is_file() {
            continue;
        }
        if let Some(lib) = libs.iter().find(|lib| lib.join(library).exists()) {
            return (Some((include.clone(), lib.clone())), searched.join(", "));
        }
    }
    (None, searched.join(", "))
}

#[cfg(feature = "tensorrt")]
fn build_shim(trt_include: &Path, cuda_include: &Path) {
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/shim.cpp")
        .include(trt_include)
        .include(cuda_include)
        .warnings(true)
        .compile("skelact_trt_shim");
}

#[cfg(not(feature = "tensorrt"))]
fn build_shim(_: &Path, _: &Path) {}
