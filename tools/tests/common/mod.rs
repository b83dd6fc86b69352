//! Shared helpers of the tools' integration tests: the binary, seeded bundles and test audio.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use earsight::bundle::{DecodingConfig, Quantization};
use earsight_tools::model::weights::{read_config, Weights};
use earsight_tools::ship::export::{export_bundle, ExportOptions};

#[path = "../../../tests/common/kit.rs"]
mod kit;
// Each test uses some of these.
#[allow(unused_imports)]
pub use kit::{assert_contains, assert_failed, write_wav, Pcm};

/// Runs the earsight-tools binary of this build.
pub fn tools<S: AsRef<OsStr>>(args: &[S]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_earsight-tools"))
        .args(args)
        .output()
        .expect("earsight-tools runs")
}

/// Runs earsight-tools and returns what it printed, failing the test with its errors.
pub fn tools_ok<S: AsRef<OsStr> + Debug>(args: &[S]) -> String {
    let out = tools(args);
    assert!(
        out.status.success(),
        "earsight-tools {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs earsight-tools, which must fail saying each of `wanted` on stderr; returns its stderr.
#[track_caller]
pub fn tools_fails<S: AsRef<OsStr> + Debug>(args: &[S], wanted: &[&str]) -> String {
    let out = tools(args);
    assert!(!out.status.success(), "earsight-tools {args:?} succeeded");
    assert_failed(&out, wanted)
}

/// A command line: the words of `template`, each `{}` replaced by the next of `values` as one
/// argument (a path with spaces in it stays whole).
pub fn argv(template: &str, values: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    let mut values = values.iter();
    let args = template
        .split_whitespace()
        .map(|word| match word {
            "{}" => values
                .next()
                .unwrap_or_else(|| panic!("{template:?} has more {{}} than values"))
                .as_ref()
                .to_owned(),
            word => word.into(),
        })
        .collect();
    assert!(
        values.next().is_none(),
        "{template:?} has fewer {{}} than values"
    );
    args
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared` beside the checkout: the real teachers and data, which CI has and a clone lacks.
pub fn shared() -> PathBuf {
    let dir = repo().join("../shared");
    assert!(
        dir.join("models").is_dir() && dir.join("data").is_dir(),
        "{}: no shared data and teachers here (models/, data/). This test runs in CI, which has \
         them beside the checkout; a clone runs the tests without --include-ignored",
        dir.display()
    );
    dir
}

pub fn tokenizer() -> PathBuf {
    repo().join("models/tokenizer/tokenizer.json")
}

pub fn weights(config: &str, seed: u64) -> Weights {
    let config = read_config(&repo().join("tools/configs").join(config)).unwrap();
    Weights::init(&config, seed).unwrap()
}

/// Exports `weights` into `dir` with the given scheme for both graphs.
pub fn export(weights: &Weights, scheme: Quantization, seed: u64, dir: &Path) {
    let options = ExportOptions {
        name: "test".into(),
        encoder_quantization: scheme,
        decoder_quantization: scheme,
        tokenizer: tokenizer(),
        tokenizer_provenance: "models/tokenizer/tokenizer.json".into(),
        trained: false,
        training: "untrained: seeded random weights".into(),
        seed,
        decoding: DecodingConfig::default(),
        card: String::new(),
        force: false,
    };
    export_bundle(weights, &options, dir).unwrap();
}

/// The real recordings in tests/fixtures/audio.
pub fn recordings() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/fixtures/audio"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("ogg" | "wav")))
        .collect();
    files.sort();
    files
}

/// A deterministic synthetic clip: `kind` picks tones, chirps, noise bursts or clicks.
pub fn synthetic(kind: usize, rate: u32, seconds: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (kind as u64).wrapping_mul(0x1000_0001);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let f0 = 110.0 * (1 + kind % 7) as f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let two_pi = 2.0 * std::f32::consts::PI;
            match kind % 4 {
                0 => 0.4 * (two_pi * f0 * t).sin() + 0.2 * (two_pi * 2.7 * f0 * t).sin(),
                1 => 0.3 * (two_pi * (f0 + 400.0 * t) * t).sin() + 0.05 * noise(),
                2 => {
                    noise()
                        * if (t * (2.0 + kind as f32)).fract() < 0.3 {
                            0.8
                        } else {
                            0.05
                        }
                }
                _ => {
                    if (t * f0 / 20.0).fract() < 0.01 {
                        0.9
                    } else {
                        0.01 * noise()
                    }
                }
            }
        })
        .collect()
}

/// Max absolute difference divided by the reference's max absolute value (at least 1).
pub fn relative_error(found: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(found.len(), reference.len());
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    found
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb)) as f32
}

/// Writes a little-endian f32 or i64 array as a NumPy .npy file (format 1.0).
pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        T::DESCR
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        v.put(&mut bytes);
    }
    std::fs::write(path, bytes).unwrap();
}

pub trait NpyElement {
    const DESCR: &'static str;
    fn put(&self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for i64 {
    const DESCR: &'static str = "<i8";
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Runs `script`, a path in the repository, with `args` in $EARSIGHT_PYTHON or python3.
pub fn run_python(script: &str, args: &[&OsStr]) -> std::process::Output {
    let python = std::env::var("EARSIGHT_PYTHON").unwrap_or_else(|_| "python3".into());
    std::process::Command::new(&python)
        .arg(repo().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
}

/// Runs tests/oracle/oracle.py; panics with its output when a check fails or Python lacks the
/// oracle packages (`pip install -r tests/oracle/requirements.txt`).
pub fn run_oracle(check: &str, case: &Path) -> String {
    let out = run_python("tests/oracle/oracle.py", &[check.as_ref(), case.as_ref()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "oracle `{check}` failed (needs `pip install -r tests/oracle/requirements.txt`):\n{text}"
    );
    text
}

fn audio_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audio")
}

/// Writes a label map for the tiny teacher's 12 classes: each label stands for a range of them.
pub fn write_label_map(path: &Path, labels: &[(&str, std::ops::Range<usize>)]) {
    let labels: Vec<serde_json::Value> = labels
        .iter()
        .map(|(label, classes)| {
            serde_json::json!({"label": label, "classes": classes.clone().collect::<Vec<_>>()})
        })
        .collect();
    let map = serde_json::json!({"teacher_classes": 12, "labels": labels});
    std::fs::write(path, map.to_string()).unwrap();
}

/// A sources directory in the layouts `world` reads, made of the fixture recordings.
pub fn world_sources(dir: &Path) -> PathBuf {
    let root = dir.join("sources");
    let copy = |from: &str, to: &str| {
        let to = root.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(audio_fixtures().join(from), to).unwrap();
    };
    copy("dog_bark.ogg", "esc10/audio/Dog_bark/1-bark-A.ogg");
    copy("rain.ogg", "esc10/audio/Rain/1-garden-A.ogg");
    copy("rooster.mp3", "esc10/audio/Rooster/2-0283-A.mp3");
    std::fs::write(
        root.join("esc10/metadata.csv"),
        "path,label,fold\naudio/Dog_bark/1-bark-A.ogg,Dog_bark,1\n\
         audio/Rain/1-garden-A.ogg,Rain,1\naudio/Rooster/2-0283-A.mp3,Rooster,2\n",
    )
    .unwrap();
    copy("factory_whistle.wav", "opensfx/audio/03.wav");
    copy("factory_whistle.wav", "opensfx/audio/40.wav");
    std::fs::write(
        root.join("opensfx/metadata.tsv"),
        "file\ttitle\tlicense\n03.wav\tFactory Whistle\tCC BY 3.0\n40.wav\tToyland: Bubble plop\tCC0\n",
    )
    .unwrap();
    copy("soundscape.ogg", "scikit-maad-soundscapes/pond.ogg");
    // UrbanSound8K's layout: two cuts of one Freesound recording in fold 2, and fold 1, which
    // a world never takes unless asked to.
    copy("dog_bark.ogg", "urbansound8k/audio/fold2/100-3-0-0.ogg");
    copy("dog_bark.ogg", "urbansound8k/audio/fold2/100-3-0-1.ogg");
    copy(
        "factory_whistle.wav",
        "urbansound8k/audio/fold2/200-8-0-0.wav",
    );
    copy("rain.ogg", "urbansound8k/audio/fold1/300-8-0-0.ogg");
    std::fs::write(
        root.join("urbansound8k/metadata.csv"),
        "path,label,fold,freesound_id\naudio/fold2/100-3-0-0.ogg,dog_bark,fold2,100\n\
         audio/fold2/100-3-0-1.ogg,dog_bark,fold2,100\naudio/fold2/200-8-0-0.wav,siren,fold2,200\n\
         audio/fold1/300-8-0-0.ogg,siren,fold1,300\n",
    )
    .unwrap();
    // A caption corpus to mine phrasings from; "laughs" is not a rooster's sound.
    let corpus = root.join("audiocaps-captions/v1/train.csv");
    std::fs::create_dir_all(corpus.parent().unwrap()).unwrap();
    let mut csv = String::from("audiocap_id,youtube_id,start_time,caption\n");
    for caption in [
        "A dog barks twice",
        "The rain is falling",
        "The rooster is crowing",
        "A rooster laughs",
    ] {
        for i in 0..3 {
            csv.push_str(&format!("{i},x,0,{caption}\n"));
        }
    }
    std::fs::write(corpus, csv).unwrap();
    root
}

/// A 16 kHz mono WAV of `seconds` of digital silence.
pub fn write_silence(path: &Path, seconds: u32) {
    let samples = std::iter::repeat_n(0.0, 16_000 * seconds as usize);
    write_wav(path, 16_000, 1, Pcm::I16, samples);
}
