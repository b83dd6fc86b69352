//! Where `listen` gets its audio: the microphone, a file (at real-time pace or as fast as it
//! decodes), or raw PCM on a byte stream such as stdin.

use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::audio::pcm::{PcmFormat, PcmReader, MAX_CHANNELS};
use crate::audio::{AudioError, AudioFile, SAMPLE_RATES};

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

    /// Samples that were not audio (NaN, infinite, beyond `audio::SAMPLE_LIMIT`), heard as
    /// silence.
    fn refused(&self) -> u64 {
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

    fn refused(&self) -> u64 {
        self.file.refused()
    }
}

/// What the reading thread hands over: bytes, the end of the stream, or why it ended.
type Delivery = std::io::Result<Vec<u8>>;

/// How long a read waits for bytes before it returns none, so that `listen` can report the
/// windows it has, notice that audio stopped and beat its heartbeat while the writer is quiet.
const POLL: Duration = Duration::from_millis(100);

/// Bytes the reading thread may hold ahead of the pipeline: 16 reads of 64 KiB, a second of
/// 16-channel f32 audio at 32 kHz. A batch writer waits when they are full.
const READS_AHEAD: usize = 16;
const READ_BYTES: usize = 1 << 16;

/// Raw PCM from a byte stream (stdin, a pipe from `arecord`), read on a thread of its own so
/// that a writer that stays quiet (or open and silent) never holds back what already arrived.
pub struct PcmSource {
    deliveries: Receiver<Delivery>,
    decoder: PcmReader,
    name: String,
    rate: u32,
    live: bool,
    ended: bool,
}

impl PcmSource {
    /// `live`: the writer runs at its own pace (a capture tool), so windows are skipped when
    /// processing falls behind instead of blocking the writer.
    pub fn new<R: Read + Send + 'static>(
        mut reader: R,
        name: &str,
        rate: u32,
        format: PcmFormat,
        channels: usize,
        live: bool,
    ) -> Result<PcmSource, StreamError> {
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
        let (tx, deliveries) = sync_channel::<Delivery>(READS_AHEAD);
        std::thread::Builder::new()
            .name(format!("earsight-read-{name}"))
            .spawn(move || loop {
                let mut bytes = vec![0u8; READ_BYTES];
                let delivery = match reader.read(&mut bytes) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Ok(n) => {
                        bytes.truncate(n);
                        Ok(bytes)
                    }
                    Err(e) => Err(e),
                };
                let last = !matches!(&delivery, Ok(b) if !b.is_empty());
                // The pipeline hung up (it stopped or failed): nobody wants the rest.
                if tx.send(delivery).is_err() || last {
                    return;
                }
            })
            .map_err(|e| StreamError::Config(format!("{name}: cannot start its reader: {e}")))?;
        Ok(PcmSource {
            deliveries,
            decoder: PcmReader::new(name, format, channels),
            name: name.into(),
            rate,
            live,
            ended: false,
        })
    }
}

impl Source for PcmSource {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError> {
        if self.ended {
            return Ok(false);
        }
        match self.deliveries.recv_timeout(POLL) {
            Ok(Ok(bytes)) if !bytes.is_empty() => {
                self.decoder.push(&bytes, out)?;
                Ok(true)
            }
            Ok(Ok(_)) | Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Ok(self.decoder.finish(out)?)
            }
            Ok(Err(error)) => Err(AudioError::Io {
                path: self.name.clone().into(),
                error,
            }
            .into()),
            Err(RecvTimeoutError::Timeout) => Ok(true),
        }
    }

    fn refused(&self) -> u64 {
        self.decoder.refused()
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

    fn refused(&self) -> u64 {
        self.0.refused()
    }
}
