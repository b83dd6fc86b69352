//! Audio in: files decoded by symphonia (WAV, FLAC, Ogg/Vorbis, MP3), raw PCM streams
//! ([`pcm`]) and the microphone ([`mic`], cargo feature `mic`, through the lock-free [`ring`]),
//! downmixed to mono and resampled by rubato to the model's rate, delivered in chunks so that a
//! long recording never sits in memory whole.

#[cfg(feature = "mic")]
pub mod mic;
pub mod pcm;
pub mod reopen;
pub mod ring;
mod wav;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The sample rates earsight reads, from files and raw PCM alike: telephone audio up to studio
/// interfaces. A rate outside is a damaged header or a wrong flag, and resampling from it would
/// take unbounded time or memory.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=384_000;

/// Audio samples lie in [-1, 1]; a sample beyond this (or NaN, or infinite) is not audio but
/// damage, and would overflow the resampler's and the frontend's sums. Every source refuses
/// such samples one by one: heard as silence, and counted.
pub const SAMPLE_LIMIT: f32 = 16.0;

/// A sample as the pipeline hears it: itself, or silence for one beyond [`SAMPLE_LIMIT`]
/// (counted in `refused`).
pub fn admit(x: f32, refused: &mut u64) -> f32 {
    if x.abs() <= SAMPLE_LIMIT {
        x
    } else {
        *refused += 1;
        0.0
    }
}

/// Runs a call into symphonia, turning a panic into the file's error: its readers panic on a
/// few damaged headers instead of returning an error (found by fuzzing: a WAV whose format
/// says 0 Hz after leading junk), and one damaged file must not end a batch or a service.
fn guarded<T>(path: &Path, call: impl FnOnce() -> T) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        AudioError::Malformed {
            path: path.into(),
            reason: format!("the decoder gave up on it ({what}): the file is damaged"),
        }
    })
}

/// Why a file could not be read as audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: is a directory, expected an audio file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: not a recognised audio file (supported: WAV, FLAC, Ogg/Vorbis, MP3)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: unsupported codec: {reason}")]
    UnsupportedCodec { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: contains no audio samples")]
    Empty { path: PathBuf },
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample { from: u32, to: u32, reason: String },
}

/// Converts mono audio from one rate to another, chunk by chunk, keeping the output aligned with
/// the input (the resampler's delay is trimmed, and the tail is flushed at the end).
pub struct MonoResampler {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    to_skip: usize,
    consumed: u64,
    produced: u64,
    ratio: (u64, u64),
}

impl MonoResampler {
    /// A resampler from `from` Hz to `to` Hz; a pass-through when they are equal.
    pub fn new(from: u32, to: u32) -> Result<MonoResampler, AudioError> {
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1).map_err(|e| {
                    AudioError::Resample {
                        from,
                        to,
                        reason: e.to_string(),
                    }
                })?,
            )
        };
        let to_skip = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(MonoResampler {
            inner,
            pending: Vec::new(),
            to_skip,
            consumed: 0,
            produced: 0,
            ratio: (from as u64, to as u64),
        })
    }

    /// All of `samples` from `from` Hz to `to` Hz at once: [`push`](Self::push) then
    /// [`finish`](Self::finish).
    pub fn resample_all(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
        let mut resampler = MonoResampler::new(from, to)?;
        let mut out = Vec::with_capacity(samples.len());
        resampler.push(samples, &mut out);
        resampler.finish(&mut out);
        Ok(out)
    }

    /// Feeds input samples and appends whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.consumed += input.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.produced += input.len() as u64;
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= r.input_frames_next() {
            let n = r.input_frames_next();
            let chunk = r
                .process(&[&self.pending[start..start + n]], None)
                .expect("chunk length is the one the resampler asked for");
            start += n;
            emit(&chunk[0], &mut self.to_skip, &mut self.produced, out);
        }
        self.pending.drain(..start);
    }

    /// Flushes the tail so that the output holds exactly `input * to / from` samples (rounded
    /// up). Nothing may be pushed afterwards.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let Some(r) = self.inner.as_mut() else {
            return;
        };
        let wanted = (self.consumed * self.ratio.1).div_ceil(self.ratio.0);
        let mut tail = std::mem::take(&mut self.pending);
        // The tail, then silence, in whole chunks: each yields output, so this loop ends.
        while self.produced < wanted {
            tail.resize(r.input_frames_next(), 0.0);
            let chunk = r
                .process(&[tail.as_slice()], None)
                .expect("chunk length is the one the resampler asked for");
            tail.clear();
            emit(&chunk[0], &mut self.to_skip, &mut self.produced, out);
        }
        let excess = (self.produced - wanted.min(self.produced)) as usize;
        out.truncate(out.len() - excess.min(out.len()));
        self.produced -= excess as u64;
    }
}

fn emit(chunk: &[f32], to_skip: &mut usize, produced: &mut u64, out: &mut Vec<f32>) {
    let skip = (*to_skip).min(chunk.len());
    *to_skip -= skip;
    out.extend_from_slice(&chunk[skip..]);
    *produced += (chunk.len() - skip) as u64;
}

/// A decoded audio file read in chunks of mono samples at a target rate.
pub struct AudioFile {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    resampler: MonoResampler,
    buffer: Option<SampleBuffer<f32>>,
    mono: Vec<f32>,
    finished: bool,
    samples_read: u64,
    refused: u64,
}

impl AudioFile {
    /// Opens `path` and prepares to deliver mono audio at `rate` Hz.
    pub fn open(path: &Path, rate: u32) -> Result<AudioFile, AudioError> {
        if path.is_dir() {
            return Err(AudioError::IsDirectory { path: path.into() });
        }
        let io = |error| AudioError::Io {
            path: path.into(),
            error,
        };
        let mut file = File::open(path).map_err(io)?;
        // A pipe (`<(...)`, /dev/stdin) cannot be read twice: symphonia alone reads it.
        let meta = file.metadata().map_err(io)?;
        if meta.is_file() {
            if let Some(reason) = wav::header_problem(&mut file, meta.len()) {
                return Err(AudioError::Malformed {
                    path: path.into(),
                    reason,
                });
            }
            file.seek(SeekFrom::Start(0)).map_err(io)?;
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = guarded(path, || {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
        })?
        .map_err(|e| match e {
            SymphoniaError::IoError(source)
                if source.kind() != std::io::ErrorKind::UnexpectedEof =>
            {
                AudioError::Io {
                    path: path.into(),
                    error: source,
                }
            }
            // A container that was recognised but holds a codec we do not decode.
            SymphoniaError::Unsupported(what) if !what.starts_with("core (probe)") => {
                AudioError::UnsupportedCodec {
                    path: path.into(),
                    reason: what.into(),
                }
            }
            _ => AudioError::UnknownFormat { path: path.into() },
        })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Empty { path: path.into() })?;
        let source_rate = track
            .codec_params
            .sample_rate
            .ok_or_else(|| AudioError::Malformed {
                path: path.into(),
                reason: "the audio track does not state its sample rate".into(),
            })?;
        if !SAMPLE_RATES.contains(&source_rate) {
            return Err(AudioError::Malformed {
                path: path.into(),
                reason: wav::rate_problem(source_rate),
            });
        }
        let channels = track.codec_params.channels.map_or(1, |c| c.count());
        if !(1..=pcm::MAX_CHANNELS).contains(&channels) {
            return Err(AudioError::Malformed {
                path: path.into(),
                reason: format!(
                    "the header says {channels} channels, but earsight reads 1 to {}",
                    pcm::MAX_CHANNELS
                ),
            });
        }
        let decoder = guarded(path, || {
            symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default())
        })?
        .map_err(|e| AudioError::UnsupportedCodec {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Ok(AudioFile {
            path: path.into(),
            track_id: track.id,
            format,
            decoder,
            resampler: MonoResampler::new(source_rate, rate)?,
            buffer: None,
            mono: Vec::new(),
            finished: false,
            samples_read: 0,
            refused: 0,
        })
    }

    /// Appends the next decoded samples (at the target rate) to `out`. Returns false once the
    /// file is exhausted; an empty file is an error.
    pub fn read_into(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if self.finished {
            return Ok(false);
        }
        loop {
            let format = &mut self.format;
            let packet = match guarded(&self.path, move || format.next_packet())
                .inspect_err(|_| self.finished = true)?
            {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.finish(out);
                }
                Err(e) => return Err(self.malformed(e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoder = &mut self.decoder;
            let decoded = match guarded(&self.path, move || decoder.decode(&packet))
                .inspect_err(|_| self.finished = true)?
            {
                Ok(d) => d,
                Err(SymphoniaError::DecodeError(reason)) => {
                    log::warn!(
                        "{}: skipping a corrupt packet: {reason}",
                        self.path.display()
                    );
                    continue;
                }
                Err(e) => return Err(self.malformed(e)),
            };
            let spec = *decoded.spec();
            let channels = spec.channels.count().max(1);
            let capacity = decoded.capacity() as u64;
            let buffer = match &mut self.buffer {
                Some(b) if b.capacity() as u64 >= capacity * channels as u64 => b,
                slot => slot.insert(SampleBuffer::new(capacity, spec)),
            };
            buffer.copy_interleaved_ref(decoded);
            let refused = &mut self.refused;
            self.mono.clear();
            self.mono
                .extend(buffer.samples().chunks_exact(channels).map(|frame| {
                    frame.iter().map(|&x| admit(x, refused)).sum::<f32>() / channels as f32
                }));
            if self.mono.is_empty() {
                continue;
            }
            self.samples_read += self.mono.len() as u64;
            self.resampler.push(&self.mono, out);
            return Ok(true);
        }
    }

    /// Samples that were not audio (NaN, infinities, beyond [`SAMPLE_LIMIT`]), heard as
    /// silence.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn finish(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        self.finished = true;
        if self.samples_read == 0 {
            return Err(AudioError::Empty {
                path: self.path.clone(),
            });
        }
        self.resampler.finish(out);
        Ok(true)
    }

    fn malformed(&self, e: SymphoniaError) -> AudioError {
        match e {
            SymphoniaError::Unsupported(what) => AudioError::UnsupportedCodec {
                path: self.path.clone(),
                reason: what.into(),
            },
            other => AudioError::Malformed {
                path: self.path.clone(),
                reason: other.to_string(),
            },
        }
    }
}

/// Reads a whole file into memory as mono samples at `rate` Hz (for short clips and tests; the
/// captioning path reads window by window instead).
pub fn read_all(path: &Path, rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut file = AudioFile::open(path, rate)?;
    let mut out = Vec::new();
    while file.read_into(&mut out)? {}
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_phase() {
        let input = sine(44_100, 440.0, 44_100);
        let mut r = MonoResampler::new(44_100, 16_000).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(777) {
            r.push(chunk, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(out.len(), 16_000);
        assert_eq!(
            MonoResampler::resample_all(&input, 44_100, 16_000).unwrap(),
            out,
            "chunks or all at once"
        );
        let expected = sine(16_000, 440.0, 16_000);
        let worst = out[200..15_800]
            .iter()
            .zip(&expected[200..15_800])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-2, "resampled sine deviates by {worst}");
    }
}
