//! earsight-tools: the host side of earsight. Datasets ([`data`]: the clip manifest and
//! importers from public layouts; [`world`]: the miniature audio-visual world). The model family in burn ([`model`]), its weights
//! on disk ([`weights`]), the ONNX graphs ([`onnx`]) and bundle writer ([`export`]), the caption
//! tokenizer ([`vocab`]), a reference forward pass to check the runtime against
//! ([`reference`]), and the captioning metrics ([`metrics`], [`meteor`]) with the report that
//! scores any captioner's output ([`score`]), and the evaluation of a bundle on a manifest
//! ([`eval`]).

pub mod data;
pub mod eval;
pub mod export;
pub mod losses;
pub mod meteor;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod reference;
pub mod score;
pub mod train;
pub mod vocab;
pub mod weights;
pub mod world;
