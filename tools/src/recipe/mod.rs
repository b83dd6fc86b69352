//! `earsight-tools recipe`: DALI from real recordings to a shipped bundle in one command.
//!
//! The miniature world (one ESC-10 fold held out of it), stage 0 captioner (also measured on
//! the test pictures alone, so that a weak captioner is told apart from a weak alignment),
//! stage 1a prefix, then for every alignment loss of the recipe stage 1b, pseudo-labels and
//! stage 2. Every (loss, distillation) model is exported in int8 and evaluated audio-only (the runtime's
//! path) and audio-visual (image + audio + prefix, as the pseudo-labels are made). The default
//! is the best by validation source F1 audio-only ([`Measured::source_f1`]); it is
//! exported with a model card of every number.
//!
//! Each step writes into the work directory and is skipped when its result is already there,
//! so a recipe that was stopped goes on where it stopped (a training stage from its last
//! finished epoch).
//!
//! The module owns the recipe command from its file to the shipped bundle; it uses the
//! training stages ([`crate::train`]), the world ([`crate::world`]), the bundle writer
//! ([`crate::ship::export`]) and the evaluation ([`crate::score::eval`], [`crate::score`]); the command line
//! runs it. Its parts, each using only those before it:
//!
//! - `plan`: the recipe file, where a run reads and writes, and the checks of every stage's
//!   recipe before any step runs.
//! - `measure`: the candidates' numbers and the choice of the one to ship.
//! - `card`: the model card's text.
//! - `steps`: the resumable step runner and the recipe's steps, [`run`].

mod card;
mod measure;
mod plan;
mod steps;

pub use card::model_card;
pub use measure::{Candidate, Measured, RecipeResults};
pub use plan::{RecipeConfig, RecipeRun};
pub use steps::run;
