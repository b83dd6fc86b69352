//! What leaves the host: model bundles ([`export`], with a student's tags added by
//! [`export::tagger`]) and board packages ([`board`]). The group uses the model, teacher and
//! training groups, never the recipe or the command line.

pub mod board;
pub mod export;
