//! Raw PCM from a byte stream (stdin, a pipe from `arecord`): little-endian samples with no
//! header, so the rate, sample format and channel count come from the user. The stream is
//! checked against the stated format, because a misread format is not an error the bytes can
//! report themselves: it is loud noise captioned with confidence.

use super::{admit, AudioError, SAMPLE_LIMIT};

/// The most interleaved channels a raw stream may carry (a 32-channel array is the largest
/// capture device in common use); more is a wrong flag.
pub const MAX_CHANNELS: usize = 32;

/// The sample encodings accepted on a raw stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcmFormat {
    /// Signed 16-bit little-endian integers (`arecord -f S16_LE`).
    S16Le,
    /// 32-bit little-endian IEEE floats in [-1, 1] (`arecord -f FLOAT_LE`).
    F32Le,
}

impl PcmFormat {
    pub fn bytes_per_sample(self) -> usize {
        match self {
            PcmFormat::S16Le => 2,
            PcmFormat::F32Le => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PcmFormat::S16Le => "s16le",
            PcmFormat::F32Le => "f32le",
        }
    }

    fn decode(self, bytes: &[u8]) -> f32 {
        match self {
            PcmFormat::S16Le => i16::from_le_bytes([bytes[0], bytes[1]]) as f32 / 32768.0,
            PcmFormat::F32Le => f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        }
    }
}

impl std::str::FromStr for PcmFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "s16le" | "s16_le" => Ok(PcmFormat::S16Le),
            "f32le" | "f32_le" | "float_le" => Ok(PcmFormat::F32Le),
            other => Err(format!(
                "unknown PCM format {other:?} (expected s16le or f32le)"
            )),
        }
    }
}

/// How many non-zero 4-byte words are examined before 16-bit data is trusted not to be floats.
const PROBE_WORDS: usize = 4096;

/// Until this many bytes have arrived, a float beyond [`SAMPLE_LIMIT`] means the stream was
/// declared in the wrong format, and is an error; after it, the writer's format has been
/// right all along and such samples (a writer that switched formats, corruption) are refused
/// one by one like NaN, so a long-running stream goes on.
const FORMAT_SETTLED_BYTES: u64 = 1 << 16;

/// Decodes raw interleaved PCM into mono f32 samples, from whatever bytes it is given.
///
/// Samples that are not audio (NaN, infinite, beyond [`SAMPLE_LIMIT`]) are refused one by one:
/// heard as silence and counted ([`refused`](Self::refused)), so a burst of them neither ends a
/// stream that runs for months nor reaches the model. Every source does the same
/// ([`super::admit`]).
pub struct PcmReader {
    name: String,
    format: PcmFormat,
    channels: usize,
    bytes: Vec<u8>,
    probe: FloatProbe,
    total_bytes: u64,
    refused: u64,
}

impl PcmReader {
    /// `name` is how errors refer to the stream (`stdin`, a path).
    pub fn new(name: &str, format: PcmFormat, channels: usize) -> PcmReader {
        PcmReader {
            name: name.into(),
            format,
            channels: channels.max(1),
            bytes: Vec::with_capacity(1 << 14),
            probe: FloatProbe::default(),
            total_bytes: 0,
            refused: 0,
        }
    }

    /// Samples that were not audio, heard as silence.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn frame_bytes(&self) -> usize {
        self.format.bytes_per_sample() * self.channels
    }

    fn error(&self, reason: String) -> AudioError {
        AudioError::Malformed {
            path: self.name.clone().into(),
            reason,
        }
    }

    /// Takes the next bytes of the stream and appends their whole frames, downmixed, to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.check_format(bytes)?;
        self.total_bytes += bytes.len() as u64;
        self.bytes.extend_from_slice(bytes);
        self.emit_whole_frames(out);
        Ok(())
    }

    /// The end of the stream: an error for a partial frame or no audio at all; otherwise false
    /// (nothing more to read).
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        self.emit_whole_frames(out);
        if !self.bytes.is_empty() {
            return Err(self.error(format!(
                "the stream ends in the middle of a frame: {} trailing bytes, but a {} frame of \
                 {} channel(s) is {} bytes (check --format and --channels)",
                self.bytes.len(),
                self.format.name(),
                self.channels,
                self.frame_bytes()
            )));
        }
        if self.total_bytes == 0 {
            return Err(AudioError::Empty {
                path: self.name.clone().into(),
            });
        }
        Ok(false)
    }

    fn emit_whole_frames(&mut self, out: &mut Vec<f32>) {
        let frame = self.frame_bytes();
        let bps = self.format.bytes_per_sample();
        let whole = self.bytes.len() / frame * frame;
        let scale = 1.0 / self.channels as f32;
        let mut refused = 0;
        out.extend(self.bytes[..whole].chunks_exact(frame).map(|f| {
            f.chunks_exact(bps)
                .map(|s| admit(self.format.decode(s), &mut refused))
                .sum::<f32>()
                * scale
        }));
        self.refused += refused;
        self.bytes.drain(..whole);
    }

    /// Float samples are checked until the stream has shown its format (a finite float outside
    /// any sane range is never audio; NaN and infinities are refused one by one instead, see
    /// [`PcmReader`]); 16-bit data until enough of it has been seen not to read as floats. A
    /// read may end anywhere, even inside a sample.
    fn check_format(&mut self, new: &[u8]) -> Result<(), AudioError> {
        match self.format {
            PcmFormat::F32Le if self.total_bytes < FORMAT_SETTLED_BYTES => {
                let offset = self.total_bytes as usize % 4;
                let aligned = &new[((4 - offset) % 4).min(new.len())..];
                if let Some((i, x)) = aligned
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .enumerate()
                    .find(|(_, x)| x.is_finite() && x.abs() > SAMPLE_LIMIT)
                {
                    let index = (self.total_bytes as usize + (4 - offset) % 4) / 4 + i;
                    return Err(self.error(format!(
                        "sample {index} reads as {x:e} in f32le, but float audio lies in \
                         [-1, 1]: is the stream s16le? (pass --format s16le)"
                    )));
                }
            }
            PcmFormat::F32Le => {}
            PcmFormat::S16Le => {
                if self.probe.feed(new) == Some(true) {
                    return Err(self.error(
                        "the bytes read as well-formed 32-bit floats in [-1, 1], which s16le \
                         audio does not: is the stream f32le? (pass --format f32le)"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Decides whether a byte stream is made of 32-bit floats in [-1, 1]. Float audio almost always
/// is; 16-bit audio almost never is, since every other sample would have to sit in a narrow
/// band of values. Zero words (silence) say nothing either way and are not counted.
#[derive(Default)]
struct FloatProbe {
    carry: Vec<u8>,
    words: usize,
    plausible: usize,
    decided: bool,
}

impl FloatProbe {
    /// Feeds bytes; returns the verdict once, when enough words have been seen.
    fn feed(&mut self, bytes: &[u8]) -> Option<bool> {
        if self.decided {
            return None;
        }
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() / 4 * 4;
        for b in self.carry[..whole].chunks_exact(4) {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if x != 0.0 {
                self.words += 1;
                if x.is_finite() && (1e-20..=1.0).contains(&x.abs()) {
                    self.plausible += 1;
                }
            }
        }
        self.carry.drain(..whole);
        if self.words < PROBE_WORDS {
            return None;
        }
        self.decided = true;
        Some(self.plausible as f64 >= 0.95 * self.words as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands `rest` over in reads of up to 8 KiB, as a pipe would; false once it has ended.
    fn read_into(
        r: &mut PcmReader,
        rest: &mut &[u8],
        out: &mut Vec<f32>,
    ) -> Result<bool, AudioError> {
        if rest.is_empty() {
            return r.finish(out);
        }
        let (now, later) = rest.split_at(rest.len().min(8192));
        *rest = later;
        r.push(now, out)?;
        Ok(true)
    }

    fn tone(n: usize) -> Vec<f32> {
        (0..n).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect()
    }

    fn s16(samples: &[f32]) -> Vec<u8> {
        samples
            .iter()
            .flat_map(|&x| ((x * 32767.0) as i16).to_le_bytes())
            .collect()
    }

    fn f32le(samples: &[f32]) -> Vec<u8> {
        samples.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn read_all(mut bytes: &[u8], format: PcmFormat, channels: usize) -> Result<Vec<f32>, String> {
        let mut r = PcmReader::new("stdin", format, channels);
        let mut out = Vec::new();
        loop {
            match read_into(&mut r, &mut bytes, &mut out) {
                Ok(true) => {}
                Ok(false) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    #[test]
    fn both_formats_decode_to_the_same_samples() {
        let x = tone(20_000);
        let a = read_all(&s16(&x), PcmFormat::S16Le, 1).unwrap();
        let b = read_all(&f32le(&x), PcmFormat::F32Le, 1).unwrap();
        assert_eq!(a.len(), x.len());
        assert_eq!(b, x);
        assert!(a.iter().zip(&x).all(|(a, x)| (a - x).abs() < 1e-4));
    }

    #[test]
    fn stereo_is_downmixed() {
        let interleaved: Vec<f32> = tone(2_000).iter().flat_map(|&x| [x, 0.0]).collect();
        let mono = read_all(&f32le(&interleaved), PcmFormat::F32Le, 2).unwrap();
        assert_eq!(mono.len(), 2_000);
        assert_eq!(mono[10], interleaved[20] / 2.0);
    }

    #[test]
    fn a_wrong_format_is_reported_both_ways() {
        let x = tone(20_000);
        let e = read_all(&s16(&x), PcmFormat::F32Le, 1).unwrap_err();
        assert!(e.contains("is the stream s16le"), "{e}");
        let e = read_all(&f32le(&x), PcmFormat::S16Le, 1).unwrap_err();
        assert!(e.contains("is the stream f32le"), "{e}");
    }

    #[test]
    fn a_truncated_final_sample_is_reported() {
        let mut bytes = s16(&tone(1_000));
        bytes.push(7);
        let e = read_all(&bytes, PcmFormat::S16Le, 1).unwrap_err();
        assert!(e.contains("1 trailing bytes"), "{e}");
        let e = read_all(&f32le(&tone(1_001)), PcmFormat::F32Le, 2).unwrap_err();
        assert!(e.contains("4 trailing bytes"), "{e}");
    }

    #[test]
    fn non_finite_floats_are_heard_as_silence_and_counted() {
        let mut x = tone(5_000);
        x[100..200].fill(f32::NAN);
        x[300] = f32::INFINITY;
        let bytes = f32le(&x);
        let mut r = PcmReader::new("stdin", PcmFormat::F32Le, 1);
        let (mut rest, mut out) = (&bytes[..], Vec::new());
        while read_into(&mut r, &mut rest, &mut out).unwrap() {}
        assert_eq!(r.refused(), 101);
        assert_eq!(out.len(), 5_000);
        assert!(out[100..200].iter().all(|&s| s == 0.0) && out[300] == 0.0);
        assert_eq!(out[99], x[99]);
    }

    #[test]
    fn a_settled_f32_stream_that_switches_to_s16_goes_on_with_the_garbage_refused() {
        let x = tone(40_000);
        let mut bytes = f32le(&x);
        bytes.extend(s16(&tone(20_000)));
        let mut r = PcmReader::new("stdin", PcmFormat::F32Le, 1);
        let (mut rest, mut out) = (&bytes[..], Vec::new());
        while read_into(&mut r, &mut rest, &mut out).unwrap() {}
        assert_eq!(out.len(), 50_000);
        assert_eq!(out[..40_000], x[..]);
        assert!(r.refused() > 1_000, "{}", r.refused());
        assert!(out.iter().all(|s| s.abs() <= 16.0));
    }

    #[test]
    fn reads_that_end_inside_a_sample_decode_the_same() {
        let x = tone(3_000);
        let bytes = f32le(&x);
        let mut r = PcmReader::new("stdin", PcmFormat::F32Le, 1);
        let mut out = Vec::new();
        for piece in bytes.chunks(3) {
            r.push(piece, &mut out).unwrap();
        }
        assert!(!r.finish(&mut out).unwrap());
        assert_eq!(out, x);
    }

    #[test]
    fn an_empty_stream_is_reported() {
        let e = read_all(&[], PcmFormat::S16Le, 1).unwrap_err();
        assert!(e.contains("no audio samples"), "{e}");
    }
}
