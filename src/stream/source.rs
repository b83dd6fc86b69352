//! Where `listen` gets its audio: the microphone, a file (at real-time pace or as fast as it
//! decodes), or raw PCM on a byte stream such as stdin.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::audio::pcm::{PcmFormat, PcmReader, MAX_CHANNELS};
use crate::audio::{AudioFile, SAMPLE_RATES};

use super::StreamError;

/// A source of mono samples at a fixed rate.
pub trait Source {
    /// Samples per second of what `read` delivers.
    fn rate(&self) -> u32;

    /// A live source runs at its own pace: when processing falls behind, windows are skipped
    /// rather than waited for. Otherwise every window is captioned.
    fn is_live(&self) -> bool;

    /// Appends the next samples to `out` (possibly none, after a short wait); returns false at
    /// the end of the input.
    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError>;

    /// Samples lost before they reached the pipeline.
    fn dropped(&self) -> u64 {
        0
    }

    /// Overruns reported by the capture device.
    fn xruns(&self) -> u64 {
        0
    }
}

/// An audio file, decoded and resampled in chunks.
pub struct FileSource {
    file: AudioFile,
    rate: u32,
    realtime: bool,
    started: Option<Instant>,
    delivered: u64,
}

impl FileSource {
    /// Opens `path` for delivery at `rate` Hz; `realtime` paces delivery to the clock, as a
    /// microphone would.
    pub fn open(path: &Path, rate: u32, realtime: bool) -> Result<FileSource, StreamError> {
        Ok(FileSource {
            file: AudioFile::open(path, rate)?,
            rate,
            realtime,
            started: None,
            delivered: 0,
        })
    }
}

impl Source for FileSource {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn is_live(&self) -> bool {
        self.realtime
    }

    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError> {
        let before = out.len();
        let more = self.file.read_into(out)?;
        if self.realtime {
            let started = *self.started.get_or_insert_with(Instant::now);
            // Hand samples over no sooner than a microphone would have captured them.
            self.delivered += (out.len() - before) as u64;
            let due = Duration::from_secs_f64(self.delivered as f64 / self.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(more)
    }
}

/// Raw PCM from a byte stream (stdin, a pipe from `arecord`).
pub struct PcmSource<R> {
    reader: PcmReader<R>,
    rate: u32,
    live: bool,
}

impl<R: Read> PcmSource<R> {
    /// `live`: the writer runs at its own pace (a capture tool), so windows are skipped when
    /// processing falls behind instead of blocking the writer.
    pub fn new(
        reader: R,
        name: &str,
        rate: u32,
        format: PcmFormat,
        channels: usize,
        live: bool,
    ) -> Result<PcmSource<R>, StreamError> {
        if !SAMPLE_RATES.contains(&rate) {
            return Err(StreamError::Config(format!(
                "{name}: --rate {rate}: expected {} to {} Hz",
                SAMPLE_RATES.start(),
                SAMPLE_RATES.end()
            )));
        }
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(StreamError::Config(format!(
                "{name}: --channels {channels}: expected 1 to {MAX_CHANNELS}"
            )));
        }
        Ok(PcmSource {
            reader: PcmReader::new(reader, name, format, channels),
            rate,
            live,
        })
    }
}

impl<R: Read> Source for PcmSource<R> {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError> {
        Ok(self.reader.read_into(out)?)
    }
}

/// The microphone.
#[cfg(feature = "mic")]
pub struct MicSource(pub crate::audio::mic::Microphone);

#[cfg(feature = "mic")]
impl Source for MicSource {
    fn rate(&self) -> u32 {
        self.0.rate()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError> {
        self.0.read_into(out)?;
        Ok(true)
    }

    fn dropped(&self) -> u64 {
        self.0.dropped()
    }

    fn xruns(&self) -> u64 {
        self.0.xruns()
    }
}
