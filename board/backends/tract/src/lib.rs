//! The CPU backend: tract, loading an ONNX model (FP32 or INT8 Q/DQ) from bytes.
//!
//! Loading fixes the input shape, optimizes the graph once and builds an immutable plan; the mutable state of a
//! run (tract's per-node values and our input tensor) lives in the engine and is reused, so `run` allocates
//! nothing of its own.
//!
//! # Threads
//!
//! tract runs every operator on the calling thread unless its plan carries a multi-threaded executor, and only
//! then if tract-linalg was built with `multithread-mm` (this crate switches it on). With
//! [`TractOptions::threads`]:
//! - `1`: the plan carries tract's single-thread executor explicitly, so no global default can change it. Every
//!   operator runs on the thread that calls [`Engine::run`].
//! - `n >= 2`: the plan carries a private rayon pool of `n` threads (named `skelact-tract-<i>`). The calling thread
//!   hands work to the pool and waits, so `n` is the number of cores in use. tract splits only large kernels:
//!   matrix products of at least 64 panels (or, for matrix-vector products, at least 2^21 multiply-adds), and
//!   element-wise and row-wise kernels over at least 32768 elements. Everything smaller, and every other operator,
//!   stays on the calling thread; results are bit-identical to `threads = 1` by tract's design. The thresholds
//!   are tract-linalg's global defaults and are left alone here.
//!
//! # `run` failure codes ([`EngineError::Backend`])
//! - [`RUN_FAILED`]: tract returned an error while evaluating the plan (logged with its full context).
//! - [`BAD_OUTPUT`]: the plan produced an output that is not `f32` of the expected length.

use std::io::Cursor;
use std::sync::Arc;

use skelact_runtime::engine::{check_lengths, Engine, EngineError};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::tract_linalg::multithread::Executor;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

/// `EngineError::Backend` code: tract failed while evaluating the plan.
pub const RUN_FAILED: i32 = 1;
/// `EngineError::Backend` code: the output was not `f32` of the expected length.
pub const BAD_OUTPUT: i32 = 2;

/// The most threads a configuration may ask for; more is surely a typo (Orin AGX has 12 cores).
pub const MAX_THREADS: usize = 64;

/// How to load a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TractOptions {
    /// Cores to use per run, see the module documentation. Default 1.
    pub threads: usize,
    /// The input shape to fix, for example `[1, 3, 64, 25, 2]`. `None` takes the shape the model declares, which
    /// must then be fully fixed. When both are known they must agree.
    pub input_shape: Option<Vec<usize>>,
    /// The output to compute, by name (a bundle's manifest names it, e.g. `embedding` of a model that also has
    /// `logits`). The others are pruned from the plan. `None` needs a model with exactly one output.
    pub output_name: Option<String>,
}

impl Default for TractOptions {
    fn default() -> Self {
        TractOptions { threads: 1, input_shape: None, output_name: None }
    }
}

/// Why a model could not be loaded. Variants with a `String` carry tract's own explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TractLoadError {
    /// The bytes are not an ONNX model tract can read (truncated, garbage, or an unsupported operator).
    #[error("not a loadable ONNX model: {0}")]
    Parse(String),
    /// skelact engines take exactly one input and produce exactly one output (or name the one to use).
    #[error("the model has {inputs} inputs and {outputs} outputs; skelact needs one input and one output (name the output to use when there are several)")]
    Arity { inputs: usize, outputs: usize },
    /// The output asked for by name is not among the model's outputs.
    #[error("the model has no output named `{name}` (it has: {available})")]
    NoSuchOutput { name: String, available: String },
    /// The input is not `f32`.
    #[error("the model's input is {0}, skelact feeds f32")]
    InputType(String),
    /// The model leaves some input dimension open and no shape was given to fix it.
    #[error("the model's input shape {0} is not fixed; give the window shape, e.g. [1, 3, 64, 25, 2]")]
    OpenInputShape(String),
    /// The requested input shape contradicts the one the model declares.
    #[error("input shape {requested:?} was requested but the model declares {declared}")]
    ShapeConflict { requested: Vec<usize>, declared: String },
    /// The model's inputs are not the named ones [`TractEngine::load_inputs`] was asked for.
    #[error("the model's inputs are {found}; expected {expected}")]
    Inputs { expected: String, found: String },
    /// Typing or optimizing the graph for the fixed shape failed.
    #[error("could not optimize the model for input shape {shape:?}: {reason}")]
    Optimize { shape: Vec<usize>, reason: String },
    /// The output is not `f32` with a fixed shape.
    #[error("the model's output is {0}; skelact needs f32 with a fixed shape")]
    Output(String),
    /// `threads` is 0 or above [`MAX_THREADS`].
    #[error("threads must be between 1 and {MAX_THREADS}, got {0}")]
    Threads(usize),
    /// The operating system refused to start the inference threads.
    #[error("could not start {threads} inference threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}

/// One input of the model: its shape, where its values lie in the engine's input slice, and our tensor for it,
/// handed to tract by reference count and taken back after each run.
#[derive(Debug)]
struct Input {
    shape: Vec<usize>,
    offset: usize,
    len: usize,
    tensor: Option<Arc<Tensor>>,
}

/// A loaded, optimized ONNX model with its run state. See the module documentation.
///
/// A model of several inputs ([`TractEngine::load_inputs`]) takes their values concatenated, in the order they
/// were named, as its one [`Engine`] input.
#[derive(Debug)]
pub struct TractEngine {
    state: TypedSimpleState,
    /// In the model's input order.
    inputs: Vec<Input>,
    output_shape: Vec<usize>,
    input_len: usize,
    output_len: usize,
    threads: usize,
}

impl TractEngine {
    /// Loads an ONNX model of one input from its bytes.
    pub fn load(onnx: &[u8], options: &TractOptions) -> Result<Self, TractLoadError> {
        Self::load_with(onnx, options, None)
    }

    /// Loads an ONNX model whose inputs are exactly those named in `inputs`, each with its shape (for example a
    /// reconstruction model's `joint` and `missing`). [`Engine::run`] then takes their values concatenated in the
    /// order of `inputs`. `options.input_shape` is not used.
    pub fn load_inputs(
        onnx: &[u8],
        options: &TractOptions,
        inputs: &[(&str, Vec<usize>)],
    ) -> Result<Self, TractLoadError> {
        Self::load_with(onnx, options, Some(inputs))
    }

    fn load_with(
        onnx: &[u8],
        options: &TractOptions,
        named: Option<&[(&str, Vec<usize>)]>,
    ) -> Result<Self, TractLoadError> {
        let executor = executor_for(options.threads)?;
        let model = tract_onnx::onnx()
            .model_for_read(&mut Cursor::new(onnx))
            .map_err(|e| TractLoadError::Parse(format!("{e:#}")))?;
        let model = select_output(model, options.output_name.as_deref())?;
        let (inputs, outputs) = (model.inputs.len(), model.outputs.len());
        // Per model input: its shape and the position of its values in the caller's concatenation.
        let layout: Vec<(Vec<usize>, usize)> = match named {
            None => {
                if inputs != 1 || outputs != 1 {
                    return Err(TractLoadError::Arity { inputs, outputs });
                }
                vec![(resolve_input_shape(&model, 0, options.input_shape.as_deref())?, 0)]
            }
            Some(named) => {
                if outputs != 1 {
                    return Err(TractLoadError::Arity { inputs, outputs });
                }
                let names: Vec<String> = model.inputs.iter().map(|o| model.node(o.node).name.clone()).collect();
                let wanted: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
                let mismatch = || TractLoadError::Inputs { expected: wanted.join(", "), found: names.join(", ") };
                if names.len() != named.len() {
                    return Err(mismatch());
                }
                let mut layout = Vec::with_capacity(named.len());
                for (index, name) in names.iter().enumerate() {
                    let k = named.iter().position(|(n, _)| n == name).ok_or_else(mismatch)?;
                    layout.push((resolve_input_shape(&model, index, Some(&named[k].1))?, k));
                }
                layout
            }
        };
        let described = |layout: &[(Vec<usize>, usize)]| layout.first().map(|(s, _)| s.clone()).unwrap_or_default();
        let mut model = model;
        for (index, (shape, _)) in layout.iter().enumerate() {
            model = model
                .with_input_fact(index, f32::fact(shape).into())
                .map_err(|e| TractLoadError::Optimize { shape: shape.clone(), reason: format!("{e:#}") })?;
        }
        let input_shape = described(&layout);
        let optimized = model
            .into_optimized()
            .map_err(|e| TractLoadError::Optimize { shape: input_shape.clone(), reason: format!("{e:#}") })?;
        let output_shape = fixed_f32_output(&optimized)?;
        let run_options = RunOptions { executor: Some(executor), ..RunOptions::default() };
        let plan = optimized
            .into_runnable_with_options(&run_options)
            .map_err(|e| TractLoadError::Optimize { shape: input_shape.clone(), reason: format!("{e:#}") })?;
        let state = plan
            .spawn()
            .map_err(|e| TractLoadError::Optimize { shape: input_shape.clone(), reason: format!("{e:#}") })?;
        // Offsets follow the caller's order of the inputs, which may differ from the model's.
        let lens: Vec<usize> = {
            let mut by_caller: Vec<(usize, usize)> =
                layout.iter().map(|(shape, k)| (*k, shape.iter().product::<usize>())).collect();
            by_caller.sort();
            by_caller.into_iter().map(|(_, len)| len).collect()
        };
        let mut inputs = Vec::with_capacity(layout.len());
        for (shape, k) in &layout {
            let tensor = Tensor::zero::<f32>(shape)
                .map_err(|e| TractLoadError::Optimize { shape: shape.clone(), reason: format!("{e:#}") })?;
            let offset = lens[..*k].iter().sum();
            inputs.push(Input { shape: shape.clone(), offset, len: lens[*k], tensor: Some(Arc::new(tensor)) });
        }
        let input_len = lens.iter().sum();
        let output_len = output_shape.iter().product();
        tracing::info!(
            backend = "tract",
            threads = options.threads,
            input_shape = ?input_shape,
            output_shape = ?output_shape,
            nodes = plan.model().nodes().len(),
            "model loaded"
        );
        Ok(TractEngine { state, inputs, output_shape, input_len, output_len, threads: options.threads })
    }

    /// The fixed input shape, e.g. `[1, 3, 64, 25, 2]` (of the model's first input, when it has several).
    pub fn input_shape(&self) -> &[usize] {
        self.inputs.first().map_or(&[], |input| input.shape.as_slice())
    }

    /// The output shape, e.g. `[1, 60]`.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Cores used per run.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Input {
    /// Our tensor, filled with this input's part of `values`. It is reused when tract has released it, which it
    /// does at the end of every run; a fresh one is allocated only if that ever stops being true.
    fn fill(&mut self, values: &[f32]) -> TractResult<Arc<Tensor>> {
        let mut tensor = match self.tensor.take() {
            Some(tensor) => tensor,
            None => Arc::new(Tensor::zero::<f32>(&self.shape)?),
        };
        if Arc::get_mut(&mut tensor).is_none() {
            tensor = Arc::new(Tensor::zero::<f32>(&self.shape)?);
        }
        let exclusive =
            Arc::get_mut(&mut tensor).ok_or_else(|| TractError::msg("a fresh tensor is exclusively ours"))?;
        let part = values.get(self.offset..self.offset + self.len).ok_or_else(|| TractError::msg("input too short"))?;
        exclusive.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?.copy_from_slice(part);
        Ok(tensor)
    }
}

impl Engine for TractEngine {
    fn input_len(&self) -> usize {
        self.input_len
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        let mut values: TVec<TValue> = tvec![];
        let mut filled: TVec<Arc<Tensor>> = tvec![];
        for slot in &mut self.inputs {
            let tensor = slot.fill(input).map_err(|e| {
                tracing::error!(backend = "tract", error = %format!("{e:#}"), "could not prepare the input tensor");
                EngineError::Backend { code: RUN_FAILED }
            })?;
            values.push(Arc::clone(&tensor).into_tvalue());
            filled.push(tensor);
        }
        let result = self.state.run(values);
        // Take the tensors back before anything else; tract has dropped its references by now.
        for (slot, tensor) in self.inputs.iter_mut().zip(filled) {
            slot.tensor = Some(tensor);
        }
        let outputs = result.map_err(|e| {
            tracing::error!(backend = "tract", error = %format!("{e:#}"), "inference failed");
            EngineError::Backend { code: RUN_FAILED }
        })?;
        let values = outputs
            .first()
            .and_then(|value| value.try_as_plain_ram().ok())
            .and_then(|view| view.as_slice::<f32>().ok())
            .filter(|values| values.len() == output.len());
        match values {
            Some(values) => {
                output.copy_from_slice(values);
                Ok(())
            }
            None => {
                tracing::error!(backend = "tract", expected = output.len(), "output is not f32 of the expected length");
                Err(EngineError::Backend { code: BAD_OUTPUT })
            }
        }
    }
}

/// The executor a plan runs on for `threads`, see the module documentation.
fn executor_for(threads: usize) -> Result<Executor, TractLoadError> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(TractLoadError::Threads(threads));
    }
    if threads == 1 {
        return Ok(Executor::SingleThread);
    }
    // tract's own constructor panics when the pool cannot start; building it here turns that into an error.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("skelact-tract-{i}"))
        .build()
        .map_err(|e| TractLoadError::ThreadPool { threads, reason: e.to_string() })?;
    Ok(Executor::MultiThread(Arc::new(pool)))
}

/// Keeps only the output named `name` (tract then prunes what only the others needed); `None` keeps them all.
fn select_output(model: InferenceModel, name: Option<&str>) -> Result<InferenceModel, TractLoadError> {
    let Some(name) = name else { return Ok(model) };
    // ONNX output names are tract's outlet labels; a node's own name is the fallback.
    let label = |outlet: &OutletId| model.outlet_label(*outlet).unwrap_or(&model.node(outlet.node).name).to_string();
    let chosen = model.outputs.iter().find(|outlet| label(outlet) == name).copied();
    let Some(outlet) = chosen else {
        let available: Vec<String> = model.outputs.iter().map(label).collect();
        return Err(TractLoadError::NoSuchOutput { name: name.to_string(), available: available.join(", ") });
    };
    model.with_output_outlets(&[outlet]).map_err(|e| TractLoadError::Parse(format!("{e:#}")))
}

/// The concrete f32 shape of input `index`: the requested one, checked against what the model declares, or the
/// declared one.
fn resolve_input_shape(
    model: &InferenceModel,
    index: usize,
    requested: Option<&[usize]>,
) -> Result<Vec<usize>, TractLoadError> {
    let declared = model.input_fact(index).map_err(|e| TractLoadError::Parse(format!("{e:#}")))?;
    if let Some(datum_type) = declared.datum_type.concretize() {
        if datum_type != f32::datum_type() {
            return Err(TractLoadError::InputType(format!("{datum_type:?}")));
        }
    }
    let declared_shape = declared.shape.clone();
    let describe = || format!("{declared_shape:?}");
    let concrete: Option<Vec<usize>> =
        declared.shape.as_concrete_finite().ok().flatten().map(|dims| dims.into_iter().collect());
    match requested {
        Some(requested) => {
            let rank_fits = declared.shape.rank().concretize().is_none_or(|rank| rank as usize == requested.len());
            let dims_fit = declared
                .shape
                .dims()
                .zip(requested)
                .all(|(dim, want)| dim.concretize().and_then(|d| d.to_usize().ok()).is_none_or(|d| d == *want));
            if !rank_fits || !dims_fit {
                return Err(TractLoadError::ShapeConflict { requested: requested.to_vec(), declared: describe() });
            }
            Ok(requested.to_vec())
        }
        None => concrete.ok_or_else(|| TractLoadError::OpenInputShape(describe())),
    }
}

/// The output shape of an optimized model, which must be f32 and fully fixed.
fn fixed_f32_output(model: &TypedModel) -> Result<Vec<usize>, TractLoadError> {
    let fact = model.output_fact(0).map_err(|e| TractLoadError::Output(format!("{e:#}")))?;
    if fact.datum_type != f32::datum_type() {
        return Err(TractLoadError::Output(format!("{fact:?}")));
    }
    fact.shape.as_concrete().map(<[usize]>::to_vec).ok_or_else(|| TractLoadError::Output(format!("{fact:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_out_of_range_are_refused() {
        assert_eq!(executor_for(0).unwrap_err(), TractLoadError::Threads(0));
        assert_eq!(executor_for(MAX_THREADS + 1).unwrap_err(), TractLoadError::Threads(MAX_THREADS + 1));
        assert!(matches!(executor_for(1).unwrap(), Executor::SingleThread));
        match executor_for(2).unwrap() {
            Executor::MultiThread(pool) => assert_eq!(pool.current_num_threads(), 2),
            other => panic!("expected a 2-thread pool, got {other:?}"),
        }
    }

    #[test]
    fn engines_can_move_to_an_inference_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<TractEngine>();
    }

    #[test]
    fn the_input_tensor_is_handed_back_and_reused() {
        let onnx = std::fs::read(skelact_conformance::repository_fixture_dir().join("tiny_stars.onnx")).unwrap();
        let mut engine = TractEngine::load(&onnx, &TractOptions::default()).unwrap();
        let input = vec![0.1f32; engine.input_len()];
        let mut output = vec![0.0f32; engine.output_len()];
        engine.run(&input, &mut output).unwrap();
        let tensor = engine.inputs[0].tensor.as_ref().unwrap();
        // tract holds no reference after a run, which is what lets the next run refill it in place.
        assert_eq!(Arc::strong_count(tensor), 1);
        let address = Arc::as_ptr(tensor);
        let first = output.clone();
        engine.run(&input, &mut output).unwrap();
        assert_eq!(Arc::as_ptr(engine.inputs[0].tensor.as_ref().unwrap()), address);
        assert_eq!(output, first);
    }
}
