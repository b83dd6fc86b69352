//! earsight: on-device audio captioning.
//!
//! The data flow, one module per stage: [`audio`] (files in, mono at the model's rate) ->
//! [`frontend`] (log-mel) -> [`engine`] (encoder and decoder graphs in tract, greedy or beam
//! search; the tagger) -> [`text`] (token ids to words). [`bundle`] checks the model bundle
//! that ties them together, [`config`] is the model family shared with the tools, [`caption`]
//! runs the whole chain over one window, and [`stream`] runs it over a file or live, from a
//! microphone or any stream of audio. Imports run one way: `stream` uses `caption`, never the
//! reverse. [`backoff`] paces retries for what a long-running device can lose (a microphone, a
//! broker).

pub mod audio;
pub mod backoff;
pub mod bundle;
pub mod caption;
pub mod config;
pub mod engine;
pub mod frontend;
pub mod stream;
pub mod text;
pub mod usage;

pub use bundle::Bundle;
pub use caption::Captioner;
pub use config::ModelConfig;
pub use stream::Caption;
