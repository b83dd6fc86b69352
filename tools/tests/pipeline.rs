//! The whole recipe through the command line, at a tiny size on a miniature world made of the
//! fixture recordings: captioner, prefix, alignment, pseudo-labels, distillation, export. Each
//! stage's checkpoint must feed the next, and the bundle must say how it was made.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use earsight_tools::recipe::RecipeConfig;
use earsight_tools::train::align::AlignConfig;
use earsight_tools::train::captioner::CaptionerConfig;
use earsight_tools::train::distill::DistillConfig;
use earsight_tools::train::prefix::PrefixConfig;
use earsight_tools::train::pretrain::PretrainConfig;
use earsight_tools::train::teach::TeachConfig;
use earsight_tools::train::Recipe;

mod common;

use common::{argv, assert_contains, assert_failed, tools, tools_fails, tools_ok};

fn optim(batch: usize) -> serde_json::Value {
    serde_json::json!({
        "seed": 1, "epochs": 1, "batch_size": batch, "lr": 0.001,
        "betas": [0.9, 0.999], "weight_decay": 0.0, "halve_lr_at": []
    })
}

fn write(dir: &Path, name: &str, value: serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, value.to_string()).unwrap();
    p
}

#[test]
fn the_recipe_runs_end_to_end_and_the_bundle_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let world = t.join("world");
    let sources = common::world_sources(t);
    tools_ok(&argv(
        "world --sources {} --seed 1 --scenes 24 --out {}",
        &[&sources, &world],
    ));
    // The tiny model, with room for the world's longest captions.
    let mut tiny: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json"))
            .unwrap(),
    )
    .unwrap();
    tiny["decoder"]["max_positions"] = 64.into();
    let config = write(t, "tiny.json", tiny);
    let init = t.join("init");
    tools_ok(&argv(
        "init --config {} --seed 1 --out {}",
        &[&config, &init],
    ));
    let image = write(
        t,
        "image.json",
        serde_json::json!({"image_size": 64, "patch": 16, "dim": 32, "depth": 1, "heads": 2,
                           "mlp_ratio": 2, "out_dim": 32}),
    );
    let stage = |name: &str, recipe: &Path, model: &Path, extra: Vec<OsString>| -> PathBuf {
        let out = t.join(name);
        let mut args = argv(
            "train {} --config {} --data {} --model {} --out {} --quiet",
            &[&name, &recipe, &world, &model, &out],
        );
        args.extend(extra);
        let report: serde_json::Value = serde_json::from_str(&tools_ok(&args)).unwrap();
        assert!(report["steps"].as_u64().unwrap() > 0, "{name}: {report}");
        out.join("best")
    };

    let recipe = write(
        t,
        "captioner.json",
        serde_json::json!({"optim": optim(4), "picture_variants": 3, "picture_scenes": 5}),
    );
    let image_config = argv("--image-config {}", &[&image]);
    let captioner = stage("captioner", &recipe, &init, image_config);
    // Every train (scene, visual caption) is shown in three pictures, and so is every caption
    // of the five picture-only scenes, drawn over the train scenes' settings.
    let train: Vec<serde_json::Value> = std::fs::read_to_string(world.join("scenes.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|scene| scene["split"] == "train")
        .collect();
    let train_captions: usize = train
        .iter()
        .map(|scene| scene["visual_captions"].as_array().unwrap().len())
        .sum();
    let settings: std::collections::BTreeSet<String> = train
        .iter()
        .map(|scene| scene["background"].as_str().unwrap().to_string())
        .collect();
    let settings: Vec<String> = settings.into_iter().collect();
    let picture_captions: usize = earsight_tools::world::picture_scenes(1, 5, &settings)
        .iter()
        .map(|scene| scene.visual_captions.len())
        .sum();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.join("captioner/last/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["step"],
        (train_captions + picture_captions) * 3 / 4,
        "{state}"
    );
    let recipe = write(
        t,
        "prefix.json",
        serde_json::json!({"optim": optim(2), "n_prefix": 2, "init_std": 0.01}),
    );
    let prefix = stage("prefix", &recipe, &captioner, argv("--pairs 2", &[]));
    let recipe = write(
        t,
        "align.json",
        serde_json::json!({
            "loss": "ot-att", "optim": optim(4),
            "solver": {"kind": "sinkhorn", "epsilon": 0.05, "iterations": 20},
            "attentive": {"heads": 2, "temperature": 1.0, "lr": 0.001, "entropy_weights": [0.0]}
        }),
    );
    let aligned = stage("align", &recipe, &captioner, argv("--loss mmd", &[]));

    let labels = t.join("labels.jsonl");
    tools_ok(&argv(
        "pseudo-label --model {} --prefix {} --data {} --max-tokens 6 --out {}",
        &[&aligned, &prefix, &world, &labels],
    ));
    let lines = std::fs::read_to_string(&labels).unwrap();
    assert_eq!(lines.lines().count(), 24, "one pseudo-label per clip");

    let recipe = write(t, "distill.json", serde_json::json!({"optim": optim(4)}));
    let with_labels = argv("--labels {}", &[&labels]);
    let distilled = stage("distill", &recipe, &aligned, with_labels);

    let bundle = t.join("bundle");
    tools_ok(&argv(
        "export --weights {} --out {}",
        &[&distilled, &bundle],
    ));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let training = manifest["provenance"]["training"].as_str().unwrap();
    assert_eq!(manifest["trained"], true, "{manifest}");
    for stage in ["captioner", "align", "distill"] {
        assert!(training.contains(stage), "{stage} missing in {training:?}");
    }
    assert_eq!(
        manifest["model"]["encoder"]["n_prefix"], 0,
        "the board runs audio only, without the prefix"
    );

    // A data directory without a manifest is named.
    let args = argv(
        "train distill --config {} --data {} --model {} --out {} --labels {}",
        &[&recipe, &t, &aligned, &t.join("nowhere"), &labels],
    );
    tools_fails(&args, &["manifest.jsonl"]);
}

#[test]
fn the_shipped_recipes_are_valid() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    for dir in [configs.clone(), configs.join("mini"), configs.join("tiny")] {
        CaptionerConfig::read(&dir.join("captioner.json")).unwrap();
        PrefixConfig::read(&dir.join("prefix.json")).unwrap();
        AlignConfig::read(&dir.join("align.json")).unwrap();
        DistillConfig::read(&dir.join("distill.json")).unwrap();
    }
    for dir in [configs.clone(), configs.join("tiny")] {
        PretrainConfig::read(&dir.join("pretrain.json")).unwrap();
    }
    for name in ["mini", "tiny"] {
        RecipeConfig::read(&configs.join(name).join("recipe.json")).unwrap();
    }
    for name in [
        "teach.json",
        "teach-conv.json",
        "teach-conv-strided.json",
        "teach-conv-long.json",
    ] {
        TeachConfig::read(&configs.join(name)).unwrap();
    }
}

#[test]
fn bench_train_measures_every_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let image = write(
        tmp.path(),
        "image.json",
        serde_json::json!({"image_size": 64, "patch": 16, "dim": 32, "depth": 1, "heads": 2,
                           "mlp_ratio": 2, "out_dim": 32}),
    );
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json");
    let out = tools_ok(&argv(
        "bench-train --config {} --image-config {} --batch-size 2 --steps 2 --warmup 1 --json",
        &[&config, &image],
    ));
    let results: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let stages: Vec<&str> = results
        .iter()
        .map(|r| r["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["captioner", "prefix", "align", "distill"]);
    for r in &results {
        assert_eq!(r["steps"], 2, "{r}");
        assert_eq!(r["warmup"], 1, "{r}");
        assert!(r["first_loss"].as_f64().unwrap().is_finite(), "{r}");
        assert!(r["examples_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
}

/// The shipped tiny recipe and its stage recipes, copied into `dir` so that a test can change
/// them; the copy's recipe.json.
fn copy_tiny_recipe(dir: &Path) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir.join("recipe.json")
}

/// The miniature world's sources in `t/sources` and a copy of the tiny recipe in `t/tiny`: the
/// sources, the copy's directory and its recipe.json.
fn tiny_recipe_in(t: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let sources = common::world_sources(t);
    let configs = t.join("tiny");
    std::fs::create_dir(&configs).unwrap();
    let recipe = copy_tiny_recipe(&configs);
    (sources, configs, recipe)
}

#[test]
fn the_tiny_recipe_makes_a_bundle_and_goes_on_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (sources, configs, recipe) = tiny_recipe_in(t);
    let (work, bundle) = (t.join("work"), t.join("bundle"));
    assert_eq!(sources, t.join("sources"));
    // Paths relative to the working directory, as a user types them.
    let run_in = |work: &str, out: &Path, extra: &[&str]| {
        let out = out.strip_prefix(t).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_earsight-tools"))
            .args(argv(
                "recipe {} --data sources --work {} --out {} --quiet",
                &[&recipe, &work, &out],
            ))
            .args(extra)
            .current_dir(t)
            .output()
            .unwrap()
    };
    let run = |out: &Path, extra: &[&str]| run_in("work", out, extra);
    let first = run(&bundle, &[]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("recipe: captioner:"), "{stdout}");
    assert!(stdout.contains("recipe: pretrain:"), "{stdout}");
    let aligned: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("align-mmd/best/training.json")).unwrap(),
    )
    .unwrap();
    let stages: Vec<&str> = aligned["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["captioner", "pretrain", "align"]);

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("results.json")).unwrap()).unwrap();
    let candidates = results["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mmd",
            "mmd+distill",
            "ot",
            "ot+distill",
            "ot-att",
            "ot-att+distill",
            "contrastive",
            "contrastive+distill"
        ]
    );
    for c in candidates {
        // The held-out fold is the fixture's one fold-2 recording, which no scene uses.
        assert_eq!(c["held_out"]["clips"], 1, "{c}");
        assert!(c["val_audio"]["captions"]["CIDEr-D"].is_number(), "{c}");
        assert!(
            c["test_audio_visual"]["captions"]["BLEU-4"].is_number(),
            "{c}"
        );
    }
    // The stage 0 captioner is measured on every test picture, against the visual captions.
    let pictures = &results["captioner_pictures"];
    let test_scenes = std::fs::read_to_string(work.join("world/scenes.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""split":"test""#))
        .count();
    assert!(test_scenes > 0);
    assert_eq!(pictures["clips"], test_scenes, "{pictures}");
    assert!(pictures["captions"]["CIDEr-D"].is_number(), "{pictures}");
    let scenes = std::fs::read_to_string(work.join("world/scenes.jsonl")).unwrap();
    assert!(
        !scenes.contains("Rooster/2-0283-A"),
        "a held-out recording is in a scene"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["trained"], true);
    assert_eq!(manifest["encoder_quantization"], "int8-weights");
    // The bundle writes captions as long as the pseudo-labels it learnt from.
    assert_eq!(manifest["decoding"]["max_tokens"], 6);
    let card = std::fs::read_to_string(bundle.join("MODEL_CARD.md")).unwrap();
    let chosen = results["chosen"].as_str().unwrap();
    assert!(card.contains(&format!("Chosen: **{chosen}**")), "{card}");
    assert!(
        card.contains("The stage 0 captioner alone, on the"),
        "{card}"
    );
    for name in names {
        assert!(
            card.contains(&format!("| {name} | audio |")),
            "{name}: {card}"
        );
    }
    earsight::Captioner::open(&bundle).expect("the recipe's bundle loads in the runtime");

    // Run again: every step is found done, and the same model comes out (the card names
    // the other --out).
    let again = t.join("again");
    let second = run(&again, &[]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(!stdout.contains(" ...\n"), "a step ran again:\n{stdout}");
    let sha = |dir: &Path| {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        [
            m["sha256"]["encoder.onnx"].clone(),
            m["sha256"]["decoder.onnx"].clone(),
        ]
    };
    assert_eq!(sha(&bundle), sha(&again));

    // The losses' chains side by side make the same model, and the timings keep the recipe's
    // order of steps whatever order the chains finished in.
    let side = t.join("side");
    let out = run_in("work-side", &side, &["--jobs", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha(&bundle), sha(&side));
    let steps = |work: &str| -> Vec<serde_json::Value> {
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(t.join(work).join("results.json")).unwrap(),
        )
        .unwrap();
        results["seconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[0].clone())
            .collect()
    };
    assert_eq!(steps("work"), steps("work-side"));

    // A bundle already there is kept unless --force.
    assert_failed(&run(&bundle, &[]), &["--force"]);

    // A stage recipe or the world changed after it was made: the old result is refused, not
    // kept. Each file is put back after, so that each refusal is its own.
    let refused_after_edit = |file: &Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(file).unwrap();
        std::fs::write(file, text.replace(from, to)).unwrap();
        let out = run(&t.join("changed"), &[]);
        std::fs::write(file, text).unwrap();
        assert!(!out.status.success(), "{from} -> {to} ran");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused_after_edit(&configs.join("distill.json"), "0.001", "0.002");
    assert_contains(&stderr, &["distill-mmd", "another recipe"]);
    let stderr = refused_after_edit(&recipe, "\"scenes\": 24", "\"scenes\": 25");
    let wanted = [
        "work/world was made with another seed or world",
        r#""scenes":25"#,
    ];
    assert_contains(&stderr, &wanted);

    // A recipe naming a loss that does not exist is refused with the file and the loss.
    let bad = configs.join("bad.json");
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("\"contrastive\"", "\"cosine\"");
    std::fs::write(&bad, text).unwrap();
    let args = argv(
        "recipe {} --data {} --out {}",
        &[&bad, &sources, &t.join("never")],
    );
    tools_fails(&args, &["bad.json", "cosine"]);
}

#[test]
fn a_late_stage_recipe_mistake_stops_the_recipe_before_its_first_stage() {
    // The tiny recipe's decoder has 64 positions: the start token and 63 more.
    for (file, field, value, expected) in [
        (
            "align.json",
            "augment",
            serde_json::json!({"time_masks": 1, "time_mask_frames": 100000}),
            ["align.json: field `augment`", "time_mask_frames is 100000"],
        ),
        (
            "distill.json",
            "augment",
            serde_json::json!({"freq_masks": 1, "freq_mask_bins": 1000}),
            ["distill.json: field `augment`", "freq_mask_bins is 1000"],
        ),
        (
            "recipe.json",
            "max_tokens",
            serde_json::json!(64),
            ["field `max_tokens` is 64", "64 positions (at most 63"],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        copy_tiny_recipe(t);
        let changed = t.join(file);
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&changed).unwrap()).unwrap();
        config[field] = value;
        std::fs::write(&changed, config.to_string()).unwrap();
        let work = t.join("work");
        let out = tools(&argv(
            "recipe {} --data {} --work {} --out {} --quiet",
            &[
                &t.join("recipe.json"),
                &t.join("no-sources"),
                &work,
                &t.join("bundle"),
            ],
        ));
        assert!(!out.status.success(), "{file}: {field}");
        assert_contains(&String::from_utf8_lossy(&out.stderr), &expected);
        assert!(!work.join("world").exists(), "a stage ran before the check");
    }
}

/// A convolutional student seeded by `seed`, written as `train teach` writes its checkpoint,
/// hearing through `frontend`.
fn write_student(dir: &Path, frontend: &earsight::config::FrontendConfig, seed: u64) {
    use earsight_tools::model::weights::write_safetensors;
    use earsight_tools::teacher::conv_net::{
        ConvBackbone, ConvConfig, ConvStudent, Downsample, CONV_BACKBONE_FILE, CONV_CONFIG_FILE,
        TAG_HEAD_FILE,
    };
    type Cpu = earsight_tools::model::Cpu;
    std::fs::create_dir_all(dir).unwrap();
    let shape = ConvConfig {
        clip_frames: 64,
        stem: 4,
        channels: vec![8, 16],
        downsample: Downsample::Pool,
    };
    let net = ConvBackbone::<Cpu>::new(&shape, seed, &Default::default());
    write_safetensors(&dir.join(CONV_BACKBONE_FILE), &net.to_arrays()).unwrap();
    let student = ConvStudent {
        backbone: shape,
        frontend: frontend.clone(),
    };
    std::fs::write(
        dir.join(CONV_CONFIG_FILE),
        serde_json::to_string(&student).unwrap(),
    )
    .unwrap();
    let head = earsight_tools::train::teach::TagHead::<Cpu>::new(16, 3, 1, &Default::default());
    write_safetensors(&dir.join(TAG_HEAD_FILE), &head.to_arrays()).unwrap();
}

#[test]
fn a_recipe_with_a_grafted_backbone_keeps_it_frozen_to_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (sources, configs, recipe) = tiny_recipe_in(t);
    let model = earsight_tools::model::weights::read_config(&configs.join("model.json")).unwrap();
    write_student(&t.join("student"), &model.frontend, 5);
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recipe).unwrap()).unwrap();
    value["audio_backbone"] = "../student".into();
    value["losses"] = serde_json::json!(["contrastive"]);
    // Pretraining trains the transformer a graft replaces: the two are refused together.
    std::fs::write(&recipe, value.to_string()).unwrap();
    let err = format!("{:#}", RecipeConfig::read(&recipe).unwrap_err());
    assert_contains(&err, &["`pretrain` and `audio_backbone` both given"]);
    value.as_object_mut().unwrap().remove("pretrain");
    std::fs::write(&recipe, value.to_string()).unwrap();
    // Stage 1a tunes the decoder too: every stage after starts from it.
    let prefix_file = configs.join("prefix.json");
    let mut prefix: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&prefix_file).unwrap()).unwrap();
    prefix["decoder"] = true.into();
    std::fs::write(&prefix_file, prefix.to_string()).unwrap();

    let (work, bundle) = (t.join("work"), t.join("bundle"));
    let stdout = tools_ok(&argv(
        "recipe {} --data {} --work {} --out {} --quiet",
        &[&recipe, &sources, &work, &bundle],
    ));
    assert!(stdout.contains("recipe: graft:"), "{stdout}");
    assert!(
        stdout.contains("recipe: captioner with the tuned decoder:"),
        "{stdout}"
    );
    let stages = |dir: &str| -> Vec<String> {
        let training: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(work.join(dir).join("training.json")).unwrap(),
        )
        .unwrap();
        training["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        stages("align-contrastive/best"),
        ["captioner", "prefix", "graft", "align"]
    );
    // Alignment and distillation trained the projector; the backbone is the student's, as
    // grafted, to the last bit.
    let weights =
        |dir: &str| earsight_tools::model::weights::Weights::load(&work.join(dir)).unwrap();
    let (grafted, distilled) = (weights("graft"), weights("distill-contrastive/best"));
    for name in ["enc.conv.0.w", "enc.conv.2.b"] {
        assert_eq!(grafted.get(name), distilled.get(name), "{name}");
    }
    assert_ne!(grafted.get("proj.fc1.w"), distilled.get("proj.fc1.w"));
    // The graft holds the decoder stage 1a tuned, not the captioner's.
    let name = "dec.blocks.0.cross.v.w";
    assert_eq!(grafted.get(name), weights("prefix/best").get(name));
    assert_ne!(grafted.get(name), weights("captioner/best").get(name));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["format_version"], earsight::bundle::FORMAT_VERSION);
    assert_eq!(
        manifest["model"]["encoder"]["conv"]["channels"],
        serde_json::json!([8, 16])
    );
    let card = std::fs::read_to_string(bundle.join("MODEL_CARD.md")).unwrap();
    assert_contains(
        &card,
        &["grafted in front of a new projector", "kept frozen"],
    );
    earsight::Captioner::open(&bundle).expect("the recipe's bundle loads in the runtime");

    // Run again: the graft is found done; another student there is refused, not kept.
    let again = tools_ok(&argv(
        "recipe {} --data {} --work {} --out {} --quiet",
        &[&recipe, &sources, &work, &t.join("again")],
    ));
    for step in ["graft", "captioner with the tuned decoder"] {
        assert!(
            again.contains(&format!("recipe: {step}: done before, kept")),
            "{again}"
        );
    }
    std::fs::remove_dir_all(t.join("student")).unwrap();
    write_student(&t.join("student"), &model.frontend, 6);
    tools_fails(
        &argv(
            "recipe {} --data {} --work {} --out {}",
            &[&recipe, &sources, &work, &t.join("other")],
        ),
        &["work/graft was grafted from another backbone"],
    );
}
