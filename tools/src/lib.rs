//! earsight-tools: the host side of earsight, one folder per job. Each group uses only the
//! groups below it in this list (`tools/README.md` draws it):
//!
//! - [`recipe`]: every stage from recordings to a bundle, run as resumable steps.
//! - [`ship`]: bundles ([`ship::export`]) and board packages ([`ship::board`], from
//!   `earsight-tools-base`).
//! - [`score`]: captioning metrics, the score report, the evaluation of a bundle.
//! - [`train`]: DALI's stages, their losses ([`train::losses`]), checkpoints and runs.
//! - [`teacher`]: a pretrained tagger loaded from `--teacher DIR`, zero-shot accuracy through
//!   it, and the convolutional student distilled from it ([`teacher::conv_net`]).
//! - [`model`]: the model family in burn, its weights, image side, BLIP mapping, reference
//!   forward pass and ONNX graphs.
//!
//! The burn-free groups live in the crate `earsight-tools-base` (`tools-base/`), re-exported
//! here under their own names:
//!
//! - [`world`]: the miniature audio-visual world (classes, sources, scenes, captions, pictures,
//!   speech).
//! - [`data`]: the clip manifest and the importers from public layouts.
//! - [`text`]: caption text (the PTB tokenizer and the caption vocabulary).

pub mod model;
pub mod recipe;
pub mod ship;
pub mod teacher;
pub mod train;

pub use earsight_tools_base::{data, score, text, world};
