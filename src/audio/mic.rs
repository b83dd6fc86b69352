//! Microphone capture with cpal (ALSA on Linux). The device's native rate, sample format and
//! channel count are used as they are; the callback downmixes to mono and pushes into the
//! capture ring, and nothing else happens on the audio thread.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, ErrorKind, FromSample, SampleFormat, SizedSample, Stream};

use super::admit;
use super::reopen::Reopening;
use super::ring::{capture_ring, RingConsumer, RingProducer};

/// Why the microphone could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MicError {
    #[error("cannot list audio input devices: {0}")]
    Host(String),
    #[error("no input device {wanted:?}; available input devices:\n{available}")]
    NoSuchDevice { wanted: String, available: String },
    #[error("no default input device; available input devices:\n{available}")]
    NoDefault { available: String },
    #[error("input device {device:?}: {reason}")]
    Device { device: String, reason: String },
    #[error("input device {device:?} was lost and could not be reopened: {reason}")]
    Lost { device: String, reason: String },
}

/// An input device as `earsight devices` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InputDevice {
    pub index: usize,
    pub name: String,
    pub id: String,
    pub is_default: bool,
    /// `rate Hz, channels ch, format`, when the device reports one.
    pub default_config: Option<String>,
    /// Supported `(min, max)` sample-rate ranges, one per supported configuration.
    pub rates: Vec<(u32, u32)>,
}

fn device_name(device: &Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .or_else(|_| device.id().map(|id| id.to_string()))
        .unwrap_or_else(|_| "(unnamed)".into())
}

fn input_devices() -> Result<Vec<Device>, MicError> {
    let host = cpal::default_host();
    Ok(host
        .input_devices()
        .map_err(|e| MicError::Host(e.to_string()))?
        .collect())
}

/// Lists the input devices of the default host, in the order `--device INDEX` counts them.
pub fn list_input_devices() -> Result<Vec<InputDevice>, MicError> {
    let default_id = cpal::default_host()
        .default_input_device()
        .and_then(|d| d.id().ok());
    Ok(input_devices()?
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let id = d.id().ok();
            let mut rates: Vec<(u32, u32)> = d
                .supported_input_configs()
                .map(|cs| {
                    cs.map(|c| (c.min_sample_rate(), c.max_sample_rate()))
                        .collect()
                })
                .unwrap_or_default();
            rates.sort_unstable();
            rates.dedup();
            InputDevice {
                index,
                name: device_name(d),
                id: id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                is_default: id.is_some() && id == default_id,
                default_config: d.default_input_config().ok().map(|c| {
                    format!(
                        "{} Hz, {} ch, {}",
                        c.sample_rate(),
                        c.channels(),
                        c.sample_format()
                    )
                }),
                rates,
            }
        })
        .collect())
}

fn describe_available(devices: &[Device]) -> String {
    if devices.is_empty() {
        return "  (none: is a sound card present, and may this user open it?)".into();
    }
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| format!("  {i}: {}", device_name(d)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Finds a device by index, exact name or id, or a fragment of a name or id that matches only
/// one (a board profile names its ALSA device by a fragment such as `plughw:CARD=Device`).
fn select_device(wanted: Option<&str>) -> Result<Device, MicError> {
    let devices = input_devices()?;
    let Some(wanted) = wanted else {
        return cpal::default_host()
            .default_input_device()
            .ok_or_else(|| MicError::NoDefault {
                available: describe_available(&devices),
            });
    };
    let by_index = wanted.parse::<usize>().ok().filter(|&i| i < devices.len());
    let lower = wanted.to_lowercase();
    let found = by_index
        .or_else(|| devices.iter().position(|d| device_name(d) == wanted))
        .or_else(|| {
            devices
                .iter()
                .position(|d| d.id().is_ok_and(|id| id.to_string() == wanted))
        })
        .or_else(|| {
            let matches: Vec<usize> = (0..devices.len())
                .filter(|&i| {
                    let id = devices[i].id().map(|id| id.to_string()).unwrap_or_default();
                    device_name(&devices[i]).to_lowercase().contains(&lower)
                        || id.to_lowercase().contains(&lower)
                })
                .collect();
            (matches.len() == 1).then(|| matches[0])
        });
    match found {
        Some(i) => Ok(devices.into_iter().nth(i).expect("index is in range")),
        None => Err(MicError::NoSuchDevice {
            wanted: wanted.into(),
            available: describe_available(&devices),
        }),
    }
}

/// What the error callback reports to the reading side, through atomics only.
#[derive(Default)]
struct StreamHealth {
    xruns: AtomicU64,
    /// 0 while healthy, else one of the `LOST_*` codes.
    lost: AtomicU8,
}

const LOST_DEVICE: u8 = 1;
const LOST_STREAM: u8 = 2;

/// How long a read waits for audio before returning empty-handed.
const POLL: Duration = Duration::from_millis(5);

/// Holds the callback's end of the ring while no stream owns it. The callback's closure gives
/// the producer back here when cpal drops it, so a reopened stream reuses the same ring instead
/// of making (and leaking) another.
type ProducerSlot = Arc<Mutex<Option<RingProducer>>>;

struct ReturnOnDrop {
    producer: Option<RingProducer>,
    slot: ProducerSlot,
}

impl Drop for ReturnOnDrop {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = self.producer.take();
        }
    }
}

/// A running capture stream and the consumer end of its ring.
pub struct Microphone {
    wanted: Option<String>,
    name: String,
    rate: u32,
    stream: Option<Stream>,
    ring: RingConsumer,
    spare: ProducerSlot,
    health: Arc<StreamHealth>,
    /// While the device is lost: when to look for it again.
    reopening: Option<Reopening>,
    refused: u64,
}

impl Microphone {
    /// Opens the device (`None`: the default input) at its default configuration and starts
    /// capturing.
    pub fn open(wanted: Option<&str>) -> Result<Microphone, MicError> {
        let device = select_device(wanted)?;
        let name = device_name(&device);
        let (producer, ring) = capture_ring();
        let spare = Arc::new(Mutex::new(Some(producer)));
        let health = Arc::new(StreamHealth::default());
        let (stream, rate) = start(&device, &name, &spare, &health)?;
        log::info!("capturing from {name:?} at {rate} Hz");
        Ok(Microphone {
            wanted: wanted.map(String::from),
            name,
            rate,
            stream: Some(stream),
            ring,
            spare,
            health,
            reopening: None,
            refused: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's native sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples lost because the pipeline did not drain the ring in time.
    pub fn dropped(&self) -> u64 {
        self.ring.dropped()
    }

    /// Overruns the device itself reported.
    pub fn xruns(&self) -> u64 {
        self.health.xruns.load(Ordering::Relaxed)
    }

    /// Appends the captured samples to `out`, waiting briefly when there are none. A lost
    /// device is looked for again (see [`Reopening`]) and capture resumes when it is back;
    /// meanwhile reads deliver nothing. A device that comes back at another rate is an error.
    pub fn read_into(&mut self, out: &mut Vec<f32>) -> Result<(), MicError> {
        if self.health.lost.load(Ordering::Acquire) != 0 || self.reopening.is_some() {
            self.reopen()?;
        }
        let start = out.len();
        if self.ring.drain_into(out) == 0 {
            std::thread::sleep(POLL);
            self.ring.drain_into(out);
        }
        for x in &mut out[start..] {
            *x = admit(*x, &mut self.refused);
        }
        Ok(())
    }

    /// Samples the device delivered that were not audio (NaN, beyond [`super::SAMPLE_LIMIT`]),
    /// heard as silence.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn reopen(&mut self) -> Result<(), MicError> {
        let now = Instant::now();
        let reopening = match &mut self.reopening {
            Some(r) => r,
            None => {
                let why = match self.health.lost.load(Ordering::Acquire) {
                    LOST_DEVICE => "the device disappeared",
                    _ => "the stream failed",
                };
                log::warn!("input device {:?}: {why}; looking for it again", self.name);
                // Dropping the stream drops its callback, which hands the producer back.
                self.stream = None;
                self.reopening.insert(Reopening::new(now))
            }
        };
        let (wanted, spare, health) = (self.wanted.as_deref(), &self.spare, &self.health);
        let attempt = reopening.attempt(now, || {
            health.lost.store(0, Ordering::Release);
            select_device(wanted).and_then(|d| {
                let name = device_name(&d);
                start(&d, &name, spare, health).map(|s| (name, s))
            })
        });
        match attempt {
            None => Ok(()),
            Some(Ok((_, (_, rate)))) if rate != self.rate => Err(MicError::Lost {
                device: self.name.clone(),
                reason: format!("it came back at {rate} Hz instead of {} Hz", self.rate),
            }),
            Some(Ok((name, (stream, _)))) => {
                self.name = name;
                self.stream = Some(stream);
                log::info!(
                    "capturing again from {:?} after {} attempts",
                    self.name,
                    reopening.attempts()
                );
                self.reopening = None;
                Ok(())
            }
            Some(Err(e)) => {
                log::debug!("input device still missing: {e}");
                Ok(())
            }
        }
    }
}

fn start(
    device: &Device,
    name: &str,
    spare: &ProducerSlot,
    health: &Arc<StreamHealth>,
) -> Result<(Stream, u32), MicError> {
    let failed = |reason: String| MicError::Device {
        device: name.into(),
        reason,
    };
    let config = device
        .default_input_config()
        .map_err(|e| failed(format!("no usable input configuration: {e}")))?;
    let rate = config.sample_rate();
    let channels = config.channels() as usize;
    let producer = spare
        .lock()
        .ok()
        .and_then(|mut p| p.take())
        .ok_or_else(|| failed("the previous stream still holds the capture ring".into()))?;
    let producer = ReturnOnDrop {
        producer: Some(producer),
        slot: spare.clone(),
    };
    let stream_config = config.config();
    let h = health.clone();
    let stream = match config.sample_format() {
        SampleFormat::I8 => build::<i8>(device, stream_config, producer, channels, h),
        SampleFormat::I16 => build::<i16>(device, stream_config, producer, channels, h),
        SampleFormat::I32 => build::<i32>(device, stream_config, producer, channels, h),
        SampleFormat::U8 => build::<u8>(device, stream_config, producer, channels, h),
        SampleFormat::U16 => build::<u16>(device, stream_config, producer, channels, h),
        SampleFormat::U32 => build::<u32>(device, stream_config, producer, channels, h),
        SampleFormat::F32 => build::<f32>(device, stream_config, producer, channels, h),
        SampleFormat::F64 => build::<f64>(device, stream_config, producer, channels, h),
        other => return Err(failed(format!("unsupported sample format {other}"))),
    }
    .map_err(|e| failed(format!("cannot open an input stream: {e}")))?;
    stream
        .play()
        .map_err(|e| failed(format!("cannot start capture: {e}")))?;
    Ok((stream, rate))
}

fn build<T>(
    device: &Device,
    config: cpal::StreamConfig,
    mut producer: ReturnOnDrop,
    channels: usize,
    health: Arc<StreamHealth>,
) -> Result<Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            if let Some(p) = producer.producer.as_mut() {
                p.push_interleaved(data, channels, |s| s.to_sample::<f32>());
            }
        },
        move |err: cpal::Error| match err.kind() {
            ErrorKind::Xrun => {
                health.xruns.fetch_add(1, Ordering::Relaxed);
            }
            ErrorKind::DeviceNotAvailable => health.lost.store(LOST_DEVICE, Ordering::Release),
            ErrorKind::StreamInvalidated | ErrorKind::BackendError | ErrorKind::Other => {
                health.lost.store(LOST_STREAM, Ordering::Release)
            }
            _ => {}
        },
        None,
    )
}
