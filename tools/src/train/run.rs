//! Driving a stage: the [`Stage`] a training stage implements, and [`run_stage`], which runs
//! its epochs, validates, logs, and checkpoints so that a resumed run retraces an
//! uninterrupted one.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use serde::Serialize;

use super::{Checkpoint, MetricsLog, Optim, Progress, State};

/// Where and how a run goes.
pub struct Run<'a> {
    /// The run directory: `last/` and `best/` checkpoints, `metrics.jsonl`.
    pub out: &'a Path,
    /// Go on from `out/last` instead of starting.
    pub resume: bool,
    /// Stop (with a checkpoint) after this many steps in all.
    pub stop_after: Option<usize>,
    /// Also write `last/` inside an epoch once this long has passed since the last checkpoint,
    /// so that a run killed mid-epoch (a session's end, a preempted machine) loses at most
    /// this much; an epoch of the mini captioner is two hours on two CPU cores.
    pub checkpoint_every: Option<Duration>,
    pub progress: bool,
}

impl Run<'_> {
    /// A new run in `out`, to the end, without a progress bar.
    pub fn new(out: &Path) -> Run<'_> {
        Run {
            out,
            resume: false,
            stop_after: None,
            checkpoint_every: None,
            progress: false,
        }
    }
}

/// The weighted mean of a loss over the `count` examples of a split, `batch_size` at a time:
/// `batch` gives a batch's mean loss and its weight (its tokens, or its pairs).
pub fn mean_loss(
    count: usize,
    batch_size: usize,
    what: &str,
    mut batch: impl FnMut(&[usize]) -> Result<(f64, f64)>,
) -> Result<f64> {
    ensure!(count > 0, "no {what} to validate on");
    let indices: Vec<usize> = (0..count).collect();
    let (mut total, mut weight) = (0.0, 0.0);
    for chunk in indices.chunks(batch_size.max(1)) {
        let (loss, w) = batch(chunk)?;
        total += loss * w;
        weight += w;
    }
    ensure!(
        weight > 0.0,
        "the {what} weigh nothing to validate on (a lone pair has no contrastive negatives)"
    );
    Ok(total / weight)
}

/// What a training stage does per step, and what its checkpoints hold; [`run_stage`] drives it.
pub trait Stage {
    /// Training examples per epoch.
    fn train_len(&self) -> usize;
    /// One optimiser step on the training examples `indices`: the loss and its parts.
    fn step(
        &mut self,
        epoch: usize,
        lr: f64,
        indices: &[usize],
    ) -> Result<(f64, serde_json::Map<String, serde_json::Value>)>;
    /// The validation loss (lower is better).
    fn validate(&self) -> Result<f64>;
    /// More measures logged with the validation loss before training and after each epoch
    /// (accuracies, agreement), which choose nothing.
    fn epoch_metrics(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        Ok(serde_json::Map::new())
    }
    /// Writes the weights the next stage or the exporter reads.
    fn save_weights(&self, dir: &Path) -> Result<()>;
    /// Writes the trainable modules and optimiser states, for resuming.
    fn save_records(&self, dir: &Path) -> Result<()>;
    /// Reads what [`Stage::save_records`] wrote in `checkpoint`'s `last/`.
    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()>;
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub steps: usize,
    pub epochs: usize,
    /// Validation loss before the first step and after each epoch.
    pub val_losses: Vec<f64>,
    pub best_epoch: usize,
    /// Stopped by `stop_after` before the last epoch.
    pub stopped: bool,
    pub mean_step_ms: f64,
    pub examples_per_s: f64,
}

/// Runs `stage` under `optim` in `run.out`: epochs of shuffled batches (the same order on
/// every run, so a resumed run retraces an uninterrupted one), validation before training and
/// after each epoch, `best/` when validation improves, `last/` at the end or at `stop_after`.
/// `fingerprint` names everything a resume must share with the run it continues.
pub fn run_stage(
    stage: &mut dyn Stage,
    name: &str,
    optim: &Optim,
    fingerprint: &str,
    run: &Run,
) -> Result<Report> {
    optim.validate()?;
    let n_train = stage.train_len();
    ensure!(
        n_train >= optim.batch_size,
        "{n_train} training examples for a batch of {}",
        optim.batch_size
    );
    let steps_per_epoch = n_train / optim.batch_size;
    let total_steps = steps_per_epoch * optim.epochs;
    let checkpoint = Checkpoint::new(run.out, fingerprint);
    let mut state = if run.resume {
        let state = checkpoint.read_state()?;
        stage.load_records(&checkpoint)?;
        state
    } else {
        checkpoint.start()?
    };
    let log_path = run.out.join("metrics.jsonl");
    let mut log = if run.resume {
        MetricsLog::resume(&log_path, &state)?
    } else {
        MetricsLog::open(&log_path, false)?
    };
    if state.val_losses.is_empty() {
        let val = stage.validate()?;
        let mut line = stage.epoch_metrics()?;
        line.insert("epoch".into(), 0.into());
        line.insert("val_loss".into(), val.into());
        log.write(&serde_json::Value::Object(line))?;
        state.val_losses.push(val);
    }
    let progress = Progress::new(run.progress, total_steps as u64, state.step as u64, name);
    let (mut step_seconds, mut timed_steps, mut stopped) = (0.0, 0usize, false);
    let mut last_saved = Instant::now();
    while state.epoch < optim.epochs && !stopped {
        let epoch = state.epoch + 1;
        let lr = optim.lr_at(epoch);
        let order = optim.order(epoch, n_train);
        for s in state.step - state.epoch * steps_per_epoch..steps_per_epoch {
            let began = Instant::now();
            let indices = &order[s * optim.batch_size..(s + 1) * optim.batch_size];
            let (loss, parts) = stage.step(epoch, lr, indices)?;
            ensure!(
                loss.is_finite(),
                "step {}: the loss is {loss}",
                state.step + 1
            );
            state.step += 1;
            let seconds = began.elapsed().as_secs_f64();
            step_seconds += seconds;
            timed_steps += 1;
            log.write(&serde_json::json!({
                "step": state.step,
                "epoch": epoch,
                "loss": loss,
                "parts": parts,
                "lr": lr,
                "examples_per_s": optim.batch_size as f64 / seconds,
            }))?;
            progress.step(loss);
            if run.stop_after == Some(state.step) && state.step < total_steps {
                stopped = true;
                break;
            }
            let mid_epoch = s + 1 < steps_per_epoch;
            if mid_epoch
                && run
                    .checkpoint_every
                    .is_some_and(|t| last_saved.elapsed() >= t)
            {
                save_last(&checkpoint, &state, stage)?;
                last_saved = Instant::now();
            }
        }
        if stopped && state.step < (state.epoch + 1) * steps_per_epoch {
            break;
        }
        state.epoch = epoch;
        let val = stage.validate()?;
        let best = state.val_losses[1..].iter().all(|&v| val < v);
        state.val_losses.push(val);
        let mut line = stage.epoch_metrics()?;
        line.insert("epoch".into(), epoch.into());
        line.insert("val_loss".into(), val.into());
        line.insert("best".into(), best.into());
        log.write(&serde_json::Value::Object(line))?;
        if best {
            state.best_epoch = epoch;
            checkpoint.save("best", &state, |dir| stage.save_weights(dir))?;
        }
        // At every epoch's end too, so that a killed run never redoes a finished epoch.
        if state.epoch < optim.epochs && !stopped {
            save_last(&checkpoint, &state, stage)?;
            last_saved = Instant::now();
        }
    }
    save_last(&checkpoint, &state, stage)?;
    progress.finish();
    let mean_step = step_seconds / timed_steps.max(1) as f64;
    Ok(Report {
        steps: state.step,
        epochs: state.epoch,
        val_losses: state.val_losses,
        best_epoch: state.best_epoch,
        stopped,
        mean_step_ms: mean_step * 1e3,
        examples_per_s: if timed_steps > 0 {
            optim.batch_size as f64 / mean_step
        } else {
            0.0
        },
    })
}

fn save_last(checkpoint: &Checkpoint, state: &State, stage: &mut dyn Stage) -> Result<()> {
    checkpoint.save("last", state, |dir| {
        stage.save_weights(dir)?;
        stage.save_records(dir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_means_weigh_batches_by_their_weight_and_refuse_an_empty_one() {
        // Batches [0, 1] and [2]: losses 1 and 4, weights 2 and 1 -> (2 + 4) / 3.
        let mean = mean_loss(3, 2, "pairs", |chunk| {
            Ok(if chunk.len() == 2 {
                (1.0, 2.0)
            } else {
                (4.0, 1.0)
            })
        })
        .unwrap();
        assert!((mean - 2.0).abs() < 1e-12, "{mean}");
        let err = mean_loss(1, 1, "Val pairs", |_| Ok((0.0, 0.0))).unwrap_err();
        assert!(err.to_string().contains("Val pairs"), "{err}");
        let err = mean_loss(0, 1, "Val pairs", |_| Ok((1.0, 1.0))).unwrap_err();
        assert!(err.to_string().contains("no Val pairs"), "{err}");
    }
}
