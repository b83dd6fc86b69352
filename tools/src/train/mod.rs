//! The DALI training stages and what they share: run directories with `last/` and
//! `best/` checkpoints that resume exactly, a JSON-lines metrics log, a progress bar.
//!
//! A checkpoint holds the weights as the rest of the tools read them (`weights.safetensors`,
//! `config.json`), the run's position (`state.json`), and the trainable modules and optimiser
//! states in burn's own record files, which keep the parameter identities the optimiser's
//! moments are filed under.
//!
//! The stages (`align`, `captioner`, `distill`, `prefix`, `pretrain`, `teach`) and what feeds
//! and measures them (`augment`, `bench`, `captions`, `dataset`, `mixtures`, `pipeline`,
//! `thresholds`) are public modules. The machinery they share lives in private modules and is
//! re-exported here, so that it is reached as `train::X`:
//!
//! - `run`: the [`Stage`] trait, [`run_stage`] that drives one, [`Run`] and [`Report`];
//! - `checkpoint`: [`Checkpoint`] and [`State`], and the writers of weights and records;
//! - `optim`: [`Optim`] (Adam and its learning-rate schedule);
//! - `recipe_file`: the [`Recipe`] trait, [`read_json`] and [`fingerprint`];
//! - `metrics`: [`MetricsLog`] and [`Progress`].
//!
//! One more private module, `stage_parts`, holds the parts of the stages' own code that they
//! share, and is used by them directly: a module trained with its optimiser state, filed under
//! one name in the checkpoints; the name of a step's loss parts; the validation loss over loss
//! tensors; the writing of a captioner whose audio encoder a stage trained.
//!
//! The alignment losses the stages train with are [`losses`].
//!
//! The shared modules use the model group of the crate and never the stages; the stages use the
//! shared modules through these re-exports (`stage_parts` directly). The group uses clips
//! ([`crate::data`]), the world ([`crate::world`]), the model group and the teacher group, never
//! shipping or scoring.

pub mod align;
pub mod augment;
pub mod bench;
pub mod captioner;
pub mod captions;
pub mod dataset;
pub mod distill;
pub mod losses;
pub mod mixtures;
pub mod pipeline;
pub mod prefix;
pub mod pretrain;
pub mod teach;
pub mod thresholds;

mod checkpoint;
mod metrics;
mod optim;
mod recipe_file;
mod run;
mod stage_parts;

pub(crate) use checkpoint::clear;
pub use checkpoint::{recover_checkpoints, save_trainable, save_with_image, Checkpoint, State};
pub use metrics::{MetricsLog, Progress};
pub use optim::{adam_step, adam_step_with, AdamOf, Optim};
pub use recipe_file::{fingerprint, read_json, Recipe};
pub use run::{mean_loss, run_stage, Report, Run, Stage};
