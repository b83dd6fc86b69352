//! The burn-free half of earsight-tools, a crate of its own so that work on scoring or the
//! world builds and tests without the model and training code (`tools/bench/FINDINGS.md`,
//! "One tools crate or two"). `earsight-tools` re-exports each module under its own name, so
//! both crates' code reaches them the same way. Each uses only those below it in this list:
//!
//! - [`score`]: captioning metrics, the score report, the evaluation of a bundle.
//! - [`world`]: the miniature audio-visual world (classes, sources, scenes, captions, pictures,
//!   speech).
//! - [`data`]: the clip manifest and the importers from public layouts.
//! - [`text`]: caption text (the PTB tokenizer and the caption vocabulary).
//! - [`board`]: board profiles and packages (uses none of the others).

pub mod board;
pub mod data;
pub mod score;
pub mod text;
pub mod world;
