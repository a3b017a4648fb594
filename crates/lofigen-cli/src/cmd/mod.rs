//! One module per `lofigen` command: its arguments and what it does with them.

pub(crate) mod analyze;
pub(crate) mod demo;
pub(crate) mod eval;
pub(crate) mod experiment;
pub(crate) mod generate;
pub(crate) mod lofi;
pub(crate) mod plot;
pub(crate) mod prepare;
pub(crate) mod radio;
pub(crate) mod train;
