//! Inference backends. Each implements [`skelact_runtime::engine::Engine`] and passes [`crate::conformance`].
//!
//! `run` failures are reported as [`skelact_runtime::engine::EngineError::Backend`] with a code from the table of
//! the backend's module; the backend logs the details through `tracing` at the same moment.

pub mod tensorrt;
pub mod tract;
