//! The checkpoints of a run directory: `last/` and `best/`, each written whole through a
//! temporary directory and put back after a kill mid-save, holding the run's position
//! (`state.json`), the weights, and the trainable modules with their optimiser states.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Record, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::AdamOf;
use crate::model::image::ImageWeights;
use crate::model::weights::Weights;

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

    /// Reads back into `module` and `opt` what [`save_trainable`] wrote as `name` in `last/`;
    /// on an error both are left as they were.
    pub fn load_trainable<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        name: &str,
        module: &mut M,
        opt: &mut AdamOf<M, B>,
        device: &B::Device,
    ) -> Result<()> {
        let loaded = self.load_module(module.clone(), name, device)?;
        let record = self.load_record(&format!("{name}-adam"), device)?;
        *module = loaded;
        *opt = opt.clone().load_record(record);
        Ok(())
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
}
