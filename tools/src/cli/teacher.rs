//! `earsight-tools teacher`: a pretrained tagger's classes and zero-shot accuracy, and the
//! convolutional student distilled from it: its graph, its thresholds per tag, its tags measured.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use earsight::bundle::Quantization;
use earsight_tools::score::eval::SILENCE;
use earsight_tools::teacher::conv_net::tagger::StudentTagger;
use earsight_tools::teacher::conv_net::ConvCheckpoint;
use earsight_tools::teacher::tag_scorer::{BundleTags, StudentTags};
use earsight_tools::teacher::zero_shot;
use earsight_tools::train::read_json;
use earsight_tools::train::thresholds::Thresholds;

use super::common::{in_checkout, SplitArg, ESC10_MAP};

/// The project's tag set, mapped to the AudioSet teacher's classes.
const TAGS: &str = "tools/configs/tags.json";
/// The recipe of the convolutional student.
const TEACH_CONV: &str = "tools/configs/teach-conv.json";

/// A convolutional student with the thresholds `teacher thresholds` tuned for it on a tag set.
#[derive(clap::Args)]
pub struct TunedStudent {
    #[arg(long)]
    student: PathBuf,
    /// What `teacher thresholds` wrote for the student and --tags.
    #[arg(long)]
    thresholds: PathBuf,
    #[arg(long, default_value = TAGS, value_parser = in_checkout)]
    tags: PathBuf,
}

impl TunedStudent {
    /// The tag set and its thresholds, checked to belong together.
    fn read(&self) -> Result<(zero_shot::LabelMap, Thresholds)> {
        let tags = zero_shot::LabelMap::read(&self.tags)?;
        let thresholds: Thresholds = read_json(&self.thresholds, "thresholds file")?;
        thresholds.check_tags(&tags)?;
        Ok((tags, thresholds))
    }
}

#[derive(Subcommand)]
pub enum TeacherCommand {
    /// Each file's best-scored teacher classes (any audio file the runtime reads).
    Tag {
        /// The teacher: a directory with one ONNX graph and its class CSV (here
        /// ../shared/models/efficientat-mn04).
        #[arg(long)]
        teacher: PathBuf,
        /// Classes shown per file.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Show the project's tags instead of the teacher's classes: a label map whose labels
        /// each take the best score of their teacher classes (tools/configs/tags.json).
        #[arg(long)]
        tags: Option<PathBuf>,
        /// One JSON object per file.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Zero-shot accuracy on one ESC-10 fold: each label's score is the best of the teacher
    /// classes --map gives it, the prediction the best label.
    ZeroShot {
        #[arg(long)]
        teacher: PathBuf,
        /// The data directory holding --metadata (here ../shared/data).
        #[arg(long)]
        data: PathBuf,
        /// The labelled clips under --data (`path,label,fold`; UrbanSound8K's
        /// urbansound8k/metadata.csv with tools/configs/us8k-audioset.json as --map).
        #[arg(long, default_value = "esc10/metadata.csv")]
        metadata: PathBuf,
        /// Measure this convolutional student (a `train teach` checkpoint) through the
        /// teacher's classes, instead of the teacher.
        #[arg(long)]
        student: Option<PathBuf>,
        /// The student's graph with int8 kernels.
        #[arg(long, requires = "student")]
        int8: bool,
        #[arg(long, default_value_t = 4)]
        fold: u32,
        /// ESC-10's labels mapped to the teacher's class indices.
        #[arg(long, default_value = ESC10_MAP, value_parser = in_checkout)]
        map: PathBuf,
        /// The whole report, every clip's prediction included, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A threshold per tag for a convolutional student, tuned for precision against the
    /// teacher on fresh mixtures of the clips its recipe holds out for validation (JSON).
    Thresholds {
        /// A `train teach` checkpoint of a convolutional student.
        #[arg(long, required_unless_present = "bundle")]
        student: Option<PathBuf>,
        /// Or a bundle's tagger, run as `earsight caption` runs it (its shipped thresholds are
        /// not read).
        #[arg(long, conflicts_with = "student")]
        bundle: Option<PathBuf>,
        #[arg(long)]
        teacher: PathBuf,
        /// The recipe the student was trained with: its sources and mixtures.
        #[arg(long, default_value = TEACH_CONV, value_parser = in_checkout)]
        config: PathBuf,
        /// The directory of the recipe's sources (here ../shared/data).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = TAGS, value_parser = in_checkout)]
        tags: PathBuf,
        #[arg(long, default_value_t = 1000)]
        mixtures: usize,
        /// The teacher's score from which a tag counts as present.
        #[arg(long, default_value_t = 0.5)]
        teacher_at: f32,
        /// The precision each threshold keeps on the mixtures.
        #[arg(long, default_value_t = 0.9)]
        precision: f64,
        /// Fewest right firings a threshold rests on; tags with fewer never fire.
        #[arg(long, default_value_t = 3)]
        min_hits: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// A convolutional student's tags at its thresholds, or a bundle's at those it ships, on a
    /// labelled fold held out of training, and on silence and -70 dBFS noise (JSON).
    TagEval {
        /// A `train teach` checkpoint of a convolutional student, measured at --thresholds.
        #[arg(long, required_unless_present = "bundle", requires = "thresholds")]
        student: Option<PathBuf>,
        /// What `teacher thresholds` wrote for the student (or the bundle's tagger) and --tags.
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Or a bundle's tagger, run as `earsight caption` runs it, at the thresholds it ships
        /// unless --thresholds is given.
        #[arg(long, conflicts_with = "student")]
        bundle: Option<PathBuf>,
        #[arg(long, default_value = TAGS, value_parser = in_checkout)]
        tags: PathBuf,
        /// The fold's labels mapped to teacher classes.
        #[arg(long, default_value = ESC10_MAP, value_parser = in_checkout)]
        map: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "esc10/metadata.csv")]
        metadata: PathBuf,
        #[arg(long, default_value_t = 4)]
        fold: u32,
    },
    /// A copy of a bundle with a convolutional student as its tagger: every event it captions
    /// carries the tags that reach their thresholds.
    Bundle {
        /// The bundle to copy (its captioner's files are copied unchanged).
        #[arg(long)]
        bundle: PathBuf,
        #[command(flatten)]
        tuned: TunedStudent,
        /// int8 kernels, one scale per output channel.
        #[arg(long)]
        int8: bool,
        /// Markdown for the model card after the table of tags: credits and measurements.
        #[arg(long)]
        card: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Replace a bundle already in --out.
        #[arg(long)]
        force: bool,
    },
    /// A copy of a tagged bundle with other thresholds for its tagger (`teacher thresholds
    /// --bundle` tunes them), the graph unchanged; `teacher guide` then steers it again.
    Retune {
        /// The tagged bundle to copy.
        #[arg(long)]
        bundle: PathBuf,
        /// What `teacher thresholds --bundle` wrote for the bundle's tagger.
        #[arg(long)]
        thresholds: PathBuf,
        /// Markdown for the model card after the table of tags: credits and measurements.
        #[arg(long)]
        card: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Replace a bundle already in --out.
        #[arg(long)]
        force: bool,
    },
    /// A copy of a bundle with the tagger of another (its graph, tags, thresholds and the model
    /// card's section on them): a new captioner keeps the tagger it is shipped with. The two
    /// must hear through one frontend; `teacher guide` then steers the copy's captions.
    Carry {
        /// The bundle to copy (its captioner's files are copied unchanged).
        #[arg(long)]
        bundle: PathBuf,
        /// The bundle whose tagger is carried.
        #[arg(long)]
        tagger: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Replace a bundle already in --out.
        #[arg(long)]
        force: bool,
    },
    /// A copy of a tagged bundle whose captions are steered by its tags: each tag carries the
    /// tag set's caption words and its typical score on validation clips, and decoding adds
    /// --tag-guidance times the logarithm of a tag's score over its typical score to its words'
    /// log-probabilities, and never says the words of tags --tag-veto forbids. The graphs are
    /// copied unchanged.
    Guide {
        /// A bundle with a tagger (`teacher bundle`).
        #[arg(long)]
        bundle: PathBuf,
        /// A clip manifest (`world`'s manifest.jsonl, or `import`'s): the tags' typical scores
        /// come from its --split clips, those labelled silence left out.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_enum, default_value = "val")]
        split: SplitArg,
        /// The tag set the tagger was made with, with each tag's words.
        #[arg(long, default_value = TAGS, value_parser = in_checkout)]
        tags: PathBuf,
        /// How strongly the tags steer the captions (0 carries the words and steers nothing).
        #[arg(long, value_parser = tag_guidance)]
        tag_guidance: f32,
        /// Which sources a caption may name: the words of a tag scored below this share of a
        /// window's best tag score are never said (0 forbids none, 1 all but the best tag's).
        #[arg(long, default_value_t = 0.0, value_parser = tag_veto)]
        tag_veto: f32,
        /// Markdown for the model card after the section on guidance: what was measured.
        #[arg(long)]
        card: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Replace a bundle already in --out.
        #[arg(long)]
        force: bool,
    },
    /// The ONNX graph of a convolutional student (`train teach` with `student`): mel window ->
    /// backbone tokens and tag scores.
    StudentGraph {
        /// A checkpoint of `train teach` (its best/ or last/).
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// int8 kernels, one scale per output channel.
        #[arg(long)]
        int8: bool,
        /// Then load the written graph in tract and run it this many times on one thread,
        /// printing the load and each run's milliseconds as JSON.
        #[arg(long)]
        time: Option<usize>,
    },
}

/// Runs one `teacher` subcommand.
pub fn run(command: TeacherCommand) -> Result<()> {
    use earsight_tools::teacher::Teacher;
    match command {
        TeacherCommand::Tag {
            teacher,
            top,
            tags,
            json,
            files,
        } => {
            let teacher = Teacher::load(&teacher)?;
            let tags = match tags {
                Some(path) => {
                    let map = zero_shot::LabelMap::read(&path)?;
                    map.check(&teacher)
                        .with_context(|| format!("--tags {}", path.display()))?;
                    Some(map)
                }
                None => None,
            };
            let mut failures = 0;
            for file in &files {
                let outputs = match teacher.file(file) {
                    Ok(o) => o,
                    Err(e) => {
                        eprintln!("earsight-tools: {e:#}");
                        failures += 1;
                        continue;
                    }
                };
                if let Some(map) = &tags {
                    let best = map.top(&outputs.scores, top);
                    if json {
                        let tags: Vec<_> = best
                            .iter()
                            .map(|&(i, score)| {
                                serde_json::json!({"label": map.labels[i].label, "score": score})
                            })
                            .collect();
                        println!("{}", serde_json::json!({ "file": file, "tags": tags }));
                    } else {
                        let named: Vec<String> = best
                            .iter()
                            .map(|&(i, score)| format!("{} {score:.3}", map.labels[i].label))
                            .collect();
                        println!("{}: {}", file.display(), named.join(", "));
                    }
                    continue;
                }
                let best = teacher.top(&outputs.scores, top);
                let class = |i: usize| &teacher.classes()[i];
                if json {
                    let top: Vec<_> = best
                        .iter()
                        .map(|&(i, score)| {
                            serde_json::json!({
                                "index": i, "mid": class(i).mid,
                                "name": class(i).display_name, "score": score,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::json!({ "file": file, "top": top }));
                } else {
                    let named: Vec<String> = best
                        .iter()
                        .map(|&(i, score)| format!("{} {score:.3}", class(i).display_name))
                        .collect();
                    println!("{}: {}", file.display(), named.join(", "));
                }
            }
            if failures > 0 {
                bail!("{failures} of {} files could not be tagged", files.len());
            }
            Ok(())
        }
        TeacherCommand::ZeroShot {
            teacher,
            data,
            fold,
            map,
            metadata,
            student,
            int8,
            json,
        } => {
            let teacher = Teacher::load(&teacher)?;
            let map = zero_shot::LabelMap::read(&map)?;
            let metadata = data.join(metadata);
            let report = match student {
                Some(dir) => {
                    let scheme = if int8 {
                        Quantization::Int8Weights
                    } else {
                        Quantization::F32
                    };
                    let student = StudentTagger::load(&dir, scheme)?;
                    zero_shot::esc_fold(&student, &teacher, &map, &metadata, fold)?
                }
                None => zero_shot::esc_fold(&teacher, &teacher, &map, &metadata, fold)?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", zero_shot::markdown(&report));
            }
            Ok(())
        }
        TeacherCommand::Thresholds {
            student,
            bundle,
            teacher,
            config,
            data,
            tags,
            mixtures,
            teacher_at,
            precision,
            min_hits,
            threads,
            out,
        } => {
            use earsight_tools::train::teach::TeachConfig;
            use earsight_tools::train::thresholds::{tune, TuneOptions};
            use earsight_tools::train::Recipe;
            let recipe = TeachConfig::read(&config)?;
            let teacher = Teacher::load(&teacher)?;
            let tags = zero_shot::LabelMap::read(&tags)?;
            let options = TuneOptions {
                sources: &recipe.sources,
                mixture: &recipe.mixture,
                mixtures,
                seed: recipe.optim.seed,
                teacher_at,
                precision,
                min_hits,
                threads,
            };
            let thresholds = match (student, bundle) {
                (Some(student), _) => {
                    let student = StudentTagger::load(&student, Quantization::F32)?;
                    let mut scorer = StudentTags {
                        student: &student,
                        tags: &tags,
                    };
                    tune(&mut scorer, &teacher, &tags, &data, &options)?
                }
                (None, Some(bundle)) => {
                    let mut scorer = BundleTags::open(&bundle, &tags)?;
                    tune(&mut scorer, &teacher, &tags, &data, &options)?
                }
                (None, None) => bail!("give --student or --bundle"),
            };
            let text = serde_json::to_string_pretty(&thresholds)?;
            std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
            println!("{text}");
            Ok(())
        }
        TeacherCommand::TagEval {
            student,
            thresholds,
            bundle,
            tags,
            map,
            data,
            metadata,
            fold,
        } => {
            use earsight_tools::train::thresholds::evaluate;
            let labels = zero_shot::LabelMap::read(&map)?;
            let metadata = data.join(metadata);
            let report = match (student, thresholds, bundle) {
                (Some(student), Some(thresholds), _) => {
                    let tuned = TunedStudent {
                        student,
                        thresholds,
                        tags,
                    };
                    let (tags, thresholds) = tuned.read()?;
                    let student = StudentTagger::load(&tuned.student, Quantization::F32)?;
                    let mut scorer = StudentTags {
                        student: &student,
                        tags: &tags,
                    };
                    let at: Vec<Option<f32>> =
                        thresholds.tags.iter().map(|t| t.threshold).collect();
                    evaluate(&mut scorer, &tags, &at, &labels, &metadata, fold)?
                }
                (None, thresholds, Some(bundle)) => {
                    let tags = zero_shot::LabelMap::read(&tags)?;
                    let mut scorer = BundleTags::open(&bundle, &tags)?;
                    let at: Vec<Option<f32>> = match thresholds {
                        Some(path) => {
                            let tuned: Thresholds = read_json(&path, "thresholds file")?;
                            tuned.check_tags(&tags)?;
                            tuned.tags.iter().map(|t| t.threshold).collect()
                        }
                        None => scorer.tag_specs().iter().map(|t| t.threshold).collect(),
                    };
                    evaluate(&mut scorer, &tags, &at, &labels, &metadata, fold)?
                }
                _ => bail!("give --student with --thresholds, or --bundle"),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        TeacherCommand::Bundle {
            bundle,
            tuned,
            int8,
            card,
            out,
            force,
        } => {
            use earsight_tools::ship::export::tagger::{attach, TaggerSource};
            let card = read_card(card)?;
            let (tags, thresholds) = tuned.read()?;
            let source = TaggerSource {
                checkpoint: &tuned.student,
                tags: &tags,
                thresholds: &thresholds,
                scheme: if int8 {
                    Quantization::Int8Weights
                } else {
                    Quantization::F32
                },
                card: &card,
            };
            let manifest = attach(&bundle, &source, &out, force)?;
            let tagger = manifest.tagger.expect("attach writes a tagger");
            eprintln!(
                "wrote {} with {} tags ({} with thresholds)",
                out.display(),
                tagger.tags.len(),
                tagger.tags.iter().filter(|t| t.threshold.is_some()).count()
            );
            Ok(())
        }
        TeacherCommand::Retune {
            bundle,
            thresholds,
            card,
            out,
            force,
        } => {
            use earsight_tools::ship::export::tagger::retune;
            let card = read_card(card)?;
            let thresholds: Thresholds = read_json(&thresholds, "thresholds file")?;
            let manifest = retune(&bundle, &thresholds, &card, &out, force)?;
            let tagger = manifest.tagger.expect("retune writes a tagger");
            eprintln!(
                "wrote {} with {} of its {} tags with thresholds",
                out.display(),
                tagger.tags.iter().filter(|t| t.threshold.is_some()).count(),
                tagger.tags.len()
            );
            Ok(())
        }
        TeacherCommand::Carry {
            bundle,
            tagger,
            out,
            force,
        } => {
            use earsight_tools::ship::export::tagger::carry;
            let manifest = carry(&bundle, &tagger, &out, force)?;
            eprintln!(
                "wrote {} with the tagger of {} ({} tags)",
                out.display(),
                tagger.display(),
                manifest.tagger.map_or(0, |t| t.tags.len())
            );
            Ok(())
        }
        TeacherCommand::Guide {
            bundle,
            data,
            split,
            tags,
            tag_guidance,
            tag_veto,
            card,
            out,
            force,
        } => {
            use earsight_tools::ship::export::tagger::{guide, Guidance};
            let tags = zero_shot::LabelMap::read(&tags)?;
            let card = read_card(card)?;
            let manifest = earsight_tools::data::Manifest::read(&data, None)?;
            let split = split.into();
            let clips: Vec<PathBuf> = manifest
                .clips
                .iter()
                .filter(|c| c.split == split && c.labels.iter().any(|l| l != SILENCE))
                .map(|c| c.audio.clone())
                .collect();
            if clips.is_empty() {
                bail!(
                    "{}: no clips with sound in the {split:?} split",
                    data.display()
                );
            }
            let guidance = Guidance {
                tags: &tags,
                weight: tag_guidance,
                veto: tag_veto,
                clips: &clips,
                card: &card,
            };
            guide(&bundle, &guidance, &out, force)?;
            eprintln!(
                "wrote {} with tag guidance {tag_guidance} and tag veto {tag_veto}",
                out.display()
            );
            Ok(())
        }
        TeacherCommand::StudentGraph {
            checkpoint,
            out,
            int8,
            time,
        } => {
            use earsight_tools::teacher::conv_net::graph;
            let ConvCheckpoint {
                student,
                backbone,
                head,
            } = ConvCheckpoint::load(&checkpoint)?;
            let scheme = if int8 {
                Quantization::Int8Weights
            } else {
                Quantization::F32
            };
            let n_mels = student.frontend.n_mels;
            let model = graph::tagger(&student.backbone, n_mels, &backbone, &head, scheme)?;
            std::fs::write(&out, earsight_tools::model::onnx::to_bytes(&model))
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
            if let Some(runs) = time {
                let timing =
                    graph::time_in_tract(&out, student.backbone.clip_frames, n_mels, runs)?;
                println!("{}", serde_json::to_string(&timing)?);
            }
            Ok(())
        }
    }
}

/// Parses `--tag-guidance`: a weight the runtime applies (0 to its largest).
fn tag_guidance(value: &str) -> Result<f32, String> {
    let max = earsight::bundle::MAX_TAG_GUIDANCE;
    match value.parse::<f32>() {
        Ok(w) if (0.0..=max).contains(&w) => Ok(w),
        _ => Err(format!("expected a number from 0 to {max}")),
    }
}

/// Parses `--tag-veto`: a share of the best tag score, 0 to 1.
fn tag_veto(value: &str) -> Result<f32, String> {
    match value.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number from 0 to 1".into()),
    }
}

/// The Markdown of `--card`, or nothing.
fn read_card(card: Option<PathBuf>) -> Result<String> {
    match card {
        Some(path) => {
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        }
        None => Ok(String::new()),
    }
}
