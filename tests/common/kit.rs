//! What the integration tests of both crates share: `tests/common/mod.rs` declares this module
//! and `tools/tests/common/mod.rs` includes this file by its path.

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

/// How [`write_wav`] stores each sample.
#[derive(Clone, Copy, Debug)]
pub enum Pcm {
    /// 16-bit integers, the samples clamped to [-1, 1].
    I16,
    /// 32-bit floats, as they are.
    F32,
}

/// Writes `samples` (interleaved when `channels` is more than 1) as a WAV file at `rate`.
pub fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    pcm: Pcm,
    samples: impl IntoIterator<Item = f32>,
) {
    let (bits_per_sample, sample_format) = match pcm {
        Pcm::I16 => (16, hound::SampleFormat::Int),
        Pcm::F32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample,
        sample_format,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        match pcm {
            Pcm::I16 => w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16),
            Pcm::F32 => w.write_sample(s),
        }
        .unwrap();
    }
    w.finalize().unwrap();
}

/// Fails naming the first of `wanted` that `text` lacks, and showing `text`.
#[track_caller]
pub fn assert_contains(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "{w:?} is not in:\n{text}");
    }
}

/// Fails unless the command of `out` failed and said each of `wanted` on stderr; its stderr.
#[track_caller]
pub fn assert_failed(out: &Output, wanted: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the command succeeded:\n{stderr}");
    assert_contains(&stderr, wanted);
    stderr
}
