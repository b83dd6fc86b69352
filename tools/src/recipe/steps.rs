//! The resumable step runner and the recipe's steps: each writes into the work directory and
//! is skipped when its result is already there; the losses' chains run side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use earsight::bundle::{DecodingConfig, Quantization, MANIFEST_FILE};
use serde::Serialize;

use super::card::model_card;
use super::measure::{
    choose, measure_bundle, measure_candidate, measure_pictures, Candidate, Checkpoint, Measured,
    RecipeResults,
};
use super::plan::{loss_name, Plan, RecipeRun};
use crate::data::{Manifest, Split};
use crate::model::weights::{Weights, WEIGHTS_FILE};
use crate::ship::export::{export_bundle, ExportOptions, INT8_DECODER, INT8_ENCODER};
use crate::teacher::conv_net::backbone::FoldedBackbone;
use crate::train::align::AlignLoss;
use crate::train::distill::Inputs;
use crate::train::pipeline::{self, Common, Training, TRAINING_FILE};
use crate::train::{clear, read_json};
use crate::world::{self, HELD_OUT_FILE};

/// Wall time of each step, kept in the work directory across runs; shared by the chains that
/// run at once.
struct Clock {
    path: PathBuf,
    seconds: Mutex<BTreeMap<String, f64>>,
}

impl Clock {
    fn open(path: PathBuf) -> Result<Clock> {
        let seconds = if path.is_file() {
            read_json(&path, "recipe timings")?
        } else {
            BTreeMap::new()
        };
        Ok(Clock {
            path,
            seconds: Mutex::new(seconds),
        })
    }

    /// The time of each step named in `order`.
    fn times(&self, order: &[String]) -> Vec<(String, f64)> {
        let seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        order
            .iter()
            .map(|s| (s.clone(), seconds.get(s).copied().unwrap_or(f64::NAN)))
            .collect()
    }

    fn record(&self, name: &str, seconds: f64) -> Result<()> {
        let mut kept = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        // Another recipe process may share the work directory: keep what it wrote.
        if self.path.is_file() {
            let written: BTreeMap<String, f64> = read_json(&self.path, "recipe timings")?;
            for (step, s) in written {
                kept.entry(step).or_insert(s);
            }
        }
        kept.insert(name.into(), seconds);
        std::fs::write(&self.path, serde_json::to_string_pretty(&*kept)? + "\n")
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The steps of one line of work (the recipe's, or one loss's chain), in the order they ran
/// there, timed on the shared clock.
struct Steps<'c> {
    clock: &'c Clock,
    names: Vec<String>,
}

impl<'c> Steps<'c> {
    fn new(clock: &'c Clock) -> Steps<'c> {
        Steps {
            clock,
            names: Vec::new(),
        }
    }

    /// Runs `work` unless `done`, printing and keeping its wall time.
    fn step(&mut self, name: &str, done: bool, work: impl FnOnce() -> Result<()>) -> Result<()> {
        self.names.push(name.into());
        if done {
            println!("recipe: {name}: done before, kept");
            return Ok(());
        }
        println!("recipe: {name} ...");
        let began = Instant::now();
        work().with_context(|| format!("recipe step {name}"))?;
        let seconds = began.elapsed().as_secs_f64();
        println!("recipe: {name}: {seconds:.1} s");
        self.clock.record(name, seconds)
    }
}

/// Runs `chain` for every loss, up to `jobs` at once, and returns each chain's step names and
/// result in the order of `losses`, whatever order they finished in. After a chain fails no
/// other starts; the first failure in that order is returned, and any other is printed.
fn side_by_side<T: Send>(
    losses: &[AlignLoss],
    jobs: usize,
    clock: &Clock,
    chain: impl Fn(AlignLoss, &mut Steps) -> Result<T> + Sync,
) -> Result<Vec<(Vec<String>, T)>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let finished = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, losses.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&loss) = losses.get(i) else { break };
                    let mut steps = Steps::new(clock);
                    let result = chain(loss, &mut steps);
                    failed.fetch_or(result.is_err(), Ordering::SeqCst);
                    finished
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((i, steps.names, result));
                }
            });
        }
    });
    let mut finished = finished
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    finished.sort_by_key(|(i, _, _)| *i);
    let mut chains = Vec::new();
    let mut first_error = None;
    for (_, names, result) in finished {
        match (result, &first_error) {
            (Ok(t), _) => chains.push((names, t)),
            (Err(e), None) => first_error = Some(e),
            (Err(e), Some(_)) => eprintln!("recipe: another chain failed too: {e:#}"),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(chains),
    }
}

/// Whether `dir` holds a world made from `seed` and `shape` (one made from others is refused,
/// never silently kept: every stage after it would learn from the wrong scenes).
fn world_made(dir: &Path, seed: u64, shape: &world::WorldShape, file: &Path) -> Result<bool> {
    let stats = dir.join("stats.json");
    if !stats.is_file() {
        return Ok(false);
    }
    let made: serde_json::Value = read_json(&stats, "world statistics")?;
    let asked = serde_json::json!({ "seed": seed, "shape": shape });
    if made.get("seed") != asked.get("seed") || made.get("shape") != asked.get("shape") {
        bail!(
            "{} was made with another seed or world than {} says now ({} there, {} here): \
             remove it to make it again, or choose another --work",
            dir.display(),
            file.display(),
            serde_json::json!({ "seed": made.get("seed"), "shape": made.get("shape") }),
            asked
        );
    }
    Ok(true)
}

/// Whether the checkpoint `dir` was last made by a stage with the recipe `asked`: `None` when
/// no stage has written one there.
fn last_made_with(dir: &Path, asked: serde_json::Value) -> Result<Option<bool>> {
    if !dir.join(TRAINING_FILE).is_file() {
        return Ok(None);
    }
    let made_with = Training::read(dir)?.stages.pop().map(|s| s.recipe);
    Ok(Some(made_with == Some(asked)))
}

/// Whether a training stage's run directory holds its finished result, made with `recipe`
/// (a result made with another is refused, never silently kept).
fn trained<T: Serialize>(run: &Path, recipe: &T, file: &Path) -> Result<bool> {
    match last_made_with(&run.join("best"), serde_json::to_value(recipe)?)? {
        Some(false) => bail!(
            "{} was trained with another recipe than {} says now: remove it to train it again, \
             or choose another --work",
            run.display(),
            file.display()
        ),
        made => Ok(made.is_some()),
    }
}

/// Whether `dir` holds the graft of `source`'s backbone with a projector seeded by `seed` (one
/// made from another is refused, never silently kept).
fn grafted_from(dir: &Path, source: &Path, seed: u64, file: &Path) -> Result<bool> {
    let asked = pipeline::graft_recipe(&FoldedBackbone::load(source)?, seed);
    match last_made_with(dir, asked)? {
        Some(false) => bail!(
            "{} was grafted from another backbone or seed than {} says now: remove it to graft \
             again, or choose another --work",
            dir.display(),
            file.display()
        ),
        made => Ok(made.is_some()),
    }
}

impl RecipeRun<'_> {
    /// The bundles' name: that of the recipe's directory.
    fn bundle_name(&self) -> String {
        self.recipe
            .parent()
            .and_then(|d| d.file_name())
            .map_or("earsight".into(), |n| n.to_string_lossy().into_owned())
    }

    /// A stage's arguments, resuming its run from its last checkpoint when there is one.
    fn stage(&self, recipe: &Path, data: &Path, model: &Path, out: &Path) -> Result<Common> {
        crate::train::recover_checkpoints(out)?;
        let resume = out.join("last").is_dir();
        if !resume {
            clear(out)?;
        }
        Ok(Common {
            recipe: recipe.into(),
            data: data.into(),
            model: model.into(),
            out: out.into(),
            tokenizer: self.tokenizer.into(),
            resume,
            stop_after: None,
            checkpoint_every: self.checkpoint_every,
            progress: self.progress,
        })
    }

    fn export(
        &self,
        checkpoint: &Path,
        int8: bool,
        decoding: &DecodingConfig,
        card: &str,
        out: &Path,
    ) -> Result<()> {
        let training = Training::read(checkpoint)?;
        let quantization = |q| if int8 { q } else { Quantization::F32 };
        let options = ExportOptions {
            name: self.bundle_name(),
            encoder_quantization: quantization(INT8_ENCODER),
            decoder_quantization: quantization(INT8_DECODER),
            tokenizer: self.tokenizer.into(),
            tokenizer_provenance: self.tokenizer.display().to_string(),
            trained: training.trained(),
            training: training.summary(),
            seed: 0,
            decoding: decoding.clone(),
            card: card.into(),
            force: self.force,
        };
        export_bundle(&Weights::load(checkpoint)?, &options, out)?;
        Ok(())
    }

    /// A candidate's bundle in the work directory, as a timed step skipped when it is there.
    fn export_step(
        &self,
        steps: &mut Steps,
        step: &str,
        checkpoint: &Path,
        int8: bool,
        decoding: &DecodingConfig,
        dir: &Path,
    ) -> Result<()> {
        steps.step(step, dir.join(MANIFEST_FILE).is_file(), || {
            clear(dir)?;
            self.export(checkpoint, int8, decoding, "", dir)
        })
    }
}

/// Runs the recipe; see the module's documentation.
pub fn run<B: AutodiffBackend>(r: &RecipeRun, device: &B::Device) -> Result<RecipeResults> {
    let plan = Plan::read(r.recipe)?;
    if r.out.join(MANIFEST_FILE).exists() && !r.force {
        bail!(
            "{}: already holds a bundle; pass --force to replace it",
            r.out.display()
        );
    }
    std::fs::create_dir_all(r.work).with_context(|| format!("creating {}", r.work.display()))?;
    let clock = Clock::open(r.work.join("timings.json"))?;
    let mut steps = Steps::new(&clock);
    let shared = shared_stages::<B>(r, &plan, &mut steps, device)?;
    let (pictures, checkpoints) =
        candidates_trained::<B>(r, &plan, &clock, &mut steps, &shared, device)?;
    let world_dir = &shared.world;
    let (candidates, chosen, f32_test) =
        candidates_measured(r, &plan.decoding, &mut steps, world_dir, &checkpoints)?;
    let (chosen_name, _, _, chosen_checkpoint, _) = &checkpoints[chosen];
    let world_stats: serde_json::Value =
        read_json(&world_dir.join("stats.json"), "world statistics")?;
    let results = RecipeResults {
        captioner_pictures: measure_pictures(
            &pictures,
            &world_dir.join("scenes.jsonl"),
            Split::Test,
        )?,
        chosen_cider_f32: f32_test.metric("CIDEr-D"),
        chosen_cider_int8: candidates[chosen].test_audio.metric("CIDEr-D"),
        chosen: chosen_name.clone(),
        candidates,
        seconds: clock.times(&steps.names),
        world: world_stats,
    };
    let card = model_card(&plan.recipe, &plan.distill, r, &results);
    std::fs::write(
        r.work.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    std::fs::write(r.work.join("results.md"), &card)?;
    r.export(chosen_checkpoint, true, &plan.decoding, &card, r.out)?;
    println!(
        "recipe: chose {chosen_name} (validation source F1 audio-only); wrote {}",
        r.out.display()
    );
    Ok(results)
}

/// What every loss's chain starts from, in the work directory.
struct Shared {
    world: PathBuf,
    captioner: PathBuf,
    prefix: PathBuf,
    /// The checkpoint alignment starts from: the pretrained backbone, or the captioner.
    align_start: PathBuf,
}

/// The steps before the losses' chains: the world, the initial weights, the captioner, the
/// prefix and, when the recipe names it, the pretraining.
fn shared_stages<B: AutodiffBackend>(
    r: &RecipeRun,
    plan: &Plan,
    steps: &mut Steps,
    device: &B::Device,
) -> Result<Shared> {
    let recipe = &plan.recipe;
    let work = |p: &str| r.work.join(p);
    let world_dir = work("world");
    let done = world_made(&world_dir, recipe.seed, &recipe.world, r.recipe)?;
    steps.step("world", done, || {
        clear(&world_dir)?;
        world::generate(r.sources, recipe.seed, &recipe.world, &world_dir).map(drop)
    })?;
    let init = work("init");
    steps.step("init", init.join(WEIGHTS_FILE).is_file(), || {
        Weights::init(&plan.model, recipe.seed)?.save(&init)
    })?;
    let captioner = work("captioner");
    let done = trained(&captioner, &plan.captioner, &recipe.captioner)?;
    steps.step("captioner", done, || {
        let common = r.stage(&recipe.captioner, &world_dir, &init, &captioner)?;
        pipeline::captioner::<B>(&common, Some(&recipe.image), device).map(drop)
    })?;
    let captioner = captioner.join("best");
    let prefix = work("prefix");
    let done = trained(&prefix, &plan.prefix, &recipe.prefix)?;
    steps.step("prefix", done, || {
        let common = r.stage(&recipe.prefix, &world_dir, &captioner, &prefix)?;
        pipeline::prefix::<B>(&common, recipe.prefix_pairs, device).map(drop)
    })?;
    let prefix = prefix.join("best");
    // A prefix that tuned the decoder hands it on to every stage after.
    let speaker = if plan.prefix.decoder {
        let tuned = work("captioner-tuned");
        let done = pipeline::tuned_captioner_made(&prefix, &tuned)?;
        steps.step("captioner with the tuned decoder", done, || {
            clear(&tuned)?;
            pipeline::tuned_captioner_stage(&prefix, &tuned)
        })?;
        tuned
    } else {
        captioner.clone()
    };
    // Alignment starts from the pretrained backbone, with that captioner.
    let align_start = match &plan.pretrain {
        Some((file, pretrain_recipe)) => {
            let pretrained = work("pretrain");
            let done = trained(&pretrained, pretrain_recipe, file)?;
            steps.step("pretrain", done, || {
                let common = r.stage(file, &world_dir, &speaker, &pretrained)?;
                pipeline::pretrain_stage::<B>(&common, device).map(drop)
            })?;
            pretrained.join("best")
        }
        None => speaker.clone(),
    };
    // Or from the captioner with a distilled backbone grafted on.
    let align_start = match &recipe.audio_backbone {
        Some(source) => {
            let grafted = work("graft");
            let done = grafted_from(&grafted, source, recipe.seed, r.recipe)?;
            steps.step("graft", done, || {
                clear(&grafted)?;
                pipeline::graft_stage(&speaker, source, recipe.seed, &grafted).map(drop)
            })?;
            grafted
        }
        None => align_start,
    };
    Ok(Shared {
        world: world_dir,
        captioner,
        prefix,
        align_start,
    })
}

/// The captioner's captions of the test pictures, then every loss's chain (alignment,
/// pseudo-labels, distillation, the student's captions from picture and audio), side by side:
/// the captions' file and the candidates, two per loss in the recipe's order.
fn candidates_trained<B: AutodiffBackend>(
    r: &RecipeRun,
    plan: &Plan,
    clock: &Clock,
    steps: &mut Steps,
    shared: &Shared,
    device: &B::Device,
) -> Result<(PathBuf, Vec<Checkpoint>)> {
    let recipe = &plan.recipe;
    let work = |p: &str| r.work.join(p);
    let (world_dir, captioner, prefix) = (&shared.world, &shared.captioner, &shared.prefix);
    let captions_of = |model: &Path, prefix: &Path, splits: &[Split], inputs, out: &Path| {
        let partial = out.with_extension("partial");
        clear(&partial)?;
        pipeline::pseudo_labels::<B::InnerBackend>(
            model,
            prefix,
            world_dir,
            r.tokenizer,
            recipe.max_tokens,
            splits,
            inputs,
            &partial,
            device,
        )?;
        std::fs::rename(&partial, out)
            .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))
    };
    let pictures = work("pictures.jsonl");
    steps.step("captioner on pictures", pictures.is_file(), || {
        captions_of(
            captioner,
            captioner,
            &[Split::Test],
            Inputs::Picture,
            &pictures,
        )
    })?;
    let captions = |model: &Path, splits: &[Split], out: &Path| {
        captions_of(model, prefix, splits, Inputs::PictureAndAudio, out)
    };
    let all_splits = [Split::Train, Split::Val, Split::Test];
    // With chains side by side their progress bars would draw over each other.
    let chain_run = RecipeRun {
        progress: r.progress && r.jobs <= 1,
        ..*r
    };
    let chain = |loss: AlignLoss, steps: &mut Steps| -> Result<[Checkpoint; 2]> {
        let r = &chain_run;
        let tag = loss_name(loss);
        let aligned = work(&format!("align-{tag}"));
        let with_loss = plan.align.with_loss(loss);
        let done = trained(&aligned, &with_loss, &recipe.align)?;
        steps.step(&format!("align {tag}"), done, || {
            let common = r.stage(&recipe.align, world_dir, &shared.align_start, &aligned)?;
            pipeline::align_stage::<B>(&common, Some(loss), device).map(drop)
        })?;
        let aligned = aligned.join("best");
        let labels = work(&format!("labels-{tag}.jsonl"));
        steps.step(&format!("pseudo-label {tag}"), labels.is_file(), || {
            captions(&aligned, &all_splits, &labels)
        })?;
        let distilled = work(&format!("distill-{tag}"));
        let done = trained(&distilled, &plan.distill, &recipe.distill)?;
        steps.step(&format!("distill {tag}"), done, || {
            let common = r.stage(&recipe.distill, world_dir, &aligned, &distilled)?;
            pipeline::distill_stage::<B>(&common, &labels, device).map(drop)
        })?;
        let distilled = distilled.join("best");
        let av = work(&format!("audio-visual-{tag}+distill.jsonl"));
        steps.step(&format!("audio-visual {tag}+distill"), av.is_file(), || {
            captions(&distilled, &[Split::Val, Split::Test], &av)
        })?;
        Ok([
            (tag.clone(), loss, false, aligned, labels),
            (format!("{tag}+distill"), loss, true, distilled, av),
        ])
    };
    let mut checkpoints = Vec::new();
    for (names, chained) in side_by_side(&recipe.losses, r.jobs, clock, chain)? {
        steps.names.extend(names);
        checkpoints.extend(chained);
    }
    Ok((pictures, checkpoints))
}

/// Every candidate exported in int8 and measured, and the chosen one also exported in f32 and
/// measured on the world's test scenes: the candidates, the chosen one's index, and its f32
/// numbers.
fn candidates_measured(
    r: &RecipeRun,
    decoding: &DecodingConfig,
    steps: &mut Steps,
    world_dir: &Path,
    checkpoints: &[Checkpoint],
) -> Result<(Vec<Candidate>, usize, Measured)> {
    let work = |p: &str| r.work.join(p);
    let manifest = Manifest::read(&world_dir.join("manifest.jsonl"), None)?;
    let held_out_path = world_dir.join(HELD_OUT_FILE);
    let held_out = if held_out_path.is_file() {
        Some(Manifest::read(&held_out_path, None)?)
    } else {
        None
    };
    let bundles = work("bundles");
    let evals = work("eval");
    std::fs::create_dir_all(&evals)?;
    let mut candidates = Vec::new();
    for checkpoint in checkpoints {
        let (cname, _, _, weights, _) = checkpoint;
        let bundle = bundles.join(format!("{cname}-int8"));
        r.export_step(
            steps,
            &format!("export {cname}"),
            weights,
            true,
            decoding,
            &bundle,
        )?;
        let candidate =
            measure_candidate(checkpoint, &bundle, &evals, &manifest, held_out.as_ref())?;
        candidates.push(candidate);
    }
    let chosen = choose(&candidates).context("no candidate model")?;
    let (chosen_name, _, _, chosen_checkpoint, _) = &checkpoints[chosen];
    let f32_bundle = bundles.join(format!("{chosen_name}-f32"));
    r.export_step(
        steps,
        &format!("export {chosen_name} f32"),
        chosen_checkpoint,
        false,
        decoding,
        &f32_bundle,
    )?;
    let f32_test = measure_bundle(
        &f32_bundle,
        &manifest,
        Some(Split::Test),
        &evals.join(format!("{chosen_name}-f32-test.json")),
    )?;
    Ok((candidates, chosen, f32_test))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::ensure;

    use super::*;

    const LOSSES: [AlignLoss; 4] = [
        AlignLoss::Mmd,
        AlignLoss::Ot,
        AlignLoss::OtAtt,
        AlignLoss::Contrastive,
    ];

    #[test]
    fn chains_side_by_side_come_back_in_the_losses_order() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Clock::open(tmp.path().join("timings.json")).unwrap();
        // The first chain finishes last.
        let chains = side_by_side(&LOSSES, 4, &clock, |loss, steps| {
            let wait = if loss == AlignLoss::Mmd { 300 } else { 0 };
            steps.step(&loss_name(loss), false, || {
                std::thread::sleep(Duration::from_millis(wait));
                Ok(())
            })?;
            Ok(loss)
        })
        .unwrap();
        let names: Vec<String> = chains.iter().map(|(n, _)| n.concat()).collect();
        assert_eq!(names, ["mmd", "ot", "ot-att", "contrastive"]);
        let losses: Vec<AlignLoss> = chains.iter().map(|(_, loss)| *loss).collect();
        assert_eq!(losses, LOSSES);
        let timed = clock.times(&names);
        assert!(timed[0].1 >= 0.3, "{timed:?}");
    }

    #[test]
    fn after_a_chain_fails_no_other_starts() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Clock::open(tmp.path().join("timings.json")).unwrap();
        let started = Mutex::new(Vec::new());
        let err = side_by_side(&LOSSES, 1, &clock, |loss, _| {
            started.lock().unwrap().push(loss);
            ensure!(loss != AlignLoss::Ot, "ot broke");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "ot broke");
        assert_eq!(*started.lock().unwrap(), [AlignLoss::Mmd, AlignLoss::Ot]);
    }
}
