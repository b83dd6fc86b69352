//! The measured part of the model card: how the chosen model was made and every number the
//! recipe measured, in Markdown.

use super::measure::RecipeResults;
use super::plan::{loss_name, RecipeConfig, RecipeRun};
use crate::train::distill::DistillConfig;

/// The data the world and the tokenizer come from, and their licences.
const DATA_AND_LICENCES: &str = "## Data and licences\n\n\
     The world's sounds are real recordings, mixed into scenes: ESC-10 (K. J. Piczak, ACM MM \
     2015; Freesound clips under CC BY 3.0 or CC0, credited per clip in its README), OpenSFX \
     (CC BY 3.0, CC BY-SA 3.0 or CC0 per clip), GCompris sounds (GPL-3 and Free Art \
     License) and scikit-maad soundscapes (BSD-3-Clause) as backgrounds; its speech is \
     espeak-ng's. Its pictures and visual captions are drawn by the tools from the scenes. \
     The tokenizer's vocabulary (word pieces only, no caption) comes from AudioCaps v1 \
     train (academic use) and Clotho v1 development (non-commercial research). The weights \
     were trained by this project from that data alone.\n\n";

fn cell(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or("–".into(), |v| format!("{v:.3}"))
}

/// The measured part of the model card, in Markdown.
pub fn model_card(
    recipe: &RecipeConfig,
    distill: &DistillConfig,
    r: &RecipeRun,
    results: &RecipeResults,
) -> String {
    let mut md = String::new();
    in_short(&mut md, results);
    how_it_was_made(&mut md, recipe, distill, r);
    wall_time(&mut md, results);
    what_it_hears(&mut md, results);
    md.push_str(DATA_AND_LICENCES);
    measured(&mut md, results);
    candidate_table(&mut md, results);
    md
}

/// What the chosen model names from audio alone, and what it names wrongly.
fn in_short(md: &mut String, results: &RecipeResults) {
    if let Some(chosen) = results.candidates.iter().find(|c| c.name == results.chosen) {
        let audio = &chosen.test_audio;
        md.push_str(&format!(
            "\n## In short\n\n{}: from audio alone it names {} of the sources in the world's \
             test scenes and {} of the held-out real ESC-10 recordings, which no stage saw \
             (the project's target is 0.7); {} of its {} world-test captions name a source the \
             scene does not have, {} speak of a picture, and {} of {} silent scenes get a \
             caption.\n",
            results.chosen,
            cell(audio.source_recall),
            cell(chosen.held_out.as_ref().and_then(|h| h.source_recall)),
            audio.false_source_captions,
            audio.clips,
            audio
                .picture_captions
                .map_or("an uncounted number".into(), |n| n.to_string()),
            audio.false_captions_on_silence,
            audio.silent_clips,
        ));
    }
}

/// The command that made the model and the stages it ran.
fn how_it_was_made(md: &mut String, recipe: &RecipeConfig, distill: &DistillConfig, r: &RecipeRun) {
    md.push_str("\n## How it was made\n\n");
    md.push_str(&format!(
        "`earsight-tools recipe {} --data {} --out {}` ({}): the miniature world of {} scenes \
         from the real recordings, stage 0 captioner on its pictures and visual captions, \
         stage 1a prefix on {} (picture, audio caption) pairs, {}stage 1b alignment (losses: \
         {}), pseudo-labels, stage 2 distillation ({} on them, audio only). No stage trains on \
         audio captions beyond the prefix pairs, and none on labels of the audio: what it says \
         of sounds comes from the pictures and their visual captions, as a pretrained \
         captioner's would.\n\n",
        r.recipe.display(),
        r.sources.display(),
        r.out.display(),
        recipe.model.display(),
        recipe.world.scenes,
        recipe.prefix_pairs,
        if recipe.pretrain.is_some() {
            "the audio backbone pretrained on the world's audio alone (masked spectrogram \
             modelling), "
        } else {
            ""
        },
        recipe
            .losses
            .iter()
            .map(|&l| loss_name(l))
            .collect::<Vec<_>>()
            .join(", "),
        match (distill.backbone, distill.decoder) {
            (false, false) => "the audio projector trained",
            (true, false) => "the audio encoder and projector trained",
            (false, true) => "the audio projector and the caption decoder trained",
            (true, true) => "the audio encoder, projector and caption decoder trained",
        },
    ));
    if let Some(backbone) = &recipe.audio_backbone {
        md.push_str(&format!(
            "Its audio backbone is not the model config's transformer: it is the convolutional \
             student of `{}`, distilled there from an AudioSet teacher (that bundle's or \
             checkpoint's model card credits the teacher and the data), grafted in front of a \
             new projector before stage 1b (`earsight-tools graft`) and kept frozen by every \
             stage after{}.\n\n",
            backbone.display(),
            if distill.backbone {
                " but stage 2, which fine-tunes it"
            } else {
                ""
            }
        ));
    }
    let folds = &recipe.world.urbansound8k_folds;
    if !folds.is_empty() {
        let folds: Vec<String> = folds.iter().map(u32::to_string).collect();
        md.push_str(&format!(
            "The world's recordings include UrbanSound8K folds {} (J. Salamon, C. Jacoby, J. P. \
             Bello, ACM MM 2014; CC BY-NC 3.0: used for training and evaluation only, none of it \
             is in this bundle).\n\n",
            folds.join(", ")
        ));
    }
}

/// The wall time of the whole recipe and of each step.
fn wall_time(md: &mut String, results: &RecipeResults) {
    // A step done by a run from before the recipe kept its times has none.
    let timed: Vec<f64> = results
        .seconds
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| s.is_finite())
        .collect();
    let untimed = results.seconds.len() - timed.len();
    md.push_str(&format!(
        "Wall time of the whole recipe: {:.1} min on the machine that ran it{}; per step:\n\n",
        timed.iter().sum::<f64>() / 60.0,
        if untimed > 0 {
            format!(", not counting {untimed} step(s) an earlier run made without keeping the time")
        } else {
            String::new()
        }
    ));
    md.push_str("| step | seconds |\n|---|---|\n");
    for (step, s) in &results.seconds {
        let seconds = if s.is_finite() {
            format!("{s:.1}")
        } else {
            "–".into()
        };
        md.push_str(&format!("| {step} | {seconds} |\n"));
    }
}

/// The recordings per source class in the world.
fn what_it_hears(md: &mut String, results: &RecipeResults) {
    md.push_str("\n## What it hears\n\nRecordings per source class in the world:\n\n");
    if let Some(per_class) = results.world["recordings_per_class"].as_object() {
        let list: Vec<String> = per_class
            .iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        md.push_str(&list.join(", "));
        md.push_str("\n\n");
    }
}

/// How the model was chosen and measured, and the stage 0 captioner on the pictures alone.
fn measured(md: &mut String, results: &RecipeResults) {
    md.push_str(&format!(
        "## Measured\n\nChosen: **{}**, the best validation source F1 audio-only (int8): the \
         harmonic mean of source recall and source precision (of the source classes its \
         captions name, the share that are there), validation CIDEr-D breaking ties. \
         World-test CIDEr-D of the chosen model: {:.3} in int8, {:.3} in f32.\n\n\
         World-test scenes (audio-only: the int8 bundle through the runtime; audio-visual: \
         picture + audio + prefix through the captioner, as the pseudo-labels are made), and the \
         held-out real ESC-10 fold (audio-only). METEOR is our proxy (exact and stem matching; \
         see `earsight-tools score`).\n\n",
        results.chosen, results.chosen_cider_int8, results.chosen_cider_f32
    ));
    let pictures = &results.captioner_pictures;
    md.push_str(&format!(
        "The stage 0 captioner alone, on the {} world-test pictures: CIDEr-D {} against their \
         visual captions, BLEU-4 {}; it names {} of the pictured sources, and {} captions name \
         a source the picture lacks.\n\n",
        pictures.clips,
        cell(Some(pictures.metric("CIDEr-D"))),
        cell(Some(pictures.metric("BLEU-4"))),
        cell(pictures.source_recall),
        pictures.false_source_captions,
    ));
}

/// Every candidate's numbers, audio-only and audio-visual, one row each.
fn candidate_table(md: &mut String, results: &RecipeResults) {
    md.push_str(
        "| model | input | val source F1 | val CIDEr-D | BLEU-4 | METEOR | ROUGE-L | CIDEr-D | \
         source recall | false captions | real: source recall | real: false captions |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in &results.candidates {
        for (input, m) in [
            ("audio", &c.test_audio),
            ("audio+visual", &c.test_audio_visual),
        ] {
            let audio = input == "audio";
            let real = c.held_out.as_ref().filter(|_| audio);
            md.push_str(&format!(
                "| {} | {input} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.name,
                if audio {
                    cell(Some(c.val_audio.source_f1()))
                } else {
                    "–".into()
                },
                if audio {
                    cell(Some(c.val_audio.metric("CIDEr-D")))
                } else {
                    "–".into()
                },
                cell(Some(m.metric("BLEU-4"))),
                cell(Some(m.metric("METEOR"))),
                cell(Some(m.metric("ROUGE-L"))),
                cell(Some(m.metric("CIDEr-D"))),
                cell(m.source_recall),
                if audio {
                    format!(
                        "{} of {} (silent: {} of {})",
                        m.false_source_captions,
                        m.clips,
                        m.false_captions_on_silence,
                        m.silent_clips
                    )
                } else {
                    format!("{} of {}", m.false_source_captions, m.clips)
                },
                cell(real.and_then(|h| h.source_recall)),
                real.map_or("–".into(), |h| format!(
                    "{} of {}",
                    h.false_source_captions, h.clips
                )),
            ));
        }
    }
    md.push_str(
        "\nSource recall: the share of audible sources the caption names (by the class's names \
         and sound words). False captions: captions naming a source class the clip does not \
         have; on silent scenes, any caption.\n",
    );
}
