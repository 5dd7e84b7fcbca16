//! skelact-board: the device side of skelact.
//!
//! The binary `skelact` is a thin CLI over this library, so that tests drive the same code that runs on a board:
//! - [`backend`]: inference engines behind [`skelact_runtime::engine::Engine`] (tract on the CPU, TensorRT on the GPU);
//! - [`conformance`]: the checks every backend must pass against desktop reference outputs;
//! - [`link`]: the serial boundary as a small trait with a real port, a loopback, a fault injector and a
//!   reconnecting reader;
//! - [`recording`]: protocol-v1 recordings (the raw packet bytes) and their paced replay;
//! - [`logging`]: structured logs for the daemon;
//! - [`model`]: a bundle (and its enrollment [`overlay`]) made ready to run: labels, engines, head;
//! - [`daemon`]: serial ingest, the pipeline on two threads with a bounded window queue, events and status out;
//! - [`config`]: the TOML configuration and device profiles; [`gpio`]: one output line per action;
//! - [`sources`]: NTU, PKU-MMD and synthetic-session inputs as protocol-v1 streams; [`scoring`]: events against
//!   ground truth.
// Input must never make the device panic, so library code may not unwrap; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod config;
pub mod conformance;
pub mod daemon;
pub mod enroll;
pub mod gpio;
pub mod link;
pub mod logging;
pub mod model;
pub mod npy;
pub mod overlay;
#[cfg(unix)]
pub mod pty;
pub mod recording;
pub mod ring;
pub mod scoring;
pub mod sources;
pub mod window_side;
