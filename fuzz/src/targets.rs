//! The targets: each feeds one kind of outside input through the runtime's own code.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use earsight::audio::pcm::{PcmFormat, PcmReader, MAX_CHANNELS};
use earsight::audio::AudioFile;
use earsight::bundle::Manifest;
use earsight::config::ModelConfig;
use earsight::stream::{GateConfig, ListenConfig, VitalsConfig};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;

use crate::{mutate, Target};

/// Every target, by name.
pub fn all() -> [Target; 4] {
    [
        Target {
            name: "manifest",
            seeds: manifest_seeds,
            mutate: mutate::json,
            run: manifest,
        },
        Target {
            name: "audio-file",
            seeds: audio_seeds,
            mutate: mutate::bytes,
            run: audio_file,
        },
        Target {
            name: "raw-pcm",
            seeds: pcm_seeds,
            mutate: mutate::bytes,
            run: raw_pcm,
        },
        Target {
            name: "listen-values",
            seeds: value_seeds,
            mutate: values,
            run: listen_values,
        },
    ]
}

/// An outcome as a path through the checks: the refusal without its numbers.
fn outcome(error: impl std::fmt::Display) -> String {
    error
        .to_string()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

fn manifest_seeds() -> Vec<Vec<u8>> {
    vec![
        include_bytes!("../../tests/fixtures/tiny-bundle/manifest.json").to_vec(),
        include_bytes!("../../models/mini/manifest.json").to_vec(),
    ]
}

/// A manifest's text through the parser and every check `Bundle::open` makes before reading
/// the files; a manifest that passes must describe a model whose sizes can be computed.
fn manifest(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    match Manifest::parse(Path::new("manifest.json"), &text) {
        Ok(m) => {
            let (encoder, decoder) = m.model.parameter_counts();
            assert!(encoder > 0 && decoder > 0);
            let _ = (m.model.encoder_spec(), m.model.decoder_spec(), m.files());
            "ok".into()
        }
        Err(e) => outcome(e),
    }
}

/// The file kinds the reader is told by extension, chosen by an input's first byte.
const EXTENSIONS: [&str; 4] = ["wav", "ogg", "mp3", "flac"];

/// A WAV in memory, as hound writes one.
fn wav(rate: u32, channels: u16, bits: u16, float: bool, seconds: f32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut out = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).expect("a valid spec");
    let n = (rate as f32 * seconds) as usize * channels as usize;
    for i in 0..n {
        let x = 0.4 * (i as f32 * 0.05).sin();
        match (float, bits) {
            (true, _) => w.write_sample(x).unwrap(),
            (false, 8) => w.write_sample((x * 127.0) as i8).unwrap(),
            (false, 16) => w.write_sample((x * 32767.0) as i16).unwrap(),
            (false, _) => w.write_sample((x * 8_388_607.0) as i32).unwrap(),
        }
    }
    w.finalize().unwrap();
    out.into_inner()
}

fn audio_seeds() -> Vec<Vec<u8>> {
    let with_kind = |kind: u8, bytes: &[u8]| [&[kind][..], bytes].concat();
    // The recordings' first 24 KiB: whole headers, and audio that ends mid-stream.
    let head = |bytes: &[u8]| bytes[..bytes.len().min(24 << 10)].to_vec();
    vec![
        with_kind(0, &wav(16_000, 1, 16, false, 0.5)),
        with_kind(0, &wav(44_100, 2, 32, true, 0.3)),
        with_kind(0, &wav(8_000, 1, 8, false, 0.5)),
        with_kind(0, &wav(48_000, 3, 24, false, 0.2)),
        with_kind(
            0,
            &head(include_bytes!(
                "../../tests/fixtures/audio/factory_whistle.wav"
            )),
        ),
        with_kind(
            1,
            &head(include_bytes!("../../tests/fixtures/audio/dog_bark.ogg")),
        ),
        with_kind(
            2,
            &head(include_bytes!("../../tests/fixtures/audio/rooster.mp3")),
        ),
    ]
}

/// Where this process writes the audio input it reads back: memory-backed where there is
/// such a place, one file per process and kind.
fn scratch(ext: &str) -> PathBuf {
    let dir = Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("earsight-fuzz-{}.{ext}", std::process::id()))
}

/// The most samples one input may decode to before the target stops reading: more than an
/// hour at 16 kHz, so only a reader that never ends would reach it.
const MAX_SAMPLES: usize = 64_000_000;

/// An audio file through the reader `caption` and `listen --input` use, to the end.
fn audio_file(data: &[u8]) -> String {
    let Some((&kind, bytes)) = data.split_first() else {
        return "empty input".into();
    };
    let path = scratch(EXTENSIONS[kind as usize % EXTENSIONS.len()]);
    std::fs::write(&path, bytes).expect("the scratch file can be written");
    let mut file = match AudioFile::open(&path, 16_000) {
        Ok(f) => f,
        Err(e) => return outcome(e),
    };
    let (mut out, mut total) = (Vec::new(), 0);
    loop {
        out.clear();
        match file.read_into(&mut out) {
            Ok(true) => {
                assert!(out.iter().all(|x| x.is_finite()), "a non-finite sample");
                total += out.len();
                if total > MAX_SAMPLES {
                    return "decodes without end".into();
                }
            }
            Ok(false) if file.refused() > 0 => return "ok, with samples refused".into(),
            Ok(false) => return "ok".into(),
            Err(e) => return outcome(e),
        }
    }
}

fn pcm_seeds() -> Vec<Vec<u8>> {
    let tone = |n: usize| (0..n).map(|i| 0.4 * (i as f32 * 0.05).sin());
    let s16: Vec<u8> = tone(8_000)
        .flat_map(|x| ((x * 32767.0) as i16).to_le_bytes())
        .collect();
    let f32le: Vec<u8> = tone(8_000).flat_map(|x| x.to_le_bytes()).collect();
    let mut nan = f32le.clone();
    nan[400..800].copy_from_slice(&f32::NAN.to_le_bytes().repeat(100));
    vec![
        [&[0, 1][..], &s16].concat(),
        [&[1, 1][..], &f32le].concat(),
        [&[1, 2][..], &nan].concat(),
        [&[0, 4][..], &s16].concat(),
    ]
}

/// Raw PCM as stdin delivers it, in pieces whose sizes the input chooses: the first byte picks
/// the format, the second the channels.
fn raw_pcm(data: &[u8]) -> String {
    let [format, channels, rest @ ..] = data else {
        return "too short".into();
    };
    let format = if format % 2 == 0 {
        PcmFormat::S16Le
    } else {
        PcmFormat::F32Le
    };
    let channels = 1 + *channels as usize % MAX_CHANNELS;
    let mut reader = PcmReader::new("stdin", format, channels);
    let mut out = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let piece = (1 + rest[0] as usize * 97).min(rest.len());
        let (now, later) = rest.split_at(piece);
        if let Err(e) = reader.push(now, &mut out) {
            return outcome(e);
        }
        rest = later;
    }
    assert!(out.iter().all(|x| x.is_finite()), "a non-finite sample");
    match reader.finish(&mut out) {
        Ok(_) => "ok".into(),
        Err(e) => outcome(e),
    }
}

/// Numbers at the edges of what `listen`'s values may be.
const EDGE_F64: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e-9,
    2.0,
    10.24,
    10.25,
    1e9,
    86_400.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    f64::MAX,
    f64::MIN_POSITIVE,
];

/// Six values, 8 bytes each: window, hop, gate level, gate activity, stall, heartbeat.
const VALUES: usize = 6;

fn value_seeds() -> Vec<Vec<u8>> {
    let defaults = [10.24, 2.0, -50.0, 0.2, 5.0, 60.0];
    let odd = [0.001, -1.0, f64::NAN, 1e9, -5.0, f64::INFINITY];
    [defaults, odd]
        .iter()
        .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect()
}

fn values(rng: &mut StdRng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = if rng.random_bool(0.3) {
        mutate::bytes(rng, input, corpus)
    } else {
        input.to_vec()
    };
    out.resize(VALUES * 8, 0);
    let slot = rng.random_range(0..VALUES);
    let edge = *EDGE_F64.choose(rng).unwrap();
    out[slot * 8..slot * 8 + 8].copy_from_slice(&edge.to_le_bytes());
    out
}

/// `listen`'s numeric values through the checks it makes before reading any audio; a zero
/// byte-pattern slot stands for a value left unset, as an absent flag is.
fn listen_values(data: &[u8]) -> String {
    let mut padded = data.to_vec();
    padded.resize(VALUES * 8, 0);
    let v: Vec<Option<f64>> = padded
        .chunks_exact(8)
        .map(|b| {
            let bits = u64::from_le_bytes(b.try_into().unwrap());
            (bits != 0).then(|| f64::from_bits(bits))
        })
        .collect();
    let config = ListenConfig {
        window_s: v[0],
        hop_s: v[1],
        gate: GateConfig {
            threshold_db: v[2].unwrap_or(-50.0) as f32,
            min_active_s: v[3].unwrap_or(0.2),
        },
        vitals: VitalsConfig {
            stall_s: v[4],
            heartbeat_s: v[5],
        },
        ..ListenConfig::default()
    };
    match config.check(&ModelConfig::mini(100).frontend) {
        Ok(()) => "ok".into(),
        Err(e) => outcome(e),
    }
}
