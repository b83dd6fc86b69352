//! A whole file through the pipeline, as fast as it decodes: whole model windows end to end,
//! none skipped, each captioned window reported once. `earsight caption` and the tools'
//! evaluation both read files this way.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::WindowModel;
use super::{
    listen, Event, FileSource, GateConfig, ListenConfig, Sink, StreamError, Summary, VitalsConfig,
};
use crate::caption::{Captioner, Timings};
use crate::config::FrontendConfig;
use crate::engine::Tag;

/// The caption of one window of a file.
#[derive(Clone, Debug, Serialize)]
pub struct Caption {
    pub file: PathBuf,
    /// Window start, seconds from the beginning of the file.
    pub start: f64,
    /// Window end (the end of the audio for the last window).
    pub end: f64,
    pub caption: String,
    /// Mean log-probability per generated token.
    pub score: f32,
    /// The tags heard in the window, best first (none from a bundle without a tagger).
    pub tags: Vec<Tag>,
    #[serde(rename = "timings_ms")]
    pub timings: Timings,
}

/// The trailing part of a file is captioned only when it holds at least this much audio (or is
/// the only window): a fraction of a second looped to fill a window says little.
const MIN_TAIL_SECONDS: f64 = 1.0;

/// Runs `model` over the file at `path` in whole windows of `frontend`'s length, one after
/// the other; windows `gate` finds silent get none. The audio after the last whole window is
/// captioned when it is at least `min_tail_s` long, or when it is the whole file. Every
/// captioned window goes to `sink` as a final event of its own (no merging).
pub fn file_windows(
    model: &mut dyn WindowModel,
    frontend: &FrontendConfig,
    path: &Path,
    gate: &GateConfig,
    min_tail_s: f64,
    sink: &mut dyn Sink,
) -> Result<Summary, StreamError> {
    let f = frontend;
    let config = ListenConfig {
        window_s: None,
        hop_s: Some(f.clip_frames as f64 * f.hop_length as f64 / f.sample_rate as f64),
        gate: gate.clone(),
        min_tail_s,
        merge: false,
        // A file read as fast as it decodes never stalls, and a caption run is over in seconds.
        vitals: VitalsConfig {
            stall_s: None,
            heartbeat_s: None,
        },
    };
    let mut source = FileSource::open(path, f.sample_rate, false)?;
    let never = AtomicBool::new(false);
    listen(&mut source, model, f, &config, &never, sink)
}

/// What captioning a file gave besides its captions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Captioned {
    pub captions: usize,
    /// Samples that were not audio (NaN, infinite, beyond `audio::SAMPLE_LIMIT`), heard as
    /// silence.
    pub refused_samples: u64,
}

/// Captions a file window by window (whole model windows, none skipped), handing each caption
/// to `sink` as soon as it is ready; windows `gate` finds silent get none
/// ([`GateConfig::open`] captions every window).
pub fn caption_file(
    captioner: &mut Captioner,
    path: &Path,
    gate: &GateConfig,
    mut sink: impl FnMut(Caption),
) -> Result<Captioned, StreamError> {
    let f = captioner.bundle().manifest().model.frontend.clone();
    let window_s = f.window_samples() as f64 / f.sample_rate as f64;
    let mut count = 0;
    let mut to_caption = EventsToCaptions(|e: &Event| {
        count += 1;
        sink(Caption {
            file: path.into(),
            start: e.start,
            end: e.end,
            caption: e.caption.clone(),
            score: e.score,
            tags: e.tags.clone(),
            timings: e.timings.clone(),
        })
    });
    let summary = file_windows(
        captioner,
        &f,
        path,
        gate,
        MIN_TAIL_SECONDS.min(window_s),
        &mut to_caption,
    )?;
    Ok(Captioned {
        captions: count,
        refused_samples: summary.refused_samples,
    })
}

struct EventsToCaptions<F>(F);

impl<F: FnMut(&Event)> Sink for EventsToCaptions<F> {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        (self.0)(event);
        Ok(())
    }
}
