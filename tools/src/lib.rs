//! earsight-tools: the host side of earsight.
//!
//! - Data: the clip manifest and importers from public layouts ([`data`]), the miniature
//!   audio-visual world ([`world`]).
//! - Models: the family in burn ([`model`]: audio encoder, text decoder, the captioner's image
//!   encoder), weights on disk ([`weights`], [`image`]), the caption tokenizer ([`vocab`]).
//! - Training: the DALI losses ([`losses`]) and stages ([`train`]).
//! - Shipping: the ONNX graphs ([`onnx`]), the bundle writer ([`export`]), a reference forward
//!   pass to check the runtime against ([`reference`]).
//! - Teachers: a pretrained tagger with its own frontend, loaded from `--teacher DIR`, and
//!   zero-shot accuracy through it ([`teacher`]).
//! - Boards: the profiles in `boards/` and the package for one board ([`board`]).
//! - Scoring: the captioning metrics ([`metrics`], [`meteor`]) on PTB tokens ([`ptb`]), the
//!   report that scores any captioner's output ([`score`]), the evaluation of a bundle on a
//!   manifest ([`eval`]).

pub mod blip;
pub mod board;
pub mod conv_net;
pub mod data;
pub mod eval;
pub mod export;
pub mod image;
pub mod losses;
pub mod meteor;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod ptb;
pub mod recipe;
pub mod reference;
pub mod score;
pub mod teacher;
pub mod train;
pub mod vocab;
pub mod weights;
pub mod world;
