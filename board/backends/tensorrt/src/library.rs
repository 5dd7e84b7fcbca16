//! Finding and opening TensorRT (`libnvinfer.so.10`) and the CUDA runtime (`libcudart.so.12`) at run time, the
//! way the onnxruntime backend finds its library, so that one binary runs with and without them.
//!
//! Where `libnvinfer.so.10` is looked for, in order:
//! 1. the path the caller gives ([`TensorRtOptions::library`](crate::TensorRtOptions::library)); it must exist;
//! 2. `$SKELACT_TENSORRT`;
//! 3. [`KNOWN_LOCATIONS`] (JetPack's and NVIDIA's packages), then the PyPI `tensorrt-cu12` wheel's
//!    `tensorrt_libs/` in `.venv/` of the current directory (what `gpu-check.sh` installs) and in system Python
//!    site-packages;
//! 4. the system loader by name (`LD_LIBRARY_PATH`, `/etc/ld.so.cache`).
//!
//! `libcudart.so.12`: `$SKELACT_CUDART`, the folder `libnvinfer` came from, the `nvidia-cuda-runtime-cu12` wheel's
//! `nvidia/cuda_runtime/lib/` beside a wheel's `tensorrt_libs/` (that wheel's libnvinfer needs it), the CUDA
//! toolkit's folders, [`KNOWN_LOCATIONS`], then the system loader. It is opened first, so that a libnvinfer that
//! needs it finds it already loaded.
//!
//! The driver's `libcuda.so.1` is opened by name, only for the GPU's name, and may be absent.
//!
//! Every failure is a [`TensorRtError`] naming the library and every place looked at, or the file and the
//! missing symbol; nothing panics. What has been opened stays loaded for the life of the process.

use std::ffi::{c_char, c_int, c_uint, c_void, OsStr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::Library;

use crate::ffi::Api;
use crate::{version_from_library_code, TensorRtError};

/// TensorRT's library, by the name of the major version the shim's headers speak.
pub const NVINFER: &str = "libnvinfer.so.10";
/// The CUDA runtime TensorRT 10 for CUDA 12 uses.
pub const CUDART: &str = "libcudart.so.12";
/// The CUDA driver (installed with the GPU driver, never in a wheel).
pub const CUDA_DRIVER: &str = "libcuda.so.1";
/// The TensorRT major version the shim is compiled for; a library of another major has another ABI.
pub const TENSORRT_MAJOR: u16 = 10;

/// System folders searched for both libraries, after the configured path and the environment.
pub const KNOWN_LOCATIONS: [&str; 5] = [
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/tensorrt/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// Where the CUDA 12 toolkit keeps its runtime (JetPack links `/usr/local/cuda` to it).
const CUDA_TOOLKIT_LOCATIONS: [&str; 3] =
    ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/aarch64-linux/lib", "/usr/local/cuda/targets/x86_64-linux/lib"];

/// A library looked for: its file name, how errors name it, and how to get it.
#[derive(Clone, Copy)]
struct Wanted {
    file: &'static str,
    what: &'static str,
    hint: &'static str,
}

const TENSORRT: Wanted = Wanted {
    file: NVINFER,
    what: "TensorRT 10 (libnvinfer.so.10)",
    hint: "Install TensorRT 10 (JetPack 6: `sudo apt-get install tensorrt`; elsewhere \
        `.venv/bin/pip install tensorrt-cu12==10.3.*`) or give its path (SKELACT_TENSORRT)",
};

const CUDA_RUNTIME: Wanted = Wanted {
    file: CUDART,
    what: "the CUDA 12 runtime (libcudart.so.12)",
    hint: "Install the CUDA 12 runtime (JetPack 6 has it; elsewhere \
        `.venv/bin/pip install nvidia-cuda-runtime-cu12`) or give its path (SKELACT_CUDART)",
};

/// TensorRT and CUDA, opened and resolved.
#[derive(Debug)]
pub struct Loaded {
    pub(crate) api: Api,
    /// The `libnvinfer.so.10` in use (or its bare name, where the system loader found it).
    pub nvinfer: PathBuf,
    /// The `libcudart.so.12` in use (likewise).
    pub cudart: PathBuf,
    /// `getInferLibVersion()` of the library.
    pub version: skelact_runtime::bundle::TensorRtVersion,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Opens TensorRT and the CUDA runtime once per process; later calls return the same. `configured` is the
/// `libnvinfer.so.10` to use; a different one after the first is refused (one process uses one library).
/// Failures are not remembered, so a library installed meanwhile is found by the next call.
pub fn load(configured: Option<&Path>) -> Result<&'static Loaded, TensorRtError> {
    if let Some(loaded) = LOADED.get() {
        return match configured {
            Some(path) if path != loaded.nvinfer => {
                Err(TensorRtError::OtherLibrary { first: loaded.nvinfer.display().to_string() })
            }
            _ => Ok(loaded),
        };
    }
    let loaded = open(configured)?;
    tracing::info!(nvinfer = %loaded.nvinfer.display(), cudart = %loaded.cudart.display(), tensorrt = %loaded.version, "TensorRT loaded");
    // Two threads may both have opened it; the loader counts references, and the first stays.
    Ok(LOADED.get_or_init(|| loaded))
}

/// Where a library was found: a file, or nowhere among the folders (the system loader is tried last by name).
enum Found {
    File(PathBuf),
    NotInFolders(Vec<String>),
}

/// Finds, opens and resolves both libraries, and checks TensorRT's major version. TensorRT's absence is
/// reported before the CUDA runtime's, as it is the one a user sets out to install.
fn open(configured: Option<&Path>) -> Result<Loaded, TensorRtError> {
    let nvinfer_found = locate_nvinfer(configured)?;
    let cudart_found = locate_cudart(match &nvinfer_found {
        Found::File(path) => Some(path),
        Found::NotInFolders(_) => None,
    });
    // The runtime is opened first, so that a libnvinfer that needs it (the PyPI wheel's) finds it loaded already;
    // its failure is reported after TensorRT's.
    let cudart = open_found(CUDA_RUNTIME, cudart_found);
    let (nvinfer, nvinfer_path) = open_found(TENSORRT, nvinfer_found)?;
    let tensorrt = resolve_tensorrt(&nvinfer, &nvinfer_path)?;
    let (cudart, cudart_path) = cudart?;
    let cuda = resolve_cuda(&cudart, &cudart_path)?;
    let driver = open_driver();
    let api = assemble(tensorrt, cuda, driver.as_ref());
    // SAFETY: `getInferLibVersion` is `int32_t getInferLibVersion() noexcept` (NvInferRuntimeBase.h).
    let code = unsafe { (api.get_infer_lib_version)() };
    let version = version_from_library_code(code);
    if version.major != TENSORRT_MAJOR {
        return Err(TensorRtError::WrongVersion {
            path: nvinfer_path.display().to_string(),
            found: version.to_string(),
            built: TENSORRT_MAJOR,
        });
    }
    // The resolved functions must stay valid for the life of the process: the libraries are never closed.
    std::mem::forget(nvinfer);
    std::mem::forget(cudart);
    std::mem::forget(driver);
    Ok(Loaded { api, nvinfer: nvinfer_path, cudart: cudart_path, version })
}

/// `libnvinfer.so.10`: `configured` if given (it must exist), else `$SKELACT_TENSORRT`, else the known folders.
fn locate_nvinfer(configured: Option<&Path>) -> Result<Found, TensorRtError> {
    if let Some(path) = configured {
        if path.is_file() {
            return Ok(Found::File(path.to_path_buf()));
        }
        return Err(TensorRtError::NotFound {
            library: TENSORRT.what.into(),
            looked: vec![format!("{} (configured)", path.display())],
            hint: TENSORRT.hint.into(),
        });
    }
    let mut looked = Vec::new();
    if let Some(path) = from_environment("SKELACT_TENSORRT", &mut looked) {
        return Ok(Found::File(path));
    }
    let mut folders: Vec<PathBuf> = KNOWN_LOCATIONS.iter().map(PathBuf::from).collect();
    folders.extend(wheel_folders(&["tensorrt_libs"]));
    Ok(search(NVINFER, &folders, looked))
}

/// `libcudart.so.12`: `$SKELACT_CUDART`, then beside `nvinfer`, the wheels, the toolkit and the known folders.
fn locate_cudart(nvinfer: Option<&Path>) -> Found {
    let mut looked = Vec::new();
    if let Some(path) = from_environment("SKELACT_CUDART", &mut looked) {
        return Found::File(path);
    }
    let mut folders = Vec::new();
    if let Some(folder) = nvinfer.and_then(Path::parent) {
        folders.push(folder.to_path_buf());
        // The PyPI layout: site-packages/tensorrt_libs/libnvinfer.so.10 next to site-packages/nvidia/cuda_runtime.
        if folder.file_name() == Some(OsStr::new("tensorrt_libs")) {
            if let Some(site) = folder.parent() {
                folders.push(site.join("nvidia/cuda_runtime/lib"));
            }
        }
    }
    folders.extend(wheel_folders(&["nvidia", "cuda_runtime", "lib"]));
    folders.extend(CUDA_TOOLKIT_LOCATIONS.iter().map(PathBuf::from));
    folders.extend(KNOWN_LOCATIONS.iter().map(PathBuf::from));
    folders.dedup();
    search(CUDART, &folders, looked)
}

/// The file `$variable` names, if it is one; otherwise notes it in `looked`.
fn from_environment(variable: &str, looked: &mut Vec<String>) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(variable).filter(|v| !v.is_empty())?);
    if path.is_file() {
        return Some(path);
    }
    looked.push(format!("{} (${variable})", path.display()));
    None
}

/// `name` in the first folder that has it.
fn search(name: &str, folders: &[PathBuf], mut looked: Vec<String>) -> Found {
    for folder in folders {
        let candidate = folder.join(name);
        if candidate.is_file() {
            return Found::File(candidate);
        }
        looked.push(folder.display().to_string());
    }
    Found::NotInFolders(looked)
}

/// `PACKAGE/...` of every `python3*/{site,dist}-packages` of `.venv/lib` (in the current directory),
/// `/usr/lib` and `/usr/local/lib`.
fn wheel_folders(package: &[&str]) -> Vec<PathBuf> {
    let mut folders = Vec::new();
    for lib in [".venv/lib", "/usr/lib", "/usr/local/lib"] {
        let Ok(entries) = std::fs::read_dir(lib) else { continue };
        let mut pythons: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect();
        pythons.sort();
        for python in pythons {
            for packages in ["site-packages", "dist-packages"] {
                folders.push(package.iter().fold(python.join(packages), |path, part| path.join(part)));
            }
        }
    }
    folders
}

/// Opens what was found; where nothing was, asks the system loader for `name` as the last place.
fn open_found(wanted: Wanted, found: Found) -> Result<(Library, PathBuf), TensorRtError> {
    match found {
        Found::File(path) => {
            // SAFETY: opening a library runs its initialisers; the path is one the user or a known location
            // points at, which is what using TensorRT at all means.
            let library = unsafe { Library::new(&path) }.map_err(|e| TensorRtError::BadLibrary {
                library: wanted.what.into(),
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Ok((library, path))
        }
        Found::NotInFolders(mut looked) => {
            // SAFETY: as above; a bare name makes the loader search LD_LIBRARY_PATH and its cache.
            match unsafe { Library::new(wanted.file) } {
                Ok(library) => Ok((library, PathBuf::from(wanted.file))),
                Err(error) => {
                    looked.push(format!("the system loader ({error})"));
                    Err(TensorRtError::NotFound { library: wanted.what.into(), looked, hint: wanted.hint.into() })
                }
            }
        }
    }
}

/// The driver, for the GPU's name; its absence only costs the name.
fn open_driver() -> Option<Library> {
    // SAFETY: the system's CUDA driver, by its documented name.
    match unsafe { Library::new(CUDA_DRIVER) } {
        Ok(library) => Some(library),
        Err(error) => {
            tracing::debug!(%error, "no CUDA driver library; the GPU will be named by its index");
            None
        }
    }
}

/// TensorRT's two C entry points.
struct TensorRtFunctions {
    create_infer_runtime: unsafe extern "C" fn(*mut c_void, i32) -> *mut c_void,
    get_infer_lib_version: unsafe extern "C" fn() -> i32,
}

fn resolve_tensorrt(library: &Library, path: &Path) -> Result<TensorRtFunctions, TensorRtError> {
    let symbols = Symbols { library, what: TENSORRT.what, path };
    // SAFETY (both): the C signatures of NvInferRuntime.h and NvInferRuntimeBase.h, mirrored in skelact_trt.h.
    unsafe {
        Ok(TensorRtFunctions {
            create_infer_runtime: symbols.get("createInferRuntime_INTERNAL")?,
            get_infer_lib_version: symbols.get("getInferLibVersion")?,
        })
    }
}

/// The table with CUDA's functions from `cudart`; TensorRT's and the driver's are filled by [`assemble`].
fn resolve_cuda(library: &Library, path: &Path) -> Result<CudaFunctions, TensorRtError> {
    let symbols = Symbols { library, what: CUDA_RUNTIME.what, path };
    // SAFETY (every `get`): the C signatures of cuda_runtime_api.h (CUDA 12), mirrored in skelact_trt.h.
    unsafe {
        Ok(CudaFunctions {
            get_device_count: symbols.get("cudaGetDeviceCount")?,
            set_device: symbols.get("cudaSetDevice")?,
            device_get_attribute: symbols.get("cudaDeviceGetAttribute")?,
            get_error_string: symbols.get("cudaGetErrorString")?,
            malloc: symbols.get("cudaMalloc")?,
            free: symbols.get("cudaFree")?,
            malloc_host: symbols.get("cudaMallocHost")?,
            free_host: symbols.get("cudaFreeHost")?,
            memcpy_async: symbols.get("cudaMemcpyAsync")?,
            stream_create_with_flags: symbols.get("cudaStreamCreateWithFlags")?,
            stream_synchronize: symbols.get("cudaStreamSynchronize")?,
            stream_destroy: symbols.get("cudaStreamDestroy")?,
        })
    }
}

/// The CUDA runtime's functions the shim calls, typed as in [`Api`].
struct CudaFunctions {
    get_device_count: unsafe extern "C" fn(*mut c_int) -> c_int,
    set_device: unsafe extern "C" fn(c_int) -> c_int,
    device_get_attribute: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int,
    get_error_string: unsafe extern "C" fn(c_int) -> *const c_char,
    malloc: unsafe extern "C" fn(*mut *mut c_void, usize) -> c_int,
    free: unsafe extern "C" fn(*mut c_void) -> c_int,
    malloc_host: unsafe extern "C" fn(*mut *mut c_void, usize) -> c_int,
    free_host: unsafe extern "C" fn(*mut c_void) -> c_int,
    memcpy_async: unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int, *mut c_void) -> c_int,
    stream_create_with_flags: unsafe extern "C" fn(*mut *mut c_void, c_uint) -> c_int,
    stream_synchronize: unsafe extern "C" fn(*mut c_void) -> c_int,
    stream_destroy: unsafe extern "C" fn(*mut c_void) -> c_int,
}

/// The shim's table, with the driver's functions where the driver is there.
fn assemble(tensorrt: TensorRtFunctions, cuda: CudaFunctions, driver: Option<&Library>) -> Api {
    // SAFETY (the driver's): the C signatures of cuda.h, where `CUdevice` is an int and `CUresult` an enum.
    unsafe {
        Api {
            create_infer_runtime: tensorrt.create_infer_runtime,
            get_infer_lib_version: tensorrt.get_infer_lib_version,
            cuda_get_device_count: cuda.get_device_count,
            cuda_set_device: cuda.set_device,
            cuda_device_get_attribute: cuda.device_get_attribute,
            cuda_get_error_string: cuda.get_error_string,
            cuda_malloc: cuda.malloc,
            cuda_free: cuda.free,
            cuda_malloc_host: cuda.malloc_host,
            cuda_free_host: cuda.free_host,
            cuda_memcpy_async: cuda.memcpy_async,
            cuda_stream_create_with_flags: cuda.stream_create_with_flags,
            cuda_stream_synchronize: cuda.stream_synchronize,
            cuda_stream_destroy: cuda.stream_destroy,
            cu_init: driver.and_then(|d| optional(d, "cuInit")),
            cu_device_get: driver.and_then(|d| optional(d, "cuDeviceGet")),
            cu_device_get_name: driver.and_then(|d| optional(d, "cuDeviceGetName")),
        }
    }
}

/// One opened library, for resolving its functions with errors that name it.
struct Symbols<'a> {
    library: &'a Library,
    what: &'static str,
    path: &'a Path,
}

impl Symbols<'_> {
    /// The function `symbol` as `T`.
    ///
    /// # Safety
    /// `T` must be the function's true signature, and the library must outlive every use of it.
    unsafe fn get<T: Copy>(&self, symbol: &str) -> Result<T, TensorRtError> {
        let missing = || TensorRtError::MissingSymbol {
            library: self.what.into(),
            path: self.path.display().to_string(),
            symbol: symbol.into(),
        };
        let mut name = symbol.as_bytes().to_vec();
        name.push(0);
        // SAFETY: the caller vouches for `T`.
        let found = unsafe { self.library.get::<T>(&name) }.map_err(|_| missing())?;
        Ok(*found)
    }
}

/// The function `symbol` of `library`, if it has it.
///
/// # Safety
/// As [`Symbols::get`].
unsafe fn optional<T: Copy>(library: &Library, symbol: &str) -> Option<T> {
    let mut name = symbol.as_bytes().to_vec();
    name.push(0);
    // SAFETY: the caller vouches for `T`.
    unsafe { library.get::<T>(&name) }.ok().map(|found| *found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C maths library: a real shared library that has none of TensorRT's or CUDA's functions.
    fn libm() -> Option<PathBuf> {
        [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/aarch64-linux-gnu/libm.so.6",
            "/usr/lib/libm.so.6",
            "/lib64/libm.so.6",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    }

    #[test]
    fn libraries_without_the_functions_name_the_first_missing_one() {
        let Some(path) = libm() else {
            println!("SKIPPED: no libm.so.6 in the usual places");
            return;
        };
        // SAFETY: the C maths library has no initialiser worth fearing.
        let library = unsafe { Library::new(&path) }.expect("libm opens");
        let missing = |what: &str, symbol: &str| TensorRtError::MissingSymbol {
            library: what.into(),
            path: path.display().to_string(),
            symbol: symbol.into(),
        };
        let refused = resolve_tensorrt(&library, &path).err();
        assert_eq!(refused, Some(missing(TENSORRT.what, "createInferRuntime_INTERNAL")));
        let refused = resolve_cuda(&library, &path).err();
        assert_eq!(refused, Some(missing(CUDA_RUNTIME.what, "cudaGetDeviceCount")));
    }

    #[test]
    fn a_configured_path_that_does_not_exist_is_not_searched_past() {
        let refused = match locate_nvinfer(Some(Path::new("/nonexistent/libnvinfer.so.10"))) {
            Err(error) => error,
            Ok(_) => panic!("a missing configured library was accepted"),
        };
        let text = refused.to_string();
        assert!(text.starts_with("TensorRT 10 (libnvinfer.so.10) not found"), "{text}");
        assert!(text.contains("/nonexistent/libnvinfer.so.10 (configured)"), "{text}");
    }

    #[test]
    fn the_cuda_runtime_wheel_is_looked_for_beside_the_tensorrt_wheel() {
        let site = Path::new("/nonexistent/.venv/lib/python3.12/site-packages");
        let Found::NotInFolders(looked) = locate_cudart(Some(&site.join("tensorrt_libs").join(NVINFER))) else {
            println!("SKIPPED: this machine has a CUDA runtime, so the search stopped before listing every place");
            return;
        };
        let wheel = site.join("nvidia/cuda_runtime/lib").display().to_string();
        assert!(looked.contains(&wheel), "{looked:?}");
    }
}
