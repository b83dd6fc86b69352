//! Live captioning: a source of audio becomes a stream of caption events.
//!
//! source -> resample (rubato) -> incremental log-mel, each frame computed once as its samples
//! arrive -> windows of W seconds every H seconds -> gate -> encoder and decoder on a worker
//! thread -> events, identical consecutive captions merged -> sink.
//!
//! Between the frontend and the worker sits a queue of one window. A live source (microphone,
//! a file played at real-time pace, a capture pipe) never waits for the model: when the queue
//! is full the window is skipped and counted, so a slow board drops windows instead of
//! building up a backlog. A batch source (a file read as fast as it decodes) waits instead, so
//! every window is captioned.

pub mod alerts;
pub mod events;
pub mod file;
pub mod gate;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod source;
pub mod vitals;
#[cfg(feature = "http")]
pub mod web;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, TrySendError};
use std::time::Instant;

use serde::Serialize;

use crate::audio::{AudioError, MonoResampler};
use crate::caption::{CaptionError, Captioner, Timings, WindowCaption};
use crate::config::FrontendConfig;
use crate::frontend::StreamingLogMel;
use vitals::Vitals;

pub use alerts::{AlertCommand, AlertConfig, Alerter, Alerting};
pub use events::{
    with_tags, Event, EventMerger, Fanout, Heartbeat, JsonLines, Sink, Status, TextLines,
    LEVEL_FLOOR_DB,
};
pub use file::{caption_file, file_windows, Caption, Captioned};
pub use gate::GateConfig;
#[cfg(feature = "mic")]
pub use source::MicSource;
pub use source::{FileSource, PcmSource, Source};
pub use vitals::VitalsConfig;

/// Anything that stops a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[cfg(feature = "mic")]
    #[error(transparent)]
    Mic(#[from] crate::audio::mic::MicError),
    #[error(transparent)]
    Caption(#[from] CaptionError),
    #[error("{0}")]
    Config(String),
    #[error("cannot write captions: {0}")]
    Sink(std::io::Error),
}

/// Captions one window of log-mel frames. [`Captioner`] is the real one; the trait lets the
/// pipeline be driven by a wrapped captioner (slowed down, instrumented) in tests.
pub trait WindowModel: Send {
    fn caption_mel(&mut self, mel: &[f32]) -> Result<WindowCaption, CaptionError>;
}

impl WindowModel for Captioner {
    fn caption_mel(&mut self, mel: &[f32]) -> Result<WindowCaption, CaptionError> {
        Captioner::caption_mel(self, mel)
    }
}

/// How audio is cut into windows and which windows are captioned.
#[derive(Clone, Debug)]
pub struct ListenConfig {
    /// Window length in seconds; `None`: the model's whole window.
    pub window_s: Option<f64>,
    /// Seconds between window starts; `None`: 2 s, or the window if shorter.
    pub hop_s: Option<f64>,
    pub gate: GateConfig,
    /// At the end of the input, audio not yet in any window is captioned only when it is at
    /// least this long (or when it is the whole input).
    pub min_tail_s: f64,
    /// Merge consecutive identical captions into one event; when false every captioned window
    /// is reported once, as a final event of its own.
    pub merge: bool,
    /// When to say that audio stopped arriving, and how often to beat a heartbeat.
    pub vitals: VitalsConfig,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            window_s: None,
            hop_s: None,
            gate: GateConfig::default(),
            min_tail_s: 1.0,
            merge: true,
            vitals: VitalsConfig::default(),
        }
    }
}

/// The shortest window: less holds too few frames to be told from silence or described.
const MIN_WINDOW_S: f64 = 1.0;

/// The default hop: a new sound is reported within about this long.
const DEFAULT_HOP_S: f64 = 2.0;

/// A [`ListenConfig`] resolved against a frontend: everything in frames and samples.
#[derive(Clone, Debug)]
struct Plan {
    window_frames: usize,
    hop_frames: usize,
    frame_s: f64,
    min_tail_samples: u64,
}

impl ListenConfig {
    /// Checks every value against `frontend`'s model before any audio is read (the refusal names
    /// the flag, the value and the allowed range); what `listen` does first.
    pub fn check(&self, frontend: &FrontendConfig) -> Result<(), StreamError> {
        self.checked_plan(frontend).map(drop)
    }

    /// Every value checked, and the windows resolved in frames and samples.
    fn checked_plan(&self, f: &FrontendConfig) -> Result<Plan, StreamError> {
        let plan = self.plan(f)?;
        self.vitals.check().map_err(StreamError::Config)?;
        Ok(plan)
    }

    fn plan(&self, f: &FrontendConfig) -> Result<Plan, StreamError> {
        let frame_s = f.hop_length as f64 / f.sample_rate as f64;
        let model_s = f.clip_frames as f64 * frame_s;
        let window_s = self.window_s.unwrap_or(model_s);
        let hop_s = self.hop_s.unwrap_or(DEFAULT_HOP_S.min(window_s));
        let shortest = MIN_WINDOW_S.min(model_s);
        if !(window_s.is_finite() && window_s >= shortest) || window_s > model_s + frame_s / 2.0 {
            return Err(StreamError::Config(format!(
                "--window {window_s} s: expected from {shortest} s to the model's window of \
                 {model_s:.2} s"
            )));
        }
        if !(hop_s.is_finite() && hop_s > 0.0) || hop_s > window_s + frame_s / 2.0 {
            return Err(StreamError::Config(format!(
                "--hop {hop_s} s: expected a step above 0 and at most the window ({window_s} s); \
                 a longer step would leave audio between windows unheard"
            )));
        }
        self.gate.check(window_s).map_err(StreamError::Config)?;
        Ok(Plan {
            window_frames: ((window_s / frame_s).round() as usize).clamp(1, f.clip_frames),
            hop_frames: ((hop_s / frame_s).round() as usize).max(1),
            frame_s,
            min_tail_samples: (self.min_tail_s * f.sample_rate as f64).round() as u64,
        })
    }
}

/// What a run did, for the summary printed when it stops.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Seconds of audio that reached the frontend.
    pub audio_s: f64,
    pub wall_s: f64,
    /// Windows cut from the audio.
    pub windows: u64,
    /// Windows that went through the model.
    pub captioned: u64,
    /// Events reported (merged captions).
    pub events: u64,
    /// Windows the gate found silent.
    pub gated: u64,
    /// Windows skipped because the model was still busy with an earlier one.
    pub skipped_behind: u64,
    /// Samples lost between the device and the pipeline.
    pub dropped_samples: u64,
    /// Overruns reported by the capture device.
    pub xruns: u64,
    /// Samples that were not audio (NaN, infinite, beyond `audio::SAMPLE_LIMIT`), heard as
    /// silence.
    pub refused_samples: u64,
    /// Most windows ever waiting for the model.
    pub max_queued: usize,
    /// Most windows ever waiting to be reported in order.
    pub max_pending: usize,
    pub latency_ms_mean: f64,
    pub latency_ms_p95: f64,
    /// Mean per captioned window: frontend (frames computed since the previous window),
    /// waiting for the worker, encoder, decoder, tagger.
    pub frontend_ms_mean: f64,
    pub wait_ms_mean: f64,
    pub encoder_ms_mean: f64,
    pub decoder_ms_mean: f64,
    pub tagger_ms_mean: f64,
    /// Processing time (frontend on every frame, encoder, decoder and tagger on captioned
    /// windows) over audio time.
    pub real_time_factor: f64,
    /// Process CPU time over wall time, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// The process's peak resident memory, where the platform reports it.
    pub peak_rss_mb: Option<f64>,
    /// Times no audio arrived for the stall period (`vitals`).
    pub stalls: u64,
    /// True when the run was stopped (Ctrl-C, SIGTERM) rather than reaching the end of its
    /// input.
    pub stopped: bool,
}

/// Latencies in 1 ms buckets up to a minute: a percentile in constant memory, however long the
/// device listens.
struct LatencyHistogram {
    buckets: Vec<u32>,
    count: u64,
    sum: f64,
}

impl LatencyHistogram {
    fn new() -> Self {
        LatencyHistogram {
            buckets: vec![0; 60_000],
            count: 0,
            sum: 0.0,
        }
    }

    fn add(&mut self, ms: f64) {
        let last = self.buckets.len() - 1;
        self.buckets[(ms.max(0.0) as usize).min(last)] += 1;
        self.count += 1;
        self.sum += ms;
    }

    fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }

    /// The upper edge of the bucket holding the `q` quantile.
    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (ms, &n) in self.buckets.iter().enumerate() {
            seen += n as u64;
            if seen >= rank {
                return (ms + 1) as f64;
            }
        }
        0.0
    }
}

/// One window cut from the frames.
struct Cut {
    index: u64,
    start_sample: u64,
    end_sample: u64,
    mel: Vec<f32>,
    open: bool,
}

/// Keeps the frames the next window needs, and cuts windows from them.
struct Windowing {
    plan: Plan,
    frontend: FrontendConfig,
    gate: GateConfig,
    frames: VecDeque<f32>,
    levels: VecDeque<f32>,
    /// Index of the frame at the front of `frames`.
    first: u64,
    next_start: u64,
    next_index: u64,
    /// End of the last window cut, in samples.
    covered_to: Option<u64>,
}

impl Windowing {
    fn new(plan: Plan, f: &FrontendConfig, gate: GateConfig) -> Windowing {
        let capacity = (plan.window_frames + plan.hop_frames) * f.n_mels;
        Windowing {
            frontend: f.clone(),
            gate,
            frames: VecDeque::with_capacity(capacity),
            levels: VecDeque::with_capacity(plan.window_frames + plan.hop_frames),
            first: 0,
            next_start: 0,
            next_index: 0,
            covered_to: None,
            plan,
        }
    }

    fn add_frame(&mut self, row: &[f32], level: f32) {
        self.frames.extend(row);
        self.levels.push_back(level);
    }

    fn stored(&self) -> u64 {
        self.levels.len() as u64
    }

    /// The next whole window, once its last frame is in.
    fn next_window(&mut self) -> Option<Cut> {
        let w = self.plan.window_frames as u64;
        if self.first + self.stored() < self.next_start + w {
            return None;
        }
        let (hop, win) = (
            self.frontend.hop_length as u64,
            self.frontend.win_length as u64,
        );
        let end = self.next_start * hop + (w - 1) * hop + win;
        Some(self.cut(w as usize, end))
    }

    /// At the end of the input: a last, shorter window over audio no window has covered, when
    /// there is enough of it (or when no window was cut at all).
    fn tail(&mut self, total_samples: u64) -> Option<Cut> {
        let uncovered = total_samples.saturating_sub(self.covered_to.unwrap_or(0));
        let wanted = match self.covered_to {
            None => total_samples > 0,
            Some(_) => uncovered >= self.plan.min_tail_samples && uncovered > 0,
        };
        if !wanted {
            return None;
        }
        let available = (self.first + self.stored()).saturating_sub(self.next_start) as usize;
        Some(self.cut(available.min(self.plan.window_frames), total_samples))
    }

    fn cut(&mut self, n_frames: usize, end_sample: u64) -> Cut {
        let skip = (self.next_start - self.first) as usize;
        let n_mels = self.frontend.n_mels;
        let mut mel = Vec::with_capacity(self.frontend.clip_frames * n_mels);
        mel.extend(
            self.frames
                .range(skip * n_mels..(skip + n_frames) * n_mels)
                .copied(),
        );
        crate::frontend::fill_window(&mut mel, &self.frontend);
        let open = self.gate.is_open(
            self.levels.range(skip..skip + n_frames).copied(),
            self.plan.frame_s,
        );
        let cut = Cut {
            index: self.next_index,
            start_sample: self.next_start * self.frontend.hop_length as u64,
            end_sample,
            mel,
            open,
        };
        self.covered_to = Some(end_sample);
        self.next_index += 1;
        self.next_start += self.plan.hop_frames as u64;
        let drop = ((self.next_start - self.first) as usize).min(self.levels.len());
        self.frames.drain(..drop * n_mels);
        self.levels.drain(..drop);
        self.first += drop as u64;
        cut
    }
}

struct Job {
    index: u64,
    start_sample: u64,
    end_sample: u64,
    mel: Vec<f32>,
    ready: Instant,
    frontend_ms: f64,
}

struct Done {
    job: Job,
    caption: WindowCaption,
    started: Instant,
    finished: Instant,
}

/// A window waiting to be reported, in window order.
enum Slot {
    Waiting(u64),
    Ready(Box<Done>),
    /// One or more consecutive silent windows: they all mean the same to the merger.
    Silent,
}

/// Reports windows in order, whatever order the worker finishes them in. Only sent windows
/// and runs of silent ones wait here (skipped windows change nothing downstream), and finished
/// windows are collected after every send, so at most three sent windows (queued, being
/// captioned, just finished) and the silent runs between them are ever held: six slots.
struct Reporter<'a> {
    sink: &'a mut dyn Sink,
    merger: EventMerger,
    merge: bool,
    slots: VecDeque<Slot>,
    rate: f64,
    latency: LatencyHistogram,
    summary: Summary,
    stage_ms: [f64; 5],
}

impl Reporter<'_> {
    fn push(&mut self, slot: Slot) {
        if matches!(slot, Slot::Silent) && matches!(self.slots.back(), Some(Slot::Silent)) {
            return;
        }
        self.slots.push_back(slot);
        self.summary.max_pending = self.summary.max_pending.max(self.slots.len());
    }

    fn silent(&mut self) -> Result<(), StreamError> {
        self.push(Slot::Silent);
        self.flush()
    }

    fn done(&mut self, done: Done) -> Result<(), StreamError> {
        let index = done.job.index;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Slot::Waiting(i) if *i == index))
            .expect("every captioned window was sent, so it has a slot");
        *slot = Slot::Ready(Box::new(done));
        self.flush()
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        while matches!(self.slots.front(), Some(Slot::Ready(_) | Slot::Silent)) {
            match self.slots.pop_front() {
                Some(Slot::Ready(done)) => self.report(*done)?,
                Some(Slot::Silent) => {
                    if let Some(e) = self.merger.silence() {
                        self.emit(&e)?;
                    }
                }
                _ => unreachable!("the loop condition checked the front slot"),
            }
        }
        Ok(())
    }

    fn report(&mut self, done: Done) -> Result<(), StreamError> {
        let latency = (done.finished - done.job.ready).as_secs_f64() * 1e3;
        let wait = (done.started - done.job.ready).as_secs_f64() * 1e3;
        let t = &done.caption.timings;
        self.latency.add(latency);
        self.summary.captioned += 1;
        for (acc, ms) in self.stage_ms.iter_mut().zip([
            done.job.frontend_ms,
            wait,
            t.encoder,
            t.decoder,
            t.tagger,
        ]) {
            *acc += ms;
        }
        let event = Event {
            start: done.job.start_sample as f64 / self.rate,
            end: done.job.end_sample as f64 / self.rate,
            caption: done.caption.text,
            score: done.caption.score,
            tags: done.caption.tags,
            latency_ms: latency,
            windows: 1,
            is_final: false,
            alert: false,
            alerts: Vec::new(),
            timings: Timings {
                frontend: done.job.frontend_ms,
                total: done.job.frontend_ms + t.encoder + t.decoder + t.tagger,
                ..t.clone()
            },
        };
        if !self.merge {
            return self.emit(&Event {
                is_final: true,
                ..event
            });
        }
        for e in self.merger.captioned(event) {
            self.emit(&e)?;
        }
        Ok(())
    }

    fn status(&mut self, status: &Status) -> Result<(), StreamError> {
        self.sink.status(status).map_err(StreamError::Sink)
    }

    fn heartbeat(
        &self,
        source: &dyn Source,
        vitals: &Vitals,
        audio_s: f64,
        level_db: Option<f32>,
        now: Instant,
    ) -> Status {
        let s = &self.summary;
        Status::Heartbeat(Heartbeat {
            uptime_s: vitals.uptime_s(now),
            audio_s,
            windows: s.windows,
            captioned: s.captioned,
            events: s.events,
            skipped_behind: s.skipped_behind,
            dropped_samples: source.dropped(),
            xruns: source.xruns(),
            refused_samples: source.refused(),
            stalls: vitals.stalls,
            since_audio_s: vitals.since_audio_s(now),
            level_db: level_db.map(|db| db.max(LEVEL_FLOOR_DB)),
            rss_mb: crate::usage::rss_mb(),
        })
    }

    fn emit(&mut self, event: &Event) -> Result<(), StreamError> {
        if event.is_final {
            self.summary.events += 1;
        }
        self.sink.event(event).map_err(StreamError::Sink)
    }

    fn finish(mut self) -> Result<Summary, StreamError> {
        if let Some(e) = self.merger.finish() {
            self.emit(&e)?;
        }
        let n = self.summary.captioned.max(1) as f64;
        let s = &mut self.summary;
        s.latency_ms_mean = self.latency.mean();
        s.latency_ms_p95 = self.latency.quantile(0.95);
        s.frontend_ms_mean = self.stage_ms[0] / n;
        s.wait_ms_mean = self.stage_ms[1] / n;
        s.encoder_ms_mean = self.stage_ms[2] / n;
        s.decoder_ms_mean = self.stage_ms[3] / n;
        s.tagger_ms_mean = self.stage_ms[4] / n;
        Ok(self.summary)
    }
}

/// Runs the pipeline until the source ends or `stop` is set, handing events to `sink`.
pub fn listen(
    source: &mut dyn Source,
    model: &mut dyn WindowModel,
    frontend: &FrontendConfig,
    config: &ListenConfig,
    stop: &AtomicBool,
    sink: &mut dyn Sink,
) -> Result<Summary, StreamError> {
    let plan = config.checked_plan(frontend)?;
    let rate = frontend.sample_rate;
    let mut resampler = MonoResampler::new(source.rate(), rate)?;
    let mut features = StreamingLogMel::new(frontend);
    let mut windowing = Windowing::new(plan, frontend, config.gate.clone());
    let live = source.is_live();
    let (started, cpu_start) = (Instant::now(), crate::usage::cpu_seconds());
    let mut vitals = Vitals::new(&config.vitals, started);
    let mut reporter = Reporter {
        sink,
        merger: EventMerger::default(),
        merge: config.merge,
        slots: VecDeque::new(),
        rate: rate as f64,
        latency: LatencyHistogram::new(),
        summary: Summary::default(),
        stage_ms: [0.0; 5],
    };

    let mut frontend_total_ms = 0.0;
    let (job_tx, job_rx) = sync_channel::<Job>(1);
    let (done_tx, done_rx) = channel::<Result<Done, CaptionError>>();
    let queued = AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<(), StreamError> {
        let queued = &queued;
        scope.spawn(move || {
            for job in job_rx {
                queued.fetch_sub(1, Ordering::AcqRel);
                let started = Instant::now();
                let result = model.caption_mel(&job.mel).map(|caption| Done {
                    job,
                    caption,
                    started,
                    finished: Instant::now(),
                });
                let failed = result.is_err();
                if done_tx.send(result).is_err() || failed {
                    break;
                }
            }
        });

        let (mut chunk, mut resampled) = (Vec::new(), Vec::new());
        let mut frontend_ms = 0.0;
        let mut loudest: Option<f32> = None;
        let mut more = true;
        while more {
            if stop.load(Ordering::Relaxed) {
                reporter.summary.stopped = true;
                break;
            }
            chunk.clear();
            resampled.clear();
            more = source.read(&mut chunk)?;
            let t = Instant::now();
            let heard_s = features.samples_seen() as f64 / rate as f64;
            if let Some(status) = vitals.after_read(chunk.len(), heard_s, t) {
                reporter.status(&status)?;
            }
            if vitals.beat_due(t) {
                let level = loudest.take();
                let beat = reporter.heartbeat(source, &vitals, heard_s, level, t);
                reporter.status(&beat)?;
            }
            resampler.push(&chunk, &mut resampled);
            if !more {
                resampler.finish(&mut resampled);
            }
            features.push(&resampled, |_, row, level| {
                windowing.add_frame(row, level);
                loudest = Some(loudest.map_or(level, |l| l.max(level)));
            });
            let spent = t.elapsed().as_secs_f64() * 1e3;
            frontend_ms += spent;
            frontend_total_ms += spent;

            let mut cuts = Vec::new();
            while let Some(cut) = windowing.next_window() {
                cuts.push(cut);
            }
            if !more {
                cuts.extend(windowing.tail(features.samples_seen()));
            }
            for cut in cuts {
                reporter.summary.windows += 1;
                let frontend_ms = std::mem::take(&mut frontend_ms);
                if !cut.open {
                    reporter.summary.gated += 1;
                    reporter.silent()?;
                    continue;
                }
                let index = cut.index;
                let job = Job {
                    index: cut.index,
                    start_sample: cut.start_sample,
                    end_sample: cut.end_sample,
                    mel: cut.mel,
                    ready: Instant::now(),
                    frontend_ms,
                };
                queued.fetch_add(1, Ordering::AcqRel);
                let sent = if live {
                    match job_tx.try_send(job) {
                        Ok(()) => true,
                        Err(TrySendError::Full(job)) => {
                            queued.fetch_sub(1, Ordering::AcqRel);
                            reporter.summary.skipped_behind += 1;
                            log::debug!("window {} skipped: the model is behind", job.index);
                            continue;
                        }
                        Err(TrySendError::Disconnected(_)) => false,
                    }
                } else {
                    job_tx.send(job).is_ok()
                };
                if !sent {
                    break;
                }
                reporter.push(Slot::Waiting(index));
                let now_queued = queued.load(Ordering::Acquire);
                reporter.summary.max_queued = reporter.summary.max_queued.max(now_queued);
                for done in done_rx.try_iter() {
                    reporter.done(done?)?;
                }
            }
            for done in done_rx.try_iter() {
                reporter.done(done?)?;
            }
        }
        drop(job_tx);
        for done in done_rx.iter() {
            reporter.done(done?)?;
        }
        Ok(())
    })?;

    let wall = started.elapsed().as_secs_f64();
    reporter.summary.audio_s = features.samples_seen() as f64 / rate as f64;
    reporter.summary.wall_s = wall;
    reporter.summary.dropped_samples = source.dropped();
    reporter.summary.xruns = source.xruns();
    reporter.summary.stalls = vitals.stalls;
    reporter.summary.refused_samples = source.refused();
    reporter.summary.peak_rss_mb = crate::usage::peak_rss_mb();
    reporter.summary.cpu_percent = crate::usage::cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| 100.0 * (end - start) / wall.max(1e-9));
    let model_ms = reporter.stage_ms[2..].iter().sum::<f64>();
    let mut summary = reporter.finish()?;
    summary.real_time_factor = (frontend_total_ms + model_ms) / 1e3 / summary.audio_s.max(1e-9);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn frontend() -> FrontendConfig {
        ModelConfig::mini(100).frontend
    }

    #[test]
    fn windows_and_hops_are_checked_against_the_model() {
        let f = frontend();
        let plan = ListenConfig::default().plan(&f).unwrap();
        assert_eq!(plan.window_frames, f.clip_frames);
        assert_eq!(plan.hop_frames, 200);
        let too_long = ListenConfig {
            window_s: Some(11.0),
            ..Default::default()
        };
        let e = too_long.plan(&f).unwrap_err().to_string();
        assert!(e.contains("to the model's window of 10.24 s"), "{e}");
        let too_short = ListenConfig {
            window_s: Some(0.001),
            ..Default::default()
        };
        let e = too_short.plan(&f).unwrap_err().to_string();
        assert!(e.contains("--window 0.001 s: expected from 1 s"), "{e}");
        let gap = ListenConfig {
            window_s: Some(2.0),
            hop_s: Some(3.0),
            ..Default::default()
        };
        let e = gap.plan(&f).unwrap_err().to_string();
        assert!(e.contains("unheard"), "{e}");
    }

    #[test]
    fn windows_cover_the_frames_in_hops_and_the_tail_once() {
        let f = frontend();
        let config = ListenConfig {
            window_s: Some(1.0),
            hop_s: Some(0.5),
            gate: GateConfig {
                threshold_db: -200.0,
                min_active_s: 0.0,
            },
            min_tail_s: 0.3,
            ..Default::default()
        };
        let mut w = Windowing::new(config.plan(&f).unwrap(), &f, config.gate.clone());
        let mut mel = StreamingLogMel::new(&f);
        let samples: Vec<f32> = (0..f.sample_rate as usize * 3 + 8_000)
            .map(|i| (i as f32 * 0.01).sin())
            .collect();
        let mut cuts = Vec::new();
        for chunk in samples.chunks(1234) {
            mel.push(chunk, |_, row, db| w.add_frame(row, db));
            while let Some(c) = w.next_window() {
                cuts.push(c);
            }
            assert!(w.stored() as usize <= 100 + 50 + 1234 / 160 + 1);
        }
        cuts.extend(w.tail(mel.samples_seen()));
        let spans: Vec<(u64, u64)> = cuts
            .iter()
            .map(|c| (c.start_sample, c.end_sample))
            .collect();
        // 100-frame windows every 50 frames: 1 s windows every 0.5 s over 3.5 s of audio.
        assert_eq!(spans[0], (0, 99 * 160 + 400));
        assert_eq!(spans[1], (8_000, 8_000 + 99 * 160 + 400));
        assert_eq!(spans.len(), 6, "{spans:?}");
        assert_eq!(*spans.last().unwrap(), (40_000, 56_000), "the tail window");
        let offline = crate::frontend::LogMel::new(&f).window(&samples[8_000..8_000 + 16_240]);
        assert_eq!(
            cuts[1].mel, offline,
            "a streamed window equals the offline window"
        );
        let tail = crate::frontend::LogMel::new(&f).window(&samples[40_000..]);
        assert_eq!(
            cuts[5].mel, tail,
            "the short tail is looped to a full window as offline"
        );
        assert!(cuts.iter().all(|c| c.open));
    }
}
