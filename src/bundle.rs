//! The model bundle: the contract between the tools that write it and the runtime that runs it
//! (`models/README.md`). [`Bundle::open`] checks everything the runtime relies on before any
//! graph is loaded, and names the offending field when something is off.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::ModelConfig;

/// The bundle layout version this runtime writes and reads: 2 added the optional tagger, 3 the
/// tags' caption words and the decoding's tag guidance, 4 the convolutional audio encoder
/// (`model.encoder.conv`), 5 the decoding's tag veto.
pub const FORMAT_VERSION: u32 = 5;
/// The oldest layout version this runtime still reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// The `format` field every manifest carries.
pub const FORMAT_NAME: &str = "earsight-bundle";

/// Files every bundle holds besides `manifest.json`.
pub const ENCODER_FILE: &str = "encoder.onnx";
pub const DECODER_FILE: &str = "decoder.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MODEL_CARD_FILE: &str = "MODEL_CARD.md";
pub const MANIFEST_FILE: &str = "manifest.json";
/// The tagger graph, in bundles that have one (format version 2 on).
pub const TAGGER_FILE: &str = "tagger.onnx";

/// The largest file of each kind a bundle may hold, in bytes. The runtime reads the manifest
/// and the tokenizer whole and hashes every file before loading it; a limit (and plain files
/// only, checked before reading) keeps a damaged bundle, or one whose file is a link to
/// `/dev/zero` or a FIFO, from taking gigabytes or never finishing.
pub fn file_limit(file: &str) -> u64 {
    const MIB: u64 = 1 << 20;
    match file {
        MANIFEST_FILE | MODEL_CARD_FILE => MIB,
        TOKENIZER_FILE => 64 * MIB,
        _ => 1024 * MIB,
    }
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{path}: not a bundle directory (expected a directory holding {MANIFEST_FILE})")]
    NotADirectory { path: PathBuf },
    #[error(
        "{path}: bundle format version {found} is newer than this earsight reads \
         ({OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}): update earsight to run it"
    )]
    Newer { path: PathBuf, found: u64 },
    #[error("{path}: manifest is not valid JSON for format version {FORMAT_VERSION}: {source}")]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: field `{field}`: expected {expected}, found {found}")]
    Field {
        path: PathBuf,
        field: String,
        expected: String,
        found: String,
    },
    #[error("{path}: SHA-256 mismatch for {file}: manifest says {expected}, file has {found}")]
    Checksum {
        path: PathBuf,
        file: String,
        expected: String,
        found: String,
    },
}

/// One dimension of a graph input or output: a number, or a symbol that varies per call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    Symbol(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

/// Element type of a graph input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    I64,
}

/// A named, typed, shaped graph input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        write!(f, "{}: {:?}[{}]", self.name, self.dtype, dims.join(", "))
    }
}

/// Inputs and outputs of one graph, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// How the weights of a graph are stored and multiplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    /// f32 weights, f32 matmuls.
    F32,
    /// int8 weights with per-output-channel scales: Cast -> MatMul -> Mul by the scales. tract
    /// folds the cast weights to f32 at load: int8 on disk only.
    Int8Weights,
    /// int8 weights, activations quantized per call (DynamicQuantizeLinear -> MatMulInteger):
    /// int8 in memory and in the kernel.
    Int8Dynamic,
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantization::F32 => "f32",
            Quantization::Int8Weights => "int8-weights",
            Quantization::Int8Dynamic => "int8-dynamic",
        })
    }
}

/// Special token ids the decoder relies on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialTokens {
    pub pad: u32,
    pub unk: u32,
    pub bos: u32,
    pub eos: u32,
}

/// Decoding defaults, overridable per call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodingConfig {
    /// 1 means greedy search.
    pub beam_width: usize,
    /// Beam scores are `sum log p / len^length_penalty`.
    pub length_penalty: f32,
    /// Most tokens generated after the start token.
    pub max_tokens: usize,
    /// Forbid repeating any n-gram of this size; 0 disables.
    pub no_repeat_ngram: usize,
    /// How much the tagger's scores steer the words that name sources: each word of a tag
    /// gets `tag_guidance * ln(score / typical_score)` added to its log-probability, so a
    /// caption names what the tagger hears rather than what it does not; 0 (the default)
    /// decodes the caption alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tag_guidance: f32,
    /// Which sources a caption may name at all: the words of a tag scored below `tag_veto`
    /// times the window's best score (of the tags with words) are never said, so a caption
    /// names only what the tagger hears most; 0 (the default) forbids nothing, 1 all but the
    /// best tag's words.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tag_veto: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl Default for DecodingConfig {
    fn default() -> Self {
        DecodingConfig {
            beam_width: 1,
            length_penalty: 1.0,
            max_tokens: 20,
            no_repeat_ngram: 3,
            tag_guidance: 0.0,
            tag_veto: 0.0,
        }
    }
}

/// The widest beam earsight searches: each hypothesis costs a decoder step per token, and
/// captions stop gaining from wider beams long before this.
pub const MAX_BEAM_WIDTH: usize = 32;

/// The strongest tag guidance earsight applies: at this weight a tag scored 0.01 takes its
/// words' log-probabilities down by 46, past anything the decoder would still choose.
pub const MAX_TAG_GUIDANCE: f32 = 10.0;

impl DecodingConfig {
    /// Whether `model` can decode this way: as (field, expected, found) where it cannot. The
    /// runtime refuses a manifest that fails it, and the exporter checks it before writing.
    pub fn check(&self, model: &ModelConfig) -> Result<(), (String, String, String)> {
        let max_tokens = model.decoder.max_positions - 1;
        if self.max_tokens == 0 || self.max_tokens > max_tokens {
            return Err((
                "decoding.max_tokens".into(),
                format!("1..={max_tokens} (model.decoder.max_positions - 1)"),
                self.max_tokens.to_string(),
            ));
        }
        if !(1..=MAX_BEAM_WIDTH).contains(&self.beam_width) {
            return Err((
                "decoding.beam_width".into(),
                format!("1..={MAX_BEAM_WIDTH}"),
                self.beam_width.to_string(),
            ));
        }
        if !(0.0..=MAX_TAG_GUIDANCE).contains(&self.tag_guidance) {
            return Err((
                "decoding.tag_guidance".into(),
                format!("0 to {MAX_TAG_GUIDANCE}"),
                self.tag_guidance.to_string(),
            ));
        }
        if !(0.0..=1.0).contains(&self.tag_veto) {
            return Err((
                "decoding.tag_veto".into(),
                "0 to 1".into(),
                self.tag_veto.to_string(),
            ));
        }
        Ok(())
    }
}

/// Where the weights came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The program (and version) that wrote the bundle.
    pub tool: String,
    /// Seed of the initial weights.
    pub seed: u64,
    /// What the weights were trained on and how; "untrained" for seeded random weights.
    pub training: String,
    /// Where `tokenizer.json` came from.
    pub tokenizer: String,
}

/// One tag the tagger scores: its name in the project's words and the score from which it is
/// reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    pub label: String,
    /// The lowest score at which the tag is reported, tuned for precision on validation data;
    /// `None`: the tag could not be tuned and is never reported.
    pub threshold: Option<f32>,
    /// Caption words that name the tag's source, each spelt by the bundle's tokenizer: the
    /// words tag guidance steers (one token each) and a veto forbids (format version 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    /// The tag's usual score on validation audio (the geometric mean): guidance steers by a
    /// score's ratio to it. Every tag with words has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical_score: Option<f32>,
}

/// The tagger: a graph that scores the bundle's tags on a window of the same log-mel frames
/// the encoder reads (`mel [1, frames, n_mels]` -> `tag_scores [1, tags]`). Its window may be
/// shorter than the encoder's: a longer window is tagged in pieces, keeping each tag's best.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaggerManifest {
    /// Frames per tagger window.
    pub frames: usize,
    pub graph: GraphSpec,
    pub quantization: Quantization,
    pub tags: Vec<TagSpec>,
    /// How the tagger was trained (the teacher, the data, the thresholds).
    pub training: String,
}

impl TaggerManifest {
    /// The graph interface a tagger of `frames` frames over `n_mels` bands and `tags` tags has.
    pub fn graph_spec(frames: usize, n_mels: usize, tags: usize) -> GraphSpec {
        use Dim::Fixed;
        GraphSpec {
            inputs: vec![TensorSpec {
                name: names::MEL.into(),
                dtype: DType::F32,
                shape: vec![Fixed(1), Fixed(frames), Fixed(n_mels)],
            }],
            outputs: vec![TensorSpec {
                name: names::TAG_SCORES.into(),
                dtype: DType::F32,
                shape: vec![Fixed(1), Fixed(tags)],
            }],
        }
    }
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    /// False for seeded random weights: the CLI warns that the captions mean nothing.
    pub trained: bool,
    pub model: ModelConfig,
    pub encoder: GraphSpec,
    pub decoder: GraphSpec,
    pub encoder_quantization: Quantization,
    pub decoder_quantization: Quantization,
    pub tokens: SpecialTokens,
    pub decoding: DecodingConfig,
    /// SHA-256 (lowercase hex) of every other file in the bundle.
    pub sha256: BTreeMap<String, String>,
    pub provenance: Provenance,
    /// The tagger, when the bundle has one (format version 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagger: Option<TaggerManifest>,
}

impl Manifest {
    /// Whether some tag of the bundle's tagger has caption words: what tag guidance steers and
    /// a tag veto forbids.
    pub fn has_tag_words(&self) -> bool {
        self.tagger
            .as_ref()
            .is_some_and(|t| t.tags.iter().any(|tag| !tag.words.is_empty()))
    }

    /// The files the manifest's checksums must cover.
    pub fn files(&self) -> Vec<&'static str> {
        let mut files = vec![ENCODER_FILE, DECODER_FILE, TOKENIZER_FILE, MODEL_CARD_FILE];
        if self.tagger.is_some() {
            files.push(TAGGER_FILE);
        }
        files
    }
}

/// Graph input and output names. The runtime binds tensors by these names.
pub mod names {
    pub const MEL: &str = "mel";
    pub const MEMORY: &str = "memory";
    pub const INPUT_IDS: &str = "input_ids";
    pub const POSITION_IDS: &str = "position_ids";
    pub const LOGITS: &str = "logits";
    /// The tagger's output: one score in [0, 1] per tag.
    pub const TAG_SCORES: &str = "tag_scores";
    /// Symbolic length of the self-attention cache.
    pub const PAST: &str = "past";

    pub fn cross_k(layer: usize) -> String {
        format!("cross_k.{layer}")
    }
    pub fn cross_v(layer: usize) -> String {
        format!("cross_v.{layer}")
    }
    pub fn past_k(layer: usize) -> String {
        format!("past_k.{layer}")
    }
    pub fn past_v(layer: usize) -> String {
        format!("past_v.{layer}")
    }
    pub fn present_k(layer: usize) -> String {
        format!("present_k.{layer}")
    }
    pub fn present_v(layer: usize) -> String {
        format!("present_v.{layer}")
    }
}

impl ModelConfig {
    /// The encoder graph's interface: mel window -> memory tokens and every decoder layer's
    /// cross-attention keys and values (computed once per window, not per token).
    pub fn encoder_spec(&self) -> GraphSpec {
        use Dim::Fixed;
        let f = &self.frontend;
        let d = &self.decoder;
        let n = self.n_memory_tokens();
        let kv = vec![
            Fixed(1),
            Fixed(d.heads),
            Fixed(n),
            Fixed(self.decoder_head_dim()),
        ];
        let mut outputs = vec![TensorSpec {
            name: names::MEMORY.into(),
            dtype: DType::F32,
            shape: vec![Fixed(1), Fixed(n), Fixed(d.dim)],
        }];
        for l in 0..d.depth {
            for name in [names::cross_k(l), names::cross_v(l)] {
                outputs.push(TensorSpec {
                    name,
                    dtype: DType::F32,
                    shape: kv.clone(),
                });
            }
        }
        GraphSpec {
            inputs: vec![TensorSpec {
                name: names::MEL.into(),
                dtype: DType::F32,
                shape: vec![Fixed(1), Fixed(f.clip_frames), Fixed(f.n_mels)],
            }],
            outputs,
        }
    }

    /// The decoder graph's interface: one step, with the self-attention cache passed in and out.
    pub fn decoder_spec(&self) -> GraphSpec {
        use Dim::{Fixed, Symbol};
        let d = &self.decoder;
        let (h, hd) = (d.heads, self.decoder_head_dim());
        let past = vec![Fixed(1), Fixed(h), Symbol(names::PAST.into()), Fixed(hd)];
        let present = vec![
            Fixed(1),
            Fixed(h),
            Symbol(format!("{}+1", names::PAST)),
            Fixed(hd),
        ];
        let cross = vec![Fixed(1), Fixed(h), Fixed(self.n_memory_tokens()), Fixed(hd)];
        let spec = |name: String, shape: &Vec<Dim>| TensorSpec {
            name,
            dtype: DType::F32,
            shape: shape.clone(),
        };
        let mut inputs = vec![
            TensorSpec {
                name: names::INPUT_IDS.into(),
                dtype: DType::I64,
                shape: vec![Fixed(1), Fixed(1)],
            },
            TensorSpec {
                name: names::POSITION_IDS.into(),
                dtype: DType::I64,
                shape: vec![Fixed(1), Fixed(1)],
            },
        ];
        let mut outputs = vec![spec(
            names::LOGITS.into(),
            &vec![Fixed(1), Fixed(1), Fixed(d.vocab_size)],
        )];
        for l in 0..d.depth {
            inputs.push(spec(names::past_k(l), &past));
            inputs.push(spec(names::past_v(l), &past));
            outputs.push(spec(names::present_k(l), &present));
            outputs.push(spec(names::present_v(l), &present));
        }
        for l in 0..d.depth {
            inputs.push(spec(names::cross_k(l), &cross));
            inputs.push(spec(names::cross_v(l), &cross));
        }
        GraphSpec { inputs, outputs }
    }
}

/// A bundle whose manifest and files have been checked.
#[derive(Clone, Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
}

impl Bundle {
    /// Reads and checks `dir/manifest.json` and the checksums of every file it lists.
    pub fn open(dir: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(BundleError::NotADirectory { path: dir });
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        let mut text = String::new();
        open_plain_file(&manifest_path)?
            .read_to_string(&mut text)
            .map_err(|error| BundleError::Io {
                path: manifest_path.clone(),
                error,
            })?;
        let manifest = Manifest::parse(&manifest_path, &text)?;
        for file in manifest.files() {
            let expected = manifest
                .sha256
                .get(file)
                .ok_or_else(|| BundleError::Field {
                    path: manifest_path.clone(),
                    field: format!("sha256.{file}"),
                    expected: "a SHA-256 hex digest".into(),
                    found: "nothing".into(),
                })?;
            let found = sha256_file(&dir.join(file))?;
            if &found != expected {
                return Err(BundleError::Checksum {
                    path: dir.clone(),
                    file: file.into(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        Ok(Bundle { dir, manifest })
    }

    /// The checked manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of a file inside the bundle.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Manifest {
    /// Parses and checks the text of a manifest (`path` names it in errors): everything
    /// [`Bundle::open`] checks except the files and their checksums.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, BundleError> {
        let manifest = parse_manifest(path, text)?;
        check_manifest(path, &manifest)?;
        Ok(manifest)
    }
}

/// Parses the manifest, checking the format version first so that a newer bundle gets a
/// version message rather than a list of unknown fields.
fn parse_manifest(path: &Path, text: &str) -> Result<Manifest, BundleError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| BundleError::Manifest {
            path: path.into(),
            source,
        })?;
    let field = |field: &str, expected: String, found: String| BundleError::Field {
        path: path.into(),
        field: field.into(),
        expected,
        found,
    };
    match value.get("format").and_then(|v| v.as_str()) {
        Some(FORMAT_NAME) => {}
        other => {
            return Err(field(
                "format",
                format!("\"{FORMAT_NAME}\""),
                other.map_or("nothing".into(), |s| format!("\"{s}\"")),
            ))
        }
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v > FORMAT_VERSION as u64 => {
            return Err(BundleError::Newer {
                path: path.into(),
                found: v,
            })
        }
        Some(v) if v >= OLDEST_FORMAT_VERSION as u64 => {}
        other => {
            return Err(field(
                "format_version",
                format!("{OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}"),
                other.map_or("nothing".into(), |v| v.to_string()),
            ))
        }
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|source| BundleError::Manifest {
            path: path.into(),
            source,
        })?;
    if manifest.format_version < 2 && manifest.tagger.is_some() {
        return Err(field(
            "tagger",
            "no tagger in format version 1".into(),
            "a tagger".into(),
        ));
    }
    if manifest.format_version < 3
        && (manifest.has_tag_words() || manifest.decoding.tag_guidance != 0.0)
    {
        return Err(field(
            "format_version",
            "3 for tag words or tag guidance".into(),
            manifest.format_version.to_string(),
        ));
    }
    if manifest.format_version < 4 && manifest.model.encoder.conv.is_some() {
        return Err(field(
            "format_version",
            "4 for a convolutional audio encoder (model.encoder.conv)".into(),
            manifest.format_version.to_string(),
        ));
    }
    if manifest.format_version < 5 && manifest.decoding.tag_veto != 0.0 {
        return Err(field(
            "format_version",
            "5 for a tag veto (decoding.tag_veto)".into(),
            manifest.format_version.to_string(),
        ));
    }
    Ok(manifest)
}

/// Cross-checks the manifest against itself: the model config, the graph interfaces it implies,
/// and the special tokens.
fn check_manifest(path: &Path, m: &Manifest) -> Result<(), BundleError> {
    let field = |field: &str, expected: String, found: String| BundleError::Field {
        path: path.into(),
        field: field.into(),
        expected,
        found,
    };
    m.model
        .validate()
        .map_err(|e| field("model", "a consistent model config".into(), e))?;
    for (name, found, expected) in [
        ("encoder", &m.encoder, m.model.encoder_spec()),
        ("decoder", &m.decoder, m.model.decoder_spec()),
    ] {
        check_graph_spec(name, found, &expected).map_err(|(f, e, g)| field(&f, e, g))?;
    }
    let vocab = m.model.decoder.vocab_size;
    let t = &m.tokens;
    for (name, id) in [
        ("tokens.pad", t.pad),
        ("tokens.unk", t.unk),
        ("tokens.bos", t.bos),
        ("tokens.eos", t.eos),
    ] {
        if id as usize >= vocab {
            return Err(field(
                name,
                format!("a token id below model.decoder.vocab_size ({vocab})"),
                id.to_string(),
            ));
        }
    }
    m.decoding
        .check(&m.model)
        .map_err(|(f, e, g)| field(&f, e, g))?;
    if let Some(tagger) = &m.tagger {
        check_tagger(tagger, &m.model).map_err(|(f, e, g)| field(&f, e, g))?;
    }
    for (name, value) in [
        ("decoding.tag_guidance", m.decoding.tag_guidance),
        ("decoding.tag_veto", m.decoding.tag_veto),
    ] {
        if value > 0.0 && !m.has_tag_words() {
            return Err(field(
                name,
                "0 for a bundle without a tagger whose tags have words".into(),
                value.to_string(),
            ));
        }
    }
    Ok(())
}

/// Checks the tagger's section: a window inside the encoder's, one graph output per tag,
/// distinct labels and thresholds that a score in [0, 1] can reach.
fn check_tagger(t: &TaggerManifest, model: &ModelConfig) -> Result<(), (String, String, String)> {
    let clip = model.frontend.clip_frames;
    if t.frames == 0 || t.frames > clip {
        return Err((
            "tagger.frames".into(),
            format!("1..={clip} (model.frontend.clip_frames)"),
            t.frames.to_string(),
        ));
    }
    if t.tags.is_empty() {
        return Err((
            "tagger.tags".into(),
            "at least one tag".into(),
            "none".into(),
        ));
    }
    let expected = TaggerManifest::graph_spec(t.frames, model.frontend.n_mels, t.tags.len());
    check_graph_spec("tagger.graph", &t.graph, &expected)?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, tag) in t.tags.iter().enumerate() {
        if tag.label.trim().is_empty() || !seen.insert(tag.label.as_str()) {
            return Err((
                format!("tagger.tags[{i}].label"),
                "a name no other tag has".into(),
                format!("{:?}", tag.label),
            ));
        }
        if let Some(at) = tag.threshold {
            if !(at > 0.0 && at <= 1.0) {
                return Err((
                    format!("tagger.tags[{i}].threshold"),
                    "a score in (0, 1], or null for a tag that is never reported".into(),
                    at.to_string(),
                ));
            }
        }
        match tag.typical_score {
            Some(s) if !(s > 0.0 && s <= 1.0) => {
                return Err((
                    format!("tagger.tags[{i}].typical_score"),
                    "a score in (0, 1]".into(),
                    s.to_string(),
                ))
            }
            None if !tag.words.is_empty() => {
                return Err((
                    format!("tagger.tags[{i}].typical_score"),
                    "a score in (0, 1] for a tag with words".into(),
                    "none".into(),
                ))
            }
            _ => {}
        }
        for (j, word) in tag.words.iter().enumerate() {
            if word.is_empty() || word.chars().any(|c| c.is_whitespace() || c.is_uppercase()) {
                return Err((
                    format!("tagger.tags[{i}].words[{j}]"),
                    "one lower-case word".into(),
                    format!("{word:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// Compares a graph interface with the one the model config implies.
fn check_graph_spec(
    graph: &str,
    found: &GraphSpec,
    expected: &GraphSpec,
) -> Result<(), (String, String, String)> {
    for (kind, f, e) in [
        ("inputs", &found.inputs, &expected.inputs),
        ("outputs", &found.outputs, &expected.outputs),
    ] {
        if f.len() != e.len() {
            return Err((
                format!("{graph}.{kind}"),
                format!("{} tensors", e.len()),
                format!("{} tensors", f.len()),
            ));
        }
        for (i, (f, e)) in f.iter().zip(e).enumerate() {
            if f != e {
                return Err((format!("{graph}.{kind}[{i}]"), e.to_string(), f.to_string()));
            }
        }
    }
    Ok(())
}

/// Opens a bundle file for reading, after checking that it is a plain file (a link
/// to one counts) no larger than [`file_limit`]. The reader stops at the limit should the file
/// grow after the check. The limit is that of the file's name.
fn open_plain_file(path: &Path) -> Result<std::io::Take<std::fs::File>, BundleError> {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let io = |error| BundleError::Io {
        path: path.into(),
        error,
    };
    let refuse = |problem: String| BundleError::File {
        path: path.into(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a plain file"
        };
        return Err(refuse(format!(
            "is {what}, but a bundle holds plain files only"
        )));
    }
    let limit = file_limit(file);
    if meta.len() > limit {
        return Err(refuse(format!(
            "is {} bytes, but a bundle's {file} is at most {limit} bytes",
            meta.len()
        )));
    }
    Ok(std::fs::File::open(path).map_err(io)?.take(limit))
}

/// Lowercase hex SHA-256 of a bundle file, streamed; refused unless it is a plain file within
/// the [`file_limit`] of its name.
pub fn sha256_file(path: &Path) -> Result<String, BundleError> {
    let io = |source| BundleError::Io {
        path: path.into(),
        error: source,
    };
    let mut file = open_plain_file(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
