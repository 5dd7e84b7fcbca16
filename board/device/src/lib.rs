//! skelact-device: the device application as a library, so that tests drive the same code that runs on a board.
//!
//! Data flows one way through it:
//! - [`model`]: the one path from a bundle file to running engines (tract or TensorRT) and the runtime's
//!   classifier, with the enrollment [`overlay`]'s exemplars in its head;
//! - [`daemon`]: serial bytes in (through `skelact-links`), the runtime's frame side on the ingest thread, a
//!   bounded window queue, the classifier on the inference thread, events and status out (link, stdout, UDP, GPIO);
//! - [`enroll`]: embeddings of example windows of a recording, for few-shot enrollment;
//! - [`trust`]: which bundle signatures the device accepts; [`slots`]: A/B model slots with trial and rollback;
//! - [`config`]: the TOML configuration and device profiles; [`logging`]: structured logs.
//!
//! It depends on the runtime, the links and the backends, never on the host tools above it (`skelact`'s demo
//! scoring, bench and validate).
// Input must never make the device panic, so library code may not unwrap; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod daemon;
pub mod enroll;
pub mod health;
pub mod logging;
pub mod model;
pub mod overlay;
pub mod slots;
pub mod trust;
