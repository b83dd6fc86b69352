//! What leaves the host: model bundles ([`export`], with a student's tags added by
//! [`export::tagger`]) and board packages ([`board`]). The group uses the model, teacher and
//! training groups, never the recipe or the command line.

pub use earsight_tools_base::board;
pub mod export;
