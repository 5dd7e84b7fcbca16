//! skelact-onnxruntime: the CPU backend that runs ONNX models with the ONNX Runtime library (`libonnxruntime`),
//! which on this project's models is about twice as fast as tract (`docs/performance.md`).
//!
//! The library is not linked: it is found and opened at run time ([`locate_library`], [`init`]), so one `skelact`
//! binary runs with it where it is installed and without it elsewhere. Where it looks, in order:
//! 1. the path the configuration gives (`onnxruntime = "..."`, `--onnxruntime FILE`);
//! 2. `$SKELACT_ONNXRUNTIME`, then `$ORT_DYLIB_PATH` (the `ort` crate's own variable);
//! 3. [`KNOWN_LOCATIONS`]: system library folders (a Jetson build or a distribution package) and the folders where
//!    the PyPI `onnxruntime` wheel keeps it (`onnxruntime/capi/libonnxruntime.so.*`), in `.venv/` of the current
//!    directory (what `cargo xtask setup` creates) and in system Python site-packages.
//!
//! A library that is missing, not a library, or older than the C API this build speaks (22, ONNX Runtime 1.22)
//! is a [`OrtLoadError`] that names every place looked at; nothing panics.
//!
//! [`OrtEngine`] keeps one session, its input tensor and its output tensor bound once (IO binding): a window is
//! copied into the input, the session runs, and the output is copied out. Nothing is allocated per window on our
//! side.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use skelact_runtime::engine::{check_lengths, Engine, EngineError};

/// The C API version this build asks for (the `ort` crate's); a library must be at least ONNX Runtime 1.`API`.
pub const API_VERSION: u32 = 22;

/// System folders searched for `libonnxruntime.so*`, after the configured path and the environment.
pub const KNOWN_LOCATIONS: [&str; 6] = [
    "/usr/lib",
    "/usr/local/lib",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/opt/onnxruntime/lib",
    "/usr/local/onnxruntime/lib",
];

/// Why onnxruntime could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrtLoadError {
    #[error("onnxruntime library not found; looked in: {}. Install it (pip install onnxruntime, or `cargo xtask setup`) or give its path (--onnxruntime FILE, SKELACT_ONNXRUNTIME)", looked.join(", "))]
    NotFound { looked: Vec<String> },
    #[error("{path}: not a usable onnxruntime library: {reason}")]
    BadLibrary { path: String, reason: String },
    #[error("{path} is ONNX Runtime {version}; this build needs 1.{API_VERSION} or newer")]
    TooOld { path: String, version: String },
    #[error("onnxruntime was already started with {first}; one process uses one library")]
    OtherLibrary { first: String },
    #[error("onnxruntime refused the model: {0}")]
    Session(String),
    #[error("the model's input or output is not a float tensor of known shape: {0}")]
    Shape(String),
    #[error("threads must be at least 1, got {0}")]
    Threads(usize),
}

/// The library to open: `configured` if given (it must exist), else the environment, else the first known
/// location that holds one.
pub fn locate_library(configured: Option<&Path>) -> Result<PathBuf, OrtLoadError> {
    let mut looked = Vec::new();
    if let Some(path) = configured {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        looked.push(format!("{} (configured)", path.display()));
        return Err(OrtLoadError::NotFound { looked });
    }
    for variable in ["SKELACT_ONNXRUNTIME", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            if path.is_file() {
                return Ok(path);
            }
            looked.push(format!("{} (${variable})", path.display()));
        }
    }
    let mut folders: Vec<PathBuf> = KNOWN_LOCATIONS.iter().map(PathBuf::from).collect();
    folders.extend(wheel_folders(Path::new(".venv/lib")));
    for prefix in ["/usr/lib", "/usr/local/lib"] {
        folders.extend(wheel_folders(Path::new(prefix)));
    }
    for folder in &folders {
        if let Some(found) = library_in(folder) {
            return Ok(found);
        }
        looked.push(folder.display().to_string());
    }
    Err(OrtLoadError::NotFound { looked })
}

/// `onnxruntime/capi` of every `python3*/{site,dist}-packages` under `lib`.
fn wheel_folders(lib: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else { return Vec::new() };
    let mut folders = Vec::new();
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("python3") {
            for packages in ["site-packages", "dist-packages"] {
                folders.push(entry.path().join(packages).join("onnxruntime").join("capi"));
            }
        }
    }
    folders.sort();
    folders
}

/// `libonnxruntime.so`, or the newest-named `libonnxruntime.so.*`, in `folder`.
fn library_in(folder: &Path) -> Option<PathBuf> {
    let plain = folder.join("libonnxruntime.so");
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(folder)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so.")))
        .filter(|p| p.is_file())
        .collect();
    versioned.sort();
    versioned.pop()
}

/// The library the process started onnxruntime with, once [`init`] succeeded.
static STARTED: OnceLock<PathBuf> = OnceLock::new();

/// Opens the library at `path`, checks its version, and starts onnxruntime with it. Idempotent for the same
/// path; a second, different path is refused (the library stays loaded for the life of the process).
/// Returns the library's version.
pub fn init(path: &Path) -> Result<String, OrtLoadError> {
    if let Some(first) = STARTED.get() {
        if first != path {
            return Err(OrtLoadError::OtherLibrary { first: first.display().to_string() });
        }
    }
    let version = library_version(path)?;
    let shown = path.display().to_string();
    let parsed: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    if parsed.first() != Some(&1) || parsed.get(1).is_none_or(|&minor| minor < API_VERSION) {
        return Err(OrtLoadError::TooOld { path: shown, version });
    }
    if STARTED.get().is_none() {
        ort::init_from(shown.clone())
            .with_name("skelact")
            .commit()
            .map_err(|e| OrtLoadError::BadLibrary { path: shown.clone(), reason: e.to_string() })?;
        let _ = STARTED.set(path.to_path_buf());
    }
    Ok(version)
}

/// Opens `path` with the system's loader and asks it for its version, without handing it to `ort` (which would
/// panic on a bad library).
fn library_version(path: &Path) -> Result<String, OrtLoadError> {
    let bad = |reason: String| OrtLoadError::BadLibrary { path: path.display().to_string(), reason };
    // SAFETY: loading a library runs its initialisers; the path is one the user or a known location points at,
    // which is what loading onnxruntime at all means. The handle is leaked on purpose: onnxruntime is used for the
    // rest of the process, and unloading it under `ort`'s global state would be unsound.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| bad(e.to_string()))?;
    type GetApiBase = unsafe extern "C" fn() -> *const ApiBase;
    // SAFETY: `OrtGetApiBase` is ONNX Runtime's one C entry point, `const OrtApiBase* ORT_API_CALL OrtGetApiBase()`.
    let get: libloading::Symbol<'_, GetApiBase> =
        unsafe { library.get(b"OrtGetApiBase\0") }.map_err(|_| bad("no OrtGetApiBase symbol".into()))?;
    // SAFETY: the function takes nothing and returns a pointer to a static struct, or null.
    let base = unsafe { get() };
    if base.is_null() {
        return Err(bad("OrtGetApiBase returned nothing".into()));
    }
    // SAFETY: `base` points at the library's static OrtApiBase, whose second member is
    // `const char* GetVersionString()`, returning a static NUL-terminated string.
    let version = unsafe {
        let text = ((*base).get_version_string)();
        if text.is_null() {
            return Err(bad("no version string".into()));
        }
        std::ffi::CStr::from_ptr(text).to_string_lossy().into_owned()
    };
    std::mem::forget(library);
    Ok(version)
}

/// The head of ONNX Runtime's `OrtApiBase`: `GetApi(version)` then `GetVersionString()`.
#[repr(C)]
struct ApiBase {
    _get_api: unsafe extern "C" fn(u32) -> *const std::ffi::c_void,
    get_version_string: unsafe extern "C" fn() -> *const std::ffi::c_char,
}

/// How much onnxruntime rewrites the graph before running it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Optimization {
    /// Constant folding and redundant-node removal only: numerically the graph as written. A Q/DQ INT8 model then
    /// runs its quantize/dequantize steps as written, in float.
    Basic,
    /// Everything onnxruntime does by default (what Python's `InferenceSession` gets): operator fusions, and for
    /// Q/DQ models integer kernels, whose rounding differs slightly from the Q/DQ graph as written.
    #[default]
    All,
}

/// How to load a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrtOptions {
    /// The library (see [`locate_library`]); `None` searches.
    pub library: Option<PathBuf>,
    /// Intra-op threads. Default 1.
    pub threads: usize,
    /// The input shape to run with, where the model leaves dimensions open (the bundle's manifest gives it).
    pub input_shape: Option<Vec<usize>>,
    /// The output to read (default the first).
    pub output_name: Option<String>,
    pub optimization: Optimization,
}

impl Default for OrtOptions {
    fn default() -> Self {
        OrtOptions { library: None, threads: 1, input_shape: None, output_name: None, optimization: Optimization::All }
    }
}

/// [`EngineError::Backend`] codes: the session failed to run; its output is missing or not what was declared.
pub const RUN_FAILED: i32 = 1;
pub const NO_OUTPUT: i32 = 2;

/// One ONNX model in an onnxruntime session, behind the runtime's [`Engine`] trait.
///
/// A model of several inputs ([`OrtEngine::load_inputs`]) takes their values concatenated, in the order they were
/// named, as its one [`Engine`] input.
pub struct OrtEngine {
    session: Session,
    binding: ort::io_binding::IoBinding,
    /// Each bound input tensor with the offset and length of its values in the engine's input.
    inputs: Vec<(Tensor<f32>, usize, usize)>,
    output_name: String,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    library: PathBuf,
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("input_shape", &self.input_shape)
            .field("output_shape", &self.output_shape)
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl OrtEngine {
    /// Finds and starts the library, then loads the model of one input from `onnx`.
    pub fn load(onnx: &[u8], options: &OrtOptions) -> Result<Self, OrtLoadError> {
        Self::load_with(onnx, options, None)
    }

    /// As [`Self::load`], for a model whose inputs are exactly those named in `inputs`, each with its shape (for
    /// example a reconstruction model's `joint` and `missing`). [`Engine::run`] then takes their values
    /// concatenated in the order of `inputs`. `options.input_shape` is not used.
    pub fn load_inputs(onnx: &[u8], options: &OrtOptions, inputs: &[(&str, Vec<usize>)]) -> Result<Self, OrtLoadError> {
        Self::load_with(onnx, options, Some(inputs))
    }

    fn load_with(
        onnx: &[u8],
        options: &OrtOptions,
        named: Option<&[(&str, Vec<usize>)]>,
    ) -> Result<Self, OrtLoadError> {
        if options.threads == 0 {
            return Err(OrtLoadError::Threads(0));
        }
        let library = locate_library(options.library.as_deref())?;
        init(&library)?;
        let session_error = |e: ort::Error| OrtLoadError::Session(e.to_string());
        let session = Session::builder()
            .and_then(|b| {
                b.with_optimization_level(match options.optimization {
                    Optimization::Basic => GraphOptimizationLevel::Level1,
                    Optimization::All => GraphOptimizationLevel::Level3,
                })
            })
            .and_then(|b| b.with_intra_threads(options.threads))
            .and_then(|b| b.with_inter_threads(1))
            .and_then(|b| b.commit_from_memory(onnx))
            .map_err(session_error)?;
        let fixed = |declared: &[i64], requested: Option<&Vec<usize>>| match requested {
            Some(shape) => {
                let fits =
                    shape.len() == declared.len() && shape.iter().zip(declared).all(|(&d, &k)| k < 0 || d as i64 == k);
                if !fits {
                    return Err(OrtLoadError::Shape(format!("requested {shape:?}, the model declares {declared:?}")));
                }
                Ok(shape.clone())
            }
            None if declared.iter().all(|&d| d > 0) => Ok(declared.iter().map(|&d| d as usize).collect()),
            None => Err(OrtLoadError::Shape(format!("the input has open dimensions {declared:?}"))),
        };
        // (name, shape) of each input, in the caller's order.
        let wanted: Vec<(String, Vec<usize>)> = match named {
            None => {
                let input =
                    session.inputs.first().ok_or_else(|| OrtLoadError::Shape("the model has no input".into()))?;
                vec![(input.name.clone(), fixed(&tensor_shape(&input.input_type)?, options.input_shape.as_ref())?)]
            }
            Some(named) => {
                let found: Vec<&str> = session.inputs.iter().map(|i| i.name.as_str()).collect();
                let expected: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
                let same = found.len() == expected.len() && expected.iter().all(|n| found.contains(n));
                if !same {
                    return Err(OrtLoadError::Shape(format!(
                        "the model's inputs are {}; expected {}",
                        found.join(", "),
                        expected.join(", ")
                    )));
                }
                let mut wanted = Vec::with_capacity(named.len());
                for (name, shape) in named {
                    let input = session.inputs.iter().find(|i| i.name == *name);
                    let input = input.ok_or_else(|| OrtLoadError::Shape(format!("no input {name:?}")))?;
                    let declared = tensor_shape(&input.input_type)?;
                    wanted.push((name.to_string(), fixed(&declared, Some(shape))?));
                }
                wanted
            }
        };
        let input_shape = wanted[0].1.clone();
        let output = match &options.output_name {
            Some(name) => session.outputs.iter().find(|o| &o.name == name),
            None => session.outputs.first(),
        }
        .ok_or_else(|| OrtLoadError::Shape(format!("no output {:?}", options.output_name)))?;
        let output_name = output.name.clone();
        let declared_out = tensor_shape(&output.output_type)?;
        // Open output dimensions are the batch axis, which is 1 here.
        let output_shape: Vec<usize> = declared_out.iter().map(|&d| if d < 0 { 1 } else { d as usize }).collect();
        let output_tensor =
            Tensor::<f32>::from_array((output_shape.clone(), vec![0f32; output_shape.iter().product()]))
                .map_err(session_error)?;
        let mut binding = session.create_binding().map_err(session_error)?;
        let mut inputs = Vec::with_capacity(wanted.len());
        let mut offset = 0;
        for (name, shape) in &wanted {
            let len: usize = shape.iter().product();
            let tensor = Tensor::<f32>::from_array((shape.clone(), vec![0f32; len])).map_err(session_error)?;
            // On the CPU a bound input is used in place, so writing into the tensor before each run is enough.
            binding.bind_input(name, &tensor).map_err(session_error)?;
            inputs.push((tensor, offset, len));
            offset += len;
        }
        binding.bind_output(&output_name, output_tensor).map_err(session_error)?;
        Ok(OrtEngine { session, binding, inputs, output_name, input_shape, output_shape, library })
    }

    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// The library this engine runs on.
    pub fn library(&self) -> &Path {
        &self.library
    }
}

fn tensor_shape(value: &ValueType) -> Result<Vec<i64>, OrtLoadError> {
    match value {
        ValueType::Tensor { ty: ort::tensor::TensorElementType::Float32, shape, .. } => {
            Ok(shape.iter().copied().collect())
        }
        other => Err(OrtLoadError::Shape(format!("{other:?}"))),
    }
}

impl Engine for OrtEngine {
    fn input_len(&self) -> usize {
        self.inputs.iter().map(|(_, _, len)| len).sum()
    }

    fn output_len(&self) -> usize {
        self.output_shape.iter().product()
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        for (tensor, offset, len) in &mut self.inputs {
            let (_, data) = tensor.extract_tensor_mut();
            data.copy_from_slice(&input[*offset..*offset + *len]);
        }
        let failed = |code: i32, error: &dyn std::fmt::Display| {
            tracing::debug!(%error, code, "onnxruntime run failed");
            EngineError::Backend { code }
        };
        let outputs = self.session.run_binding(&self.binding).map_err(|e| failed(RUN_FAILED, &e))?;
        let value = outputs.get(&self.output_name).ok_or_else(|| failed(NO_OUTPUT, &"the output is missing"))?;
        let (_, values) = value.try_extract_tensor::<f32>().map_err(|e| failed(NO_OUTPUT, &e))?;
        if values.len() != output.len() {
            return Err(failed(NO_OUTPUT, &"the output has another length"));
        }
        output.copy_from_slice(values);
        Ok(())
    }
}
