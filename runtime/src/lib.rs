//! skelact-runtime: everything between bytes on the wire and an action event, except running the network.
//!
//! The crate is `#![no_std]` and allocation-free on the per-frame path. Capacities are const generics with
//! documented defaults so that memory is bounded by configuration, never by input.
//!
//! Data flow (see `docs/` for the normative specifications):
//! bytes → [`wire::Decoder`] → [`layout`] mapping to NTU-25 → [`resample`] onto the model's time grid →
//! [`track::Tracks`] → [`window`] →
//! [`preprocess`] → ([`reconstruct`]) → [`engine::Engine`] → [`head`] → [`decision`] → [`wire::Event`].
#![cfg_attr(not(feature = "std"), no_std)]
// Input must never make the device panic, so library code may not unwrap; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "alloc")]
extern crate alloc;

/// Re-exported so that users build `Frame`s with the same `heapless` version as the wire types.
pub use heapless;

pub mod bundle;
pub mod decision;
pub mod engine;
pub mod head;
pub mod layout;
pub mod pipeline;
pub mod preprocess;
pub mod reconstruct;
pub mod resample;
pub mod rng;
pub mod skeleton;
pub mod track;
pub mod window;
pub mod wire;
