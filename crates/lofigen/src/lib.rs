//! lofigen: learn music from raw waveforms and generate more of it.
//!
//! The modules follow the life of the data: [`corpus`] (files to 8 kHz mono) -> [`data`]
//! (time split, windows, batches) -> [`model`] (causal convolution stacks) -> [`train`]
//! (steps, run directory, checkpoints) -> [`generate`] (cached engine and its naive oracle) -> [`eval`] (objective
//! measures of generated audio against real audio) -> [`experiment`] (the paper's two
//! experiments, each written as a report folder).
//! The library computes and returns values; it never prints or exits.

pub mod bundled;
pub mod config;
pub mod controls;
pub mod corpus;
pub mod cpu;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod generate;
pub mod loss;
pub mod model;
pub mod music;
pub mod plot;
pub mod run;
pub mod runtime;
pub mod table;
pub mod train;

pub use config::RunConfig;
pub use error::{Error, Result};

/// The Flex (pure-Rust CPU) device, the default backend.
pub fn cpu_device() -> burn::prelude::Device {
    burn::prelude::Device::flex()
}
