//! `skelact`: the binary's host-side tools, shared with its tests. The daemon and the model path live in
//! `skelact-device`; this crate adds what only a host or a field tester needs and the daemon never links:
//! [`scoring`] of events against ground truth (the demo's summary), the [`timeline`] of ground truth beside
//! events, `skelact classify`'s [`verdict`] on a file, and `skelact monitor`'s [`monitor`] screen.

pub mod monitor;
pub mod scoring;
pub mod timeline;
pub mod verdict;
