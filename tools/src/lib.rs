//! earsight-tools: the host side of earsight. The model family in burn ([`model`]), its weights
//! on disk ([`weights`]), the ONNX graphs ([`onnx`]) and bundle writer ([`export`]), the caption
//! tokenizer ([`vocab`]), and a reference forward pass to check the runtime against
//! ([`reference`]).

pub mod export;
pub mod model;
pub mod onnx;
pub mod reference;
pub mod vocab;
pub mod weights;
