//! The DALI training stages (DESIGN §1) and what they share: run directories with `last/` and
//! `best/` checkpoints that resume exactly, a JSON-lines metrics log, a progress bar.
//!
//! A checkpoint holds the weights as the rest of the tools read them (`weights.safetensors`,
//! `config.json`), the run's position (`state.json`), and the trainable modules and optimiser
//! states in burn's own record files, which keep the parameter identities the optimiser's
//! moments are filed under.

pub mod align;
pub mod augment;
pub mod bench;
pub mod captioner;
pub mod captions;
pub mod dataset;
pub mod distill;
pub mod mixtures;
pub mod pipeline;
pub mod prefix;
pub mod pretrain;
pub mod teach;
pub mod thresholds;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::AdamConfig;
use burn::optim::{Adam, Optimizer};
use burn::prelude::*;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Record, Recorder};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::image::ImageWeights;
use crate::weights::Weights;

/// The dotted names of the parameters of `module` that `grads` gives no gradient, or an
/// all-zero one: a parameter meant to train that nothing reaches.
pub fn params_without_grad<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &B::Gradients,
) -> Vec<String> {
    struct Check<'a, B: AutodiffBackend> {
        grads: &'a B::Gradients,
        path: Vec<String>,
        missing: Vec<String>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Check<'_, B> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let reached = param
                .val()
                .grad(self.grads)
                .is_some_and(|g| g.abs().sum().into_scalar().elem::<f64>() > 0.0);
            if !reached {
                self.missing.push(self.path.join("."));
            }
        }
    }
    let mut check = Check::<B> {
        grads,
        path: Vec::new(),
        missing: Vec::new(),
    };
    module.visit(&mut check);
    check.missing
}

/// The optimiser and schedule of a stage: Adam with decoupled settings, the learning rate
/// halved at the given epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optim {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub betas: [f64; 2],
    pub weight_decay: f64,
    /// Epochs (1-based) from which the learning rate is halved once more.
    pub halve_lr_at: Vec<usize>,
}

impl Optim {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.epochs > 0, "optim.epochs must be at least 1");
        ensure!(self.batch_size > 0, "optim.batch_size must be at least 1");
        ensure!(
            self.lr > 0.0 && self.lr.is_finite(),
            "optim.lr must be positive, found {}",
            self.lr
        );
        ensure!(
            self.betas.iter().all(|b| (0.0..1.0).contains(b)),
            "optim.betas must be in [0, 1), found {:?}",
            self.betas
        );
        Ok(())
    }

    pub fn adam(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(self.betas[0] as f32)
            .with_beta_2(self.betas[1] as f32)
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay as f32)))
    }

    /// The learning rate of epoch `epoch` (1-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let halvings = self.halve_lr_at.iter().filter(|&&e| e <= epoch).count();
        self.lr * 0.5f64.powi(halvings as i32)
    }

    /// The order of the training examples in `epoch`, the same on every run and resume.
    pub fn order(&self, epoch: usize, count: usize) -> Vec<usize> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut order: Vec<usize> = (0..count).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        order
    }
}

/// A stage's recipe file.
pub trait Recipe: DeserializeOwned {
    /// What the file is, for errors.
    const WHAT: &'static str;

    fn validate(&self) -> Result<()>;

    /// Reads and checks a recipe; an error names the file and the field.
    fn read(path: &Path) -> Result<Self> {
        let recipe: Self = read_json(path, Self::WHAT)?;
        recipe
            .validate()
            .with_context(|| format!("{}: invalid {}", path.display(), Self::WHAT))?;
        Ok(recipe)
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

/// Reads a JSON recipe; a malformed file or an unknown field is an error naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a valid {what}", path.display()))
}

/// A short hash of everything that must not change across a resume (the recipe, the model
/// config, the stage).
pub fn fingerprint<T: Serialize>(value: &T) -> Result<String> {
    let json = serde_json::to_string(value)?;
    let digest = Sha256::digest(json.as_bytes());
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

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

/// Where a run is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub fingerprint: String,
    /// Optimiser steps taken.
    pub step: usize,
    /// Epochs completed.
    pub epoch: usize,
    /// Validation loss before training, then after each epoch.
    pub val_losses: Vec<f64>,
    pub best_epoch: usize,
}

const STATE_FILE: &str = "state.json";

type FileRecorder = BinFileRecorder<FullPrecisionSettings>;

/// The checkpoints of one run directory.
pub struct Checkpoint {
    out: PathBuf,
    fingerprint: String,
}

impl Checkpoint {
    pub fn new(out: &Path, fingerprint: &str) -> Checkpoint {
        Checkpoint {
            out: out.into(),
            fingerprint: fingerprint.into(),
        }
    }

    fn last(&self) -> PathBuf {
        self.out.join("last")
    }

    /// A new run: the directory must not hold one already (a run is never overwritten).
    pub fn start(&self) -> Result<State> {
        if self.last().exists() || self.out.join("metrics.jsonl").exists() {
            bail!(
                "{} already holds a training run: pass --resume to go on with it, or choose \
                 another --out",
                self.out.display()
            );
        }
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        Ok(State {
            fingerprint: self.fingerprint.clone(),
            ..State::default()
        })
    }

    /// The position of the run to resume, refusing one made with another recipe or model.
    pub fn read_state(&self) -> Result<State> {
        recover_checkpoints(&self.out)?;
        let path = self.last().join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no checkpoint to resume: reading {} (start without --resume)",
                path.display()
            )
        })?;
        let state: State = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a training state", path.display()))?;
        if state.fingerprint != self.fingerprint {
            bail!(
                "{}: this checkpoint was made with another config or model (fingerprint {}, this \
                 run {}); resume it with the config it was started with",
                path.display(),
                state.fingerprint,
                self.fingerprint
            );
        }
        Ok(state)
    }

    /// Writes `last/` (or `best/`) whole, through a temporary directory, so that a run stopped
    /// while saving still has its previous checkpoint. `write` puts the stage's files in.
    pub fn save(
        &self,
        name: &str,
        state: &State,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let dir = self.out.join(name);
        let tmp = self.out.join(format!("{name}.partial"));
        clear(&tmp)?;
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        write(&tmp)?;
        std::fs::write(
            tmp.join(STATE_FILE),
            serde_json::to_string_pretty(state)? + "\n",
        )
        .with_context(|| format!("writing {}", tmp.join(STATE_FILE).display()))?;
        // The old checkpoint stays whole, as NAME.old, until the new one has its name: a run
        // killed in between is put back by `recover_checkpoints`.
        let old = self.out.join(format!("{name}.old"));
        clear(&old)?;
        if dir.exists() {
            rename(&dir, &old)?;
        }
        rename(&tmp, &dir)?;
        clear(&old)?;
        Ok(())
    }

    /// Reads back what [`save_trainable`] wrote in `last/`.
    pub fn load_trainable<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        name: &str,
        module: M,
        opt: AdamOf<M, B>,
        device: &B::Device,
    ) -> Result<(M, AdamOf<M, B>)> {
        let module = self.load_module(module, name, device)?;
        let opt = opt.load_record(self.load_record(&format!("{name}-adam"), device)?);
        Ok((module, opt))
    }

    /// Loads the module record `name` of `last/` into `module`.
    fn load_module<B: Backend, M: Module<B>>(
        &self,
        module: M,
        name: &str,
        device: &B::Device,
    ) -> Result<M> {
        let path = self.last().join(name);
        module
            .load_file(&path, &FileRecorder::new(), device)
            .with_context(|| format!("loading {}.bin", path.display()))
    }

    /// Loads the record `name` (an optimiser state) of `last/`.
    fn load_record<B: Backend, R: Record<B>>(&self, name: &str, device: &B::Device) -> Result<R> {
        let path = self.last().join(name);
        Recorder::<B>::load(&FileRecorder::new(), path.clone(), device)
            .with_context(|| format!("loading {}.bin", path.display()))
    }
}

/// Adam over the parameters of module `M`.
pub type AdamOf<M, B> = OptimizerAdaptor<Adam, M, B>;

/// Writes a checkpoint's weights: the captioner's, then the image encoder's when the stage
/// carries it along for the stages after it.
pub fn save_with_image(dir: &Path, weights: &Weights, image: Option<&ImageWeights>) -> Result<()> {
    weights.save(dir)?;
    image.map_or(Ok(()), |image| image.save(dir))
}

/// Writes a trainable module and its optimiser's state as `dir/name.bin` and
/// `dir/name-adam.bin`.
pub fn save_trainable<B: AutodiffBackend, M: AutodiffModule<B>>(
    dir: &Path,
    name: &str,
    module: &M,
    opt: &AdamOf<M, B>,
) -> Result<()> {
    save_module(dir, name, module)?;
    save_record::<B, _>(dir, &format!("{name}-adam"), opt.to_record())
}

/// Writes `module` as `dir/name.bin`.
fn save_module<B: Backend, M: Module<B>>(dir: &Path, name: &str, module: &M) -> Result<()> {
    let path = dir.join(name);
    module
        .clone()
        .save_file(&path, &FileRecorder::new())
        .with_context(|| format!("writing {}.bin", path.display()))
}

/// Puts back the checkpoints of run directory `out` that a run killed while saving left
/// under their `.old` name, so that a resume finds them where it looks.
pub fn recover_checkpoints(out: &Path) -> Result<()> {
    for name in ["last", "best"] {
        let (dir, old) = (out.join(name), out.join(format!("{name}.old")));
        if !old.is_dir() {
            continue;
        }
        if dir.is_dir() {
            clear(&old)?;
        } else {
            rename(&old, &dir)?;
        }
    }
    Ok(())
}

/// Removes the file or directory at `path`, if there is one. The run and work directories it is
/// used on hold only what the tools wrote, half-written or superseded.
pub(crate) fn clear(path: &Path) -> Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    } else if path.exists() {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("renaming {} to {}", from.display(), to.display()))
}

/// Writes `record` as `dir/name.bin`.
fn save_record<B: Backend, R: Record<B>>(dir: &Path, name: &str, record: R) -> Result<()> {
    let path = dir.join(name);
    Recorder::<B>::record(&FileRecorder::new(), record, path.clone())
        .with_context(|| format!("writing {}.bin", path.display()))?;
    Ok(())
}

/// The metrics log: one JSON object a line, flushed as written so a crash keeps what was done.
pub struct MetricsLog(BufWriter<File>);

impl MetricsLog {
    /// The log of a run resumed at `state`: the lines written after that checkpoint (by a run
    /// killed before its next one) are dropped, so the resumed log reads as an uninterrupted
    /// run's. A last line cut short by the kill is dropped too; any other line that is not
    /// JSON is an error.
    pub fn resume(path: &Path, state: &State) -> Result<MetricsLog> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut kept = String::with_capacity(text.len());
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(value) => value,
                Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => break,
                Err(e) => bail!("{}: line {}: not JSON: {e}", path.display(), i + 1),
            };
            let number = |key: &str| value.get(key).and_then(serde_json::Value::as_u64);
            let done = match (number("step"), number("epoch")) {
                (Some(step), _) => step as usize <= state.step,
                (None, Some(epoch)) => epoch as usize <= state.epoch,
                (None, None) => true,
            };
            if done {
                kept.push_str(line);
            }
        }
        if kept.len() != text.len() {
            let tmp = path.with_extension("jsonl.partial");
            std::fs::write(&tmp, &kept).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        }
        MetricsLog::open(path, true)
    }

    pub fn open(path: &Path, append: bool) -> Result<MetricsLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(MetricsLog(BufWriter::new(file)))
    }

    pub fn write(&mut self, line: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.0, line)?;
        self.0.write_all(b"\n")?;
        self.0.flush()?;
        Ok(())
    }
}

/// A progress bar on stderr, or nothing (tests, `--quiet`).
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(show: bool, total: u64, done: u64, stage: &str) -> Progress {
        let bar = if show {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{stage} {{bar:30}} {{pos}}/{{len}} steps {{elapsed}}<{{eta}} {{msg}}"
            ))
            .expect("a valid template"),
        );
        bar.set_position(done);
        Progress(bar)
    }

    pub fn step(&self, loss: f64) {
        self.0.inc(1);
        self.0.set_message(format!("loss {loss:.4}"));
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
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
    fn a_checkpoint_left_half_renamed_by_a_kill_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let checkpoint = Checkpoint::new(out, "f");
        let state = |step| State {
            fingerprint: "f".into(),
            step,
            ..State::default()
        };
        checkpoint.save("last", &state(4), |_| Ok(())).unwrap();
        checkpoint.save("last", &state(8), |_| Ok(())).unwrap();
        assert!(!out.join("last.old").exists() && !out.join("last.partial").exists());
        assert_eq!(checkpoint.read_state().unwrap().step, 8);

        // Killed after the old checkpoint was moved aside, before the new one took its name.
        std::fs::rename(out.join("last"), out.join("last.old")).unwrap();
        assert_eq!(checkpoint.read_state().unwrap().step, 8);
        assert!(!out.join("last.old").exists());

        // Killed after the new one took its name, before the old one was removed.
        checkpoint.save("best", &state(12), |_| Ok(())).unwrap();
        std::fs::create_dir(out.join("best.old")).unwrap();
        recover_checkpoints(out).unwrap();
        assert!(out.join("best/state.json").is_file() && !out.join("best.old").exists());
    }

    #[test]
    fn a_resumed_log_drops_what_came_after_its_checkpoint_and_refuses_a_broken_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let state = State {
            step: 3,
            epoch: 1,
            ..State::default()
        };
        let written = [
            r#"{"epoch":0,"val_loss":2.0}"#,
            r#"{"step":1,"epoch":1,"loss":1.5}"#,
            r#"{"step":2,"epoch":1,"loss":1.4}"#,
            r#"{"epoch":1,"val_loss":1.3,"best":true}"#,
            r#"{"step":3,"epoch":2,"loss":1.2}"#,
            r#"{"step":4,"epoch":2,"loss":1.1}"#,
            r#"{"epoch":2,"val_loss":1.0,"best":true}"#,
        ];
        std::fs::write(&path, written.join("\n") + "\n{\"step\":5,\"ep").unwrap();
        let mut log = MetricsLog::resume(&path, &state).unwrap();
        log.write(&serde_json::json!({"step": 4})).unwrap();
        drop(log);
        let kept = std::fs::read_to_string(&path).unwrap();
        assert_eq!(kept, written[..5].join("\n") + "\n{\"step\":4}\n");

        std::fs::write(&path, "{\"epoch\":0}\nnot json\n{\"step\":1}\n").unwrap();
        let err = format!("{:#}", MetricsLog::resume(&path, &state).err().unwrap());
        assert!(err.contains("metrics.jsonl: line 2: not JSON"), "{err}");
    }

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
