//! The alignment losses of DALI: each compares the SET of a
//! clip's projected audio tokens `a [b, n, d]` with the set of its frame's image tokens
//! `v [b, m, d]`, per pair over tokens, and gives one value per pair (`[b]`); the trainer
//! averages over the batch.
//!
//! Optimal transport is solved outside the autodiff graph (exactly by [`emd`], or by
//! [`Sinkhorn`]) and enters the loss through [`transport_loss`]: the transport value is linear
//! in the cost for a fixed plan and in the marginals for fixed dual potentials, so by the
//! envelope theorem those give the loss's gradient without differentiating through the solver,
//! which is how POT's `emd2` (the paper's code) gets its gradients too.
//!
//! The module owns the losses and the solvers they need; it uses burn and the model's seeded
//! parameter redraw (`crate::model::redrawn`) and nothing else of the crate, and the training
//! stages ([`crate::train`]) use it. Its parts, each using only those before it:
//!
//! - `distance`: squared distances between tokens, sums over pairs of tokens.
//! - `mmd`: the MMD loss, [`mmd`].
//! - `contrastive`: the InfoNCE baseline, [`info_nce`].
//! - `exact`: exact OT of one pair on the host, [`emd`].
//! - `transport`: OT solutions, [`transport_loss`], [`Sinkhorn`], [`Solver`] and the OT loss
//!   with uniform marginals, [`ot`].
//! - `attentive`: the attentive-OT scorers and loss, [`Scorers`], [`attentive_ot`].

mod attentive;
mod contrastive;
mod distance;
mod exact;
mod mmd;
#[cfg(test)]
mod test_support;
mod transport;

pub(crate) use attentive::SeededInit;
pub use attentive::{attentive_ot, Marginals, Scorers};
pub use contrastive::{info_nce, INFO_NCE_TEMPERATURE};
pub use distance::squared_distances;
pub use exact::emd;
pub use mmd::{mmd, MMD_BANDWIDTHS};
pub use transport::{ot, transport_loss, uniform, Sinkhorn, Solver, Transport};
