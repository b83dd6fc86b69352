//! Named f32 weights of one model: the pivot between the training framework, the safetensors
//! files on disk, and the ONNX exporter. Names and shapes come from [`layout`], the one place
//! that lists them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use earsight::config::DecoderStyle;
use earsight::ModelConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Weights file and config file inside a checkpoint directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const CONFIG_FILE: &str = "config.json";

/// A dense row-major f32 array.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Array> {
        let n: usize = shape.iter().product();
        ensure!(
            n == data.len(),
            "shape {shape:?} needs {n} values, got {}",
            data.len()
        );
        Ok(Array { shape, data })
    }
}

/// How a tensor is initialised.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Init {
    /// Linear weight `[in, out]`: N(0, 1/in).
    FanIn,
    /// Normal with a fixed standard deviation.
    Normal(f32),
    /// 1 + N(0, std): layer-norm gains.
    OnePlus(f32),
    /// The fixed 2-D sine-cosine position embedding of MAE and CAV-MAE for a `[rows * cols,
    /// dim]` grid of tokens, row-major: the first half of each vector encodes the row, the
    /// second the column. A learnt embedding started at random gives attention no notion of
    /// which patches are neighbours in time or frequency, and the miniature's few thousand
    /// steps do not teach it one.
    SinCos2d { rows: usize, cols: usize },
}

/// The 1-D sine-cosine embedding of `position` in `dim` values (sines, then cosines).
fn sincos(dim: usize, position: usize) -> impl Iterator<Item = f32> {
    let half = dim / 2;
    let angle = move |i: usize| position as f64 / 10_000f64.powf(i as f64 / half as f64);
    (0..half)
        .map(move |i| angle(i).sin() as f32)
        .chain((0..half).map(move |i| angle(i).cos() as f32))
}

/// One entry of the layout: name, shape and initialiser.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    pub shape: Vec<usize>,
    pub(crate) init: Init,
}

pub(crate) fn dense(slots: &mut Vec<Slot>, name: &str, i: usize, o: usize) {
    slots.push(Slot {
        name: format!("{name}.w"),
        shape: vec![i, o],
        init: Init::FanIn,
    });
    slots.push(Slot {
        name: format!("{name}.b"),
        shape: vec![o],
        init: Init::Normal(0.02),
    });
}

pub(crate) fn norm(slots: &mut Vec<Slot>, name: &str, d: usize) {
    slots.push(Slot {
        name: format!("{name}.g"),
        shape: vec![d],
        init: Init::OnePlus(0.1),
    });
    slots.push(Slot {
        name: format!("{name}.b"),
        shape: vec![d],
        init: Init::Normal(0.02),
    });
}

/// The attentions of an encoder block (the audio encoder's and the image encoder's): one
/// self-attention.
pub(crate) const ENCODER_BLOCK: &[&str] = &["attn"];
/// The attentions of a decoder block: self-attention, then cross-attention to the memory.
const DECODER_BLOCK: &[&str] = &["self", "cross"];

/// The tensors of `depth` transformer blocks, `{prefix}.blocks.{i}`, each `dim` wide: before
/// each of `attentions` its norm (`ln1`, `ln2`, ...) and then its `q`, `k`, `v` and `o`, and
/// after them a last norm and the MLP (`mlp.fc1`, `mlp.fc2`, `mlp_ratio` times wider inside).
/// The one place that writes a block's layout, for the audio encoder, the image encoder and the
/// decoder alike.
pub(crate) fn blocks(
    slots: &mut Vec<Slot>,
    prefix: &str,
    depth: usize,
    dim: usize,
    mlp_ratio: usize,
    attentions: &[&str],
) {
    for i in 0..depth {
        let name = format!("{prefix}.blocks.{i}");
        for (k, attention) in attentions.iter().enumerate() {
            norm(slots, &format!("{name}.ln{}", k + 1), dim);
            for p in ["q", "k", "v", "o"] {
                dense(slots, &format!("{name}.{attention}.{p}"), dim, dim);
            }
        }
        norm(slots, &format!("{name}.ln{}", attentions.len() + 1), dim);
        dense(slots, &format!("{name}.mlp.fc1"), dim, dim * mlp_ratio);
        dense(slots, &format!("{name}.mlp.fc2"), dim * mlp_ratio, dim);
    }
}

/// The name of the kernel (`w`, `[out, in, 3, 3]`) or bias (`b`) of a convolutional audio
/// backbone's `i`-th convolution, the stem's being 0.
pub fn conv_name(i: usize, part: &str) -> String {
    format!("enc.conv.{i}.{part}")
}

/// Every tensor of the model, in a fixed order (the order seeded initialisation follows).
pub fn layout(c: &ModelConfig) -> Vec<Slot> {
    let (e, d) = (&c.encoder, &c.decoder);
    let mut s = Vec::new();
    match &e.conv {
        None => {
            dense(&mut s, "enc.patch", e.patch_time * e.patch_freq, e.dim);
            s.push(Slot {
                name: "enc.pos".into(),
                shape: vec![c.n_audio_tokens(), e.dim],
                init: Init::SinCos2d {
                    rows: c.frontend.clip_frames / e.patch_time,
                    cols: c.frontend.n_mels / e.patch_freq,
                },
            });
            blocks(&mut s, "enc", e.depth, e.dim, e.mlp_ratio, ENCODER_BLOCK);
            norm(&mut s, "enc.ln", e.dim);
        }
        Some(conv) => {
            for (i, (input, output)) in conv.convolutions().into_iter().enumerate() {
                s.push(Slot {
                    name: conv_name(i, "w"),
                    shape: vec![output, input, 3, 3],
                    // He-normal, for the ReLU after it.
                    init: Init::Normal((2.0 / (9 * input) as f32).sqrt()),
                });
                s.push(Slot {
                    name: conv_name(i, "b"),
                    shape: vec![output],
                    init: Init::Normal(0.02),
                });
            }
        }
    }
    dense(&mut s, "proj.fc1", e.dim, d.dim);
    dense(&mut s, "proj.fc2", d.dim, d.dim);
    if e.n_prefix > 0 {
        s.push(Slot {
            name: "prefix".into(),
            shape: vec![e.n_prefix, d.dim],
            init: Init::Normal(1.0),
        });
    }
    s.push(Slot {
        name: "dec.tok".into(),
        shape: vec![d.vocab_size, d.dim],
        init: Init::Normal(1.0 / (d.dim as f32).sqrt()),
    });
    s.push(Slot {
        name: "dec.pos".into(),
        shape: vec![d.max_positions, d.dim],
        init: Init::Normal(0.1),
    });
    let post_norm = d.style == DecoderStyle::PostNorm;
    if post_norm {
        norm(&mut s, "dec.emb_ln", d.dim);
    }
    blocks(&mut s, "dec", d.depth, d.dim, d.mlp_ratio, DECODER_BLOCK);
    if post_norm {
        dense(&mut s, "dec.head", d.dim, d.dim);
    }
    norm(&mut s, "dec.ln", d.dim);
    if post_norm {
        s.push(Slot {
            name: "dec.out_b".into(),
            shape: vec![d.vocab_size],
            init: Init::Normal(0.02),
        });
    }
    s
}

/// A model's config and all of its weights.
#[derive(Clone, Debug)]
pub struct Weights {
    pub config: ModelConfig,
    tensors: BTreeMap<String, Array>,
}

impl Weights {
    /// Seeded random weights: the same seed and config give the same bits on every machine.
    pub fn init(config: &ModelConfig, seed: u64) -> Result<Weights> {
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(Weights {
            config: config.clone(),
            tensors: init_slots(layout(config), seed)?,
        })
    }

    /// Builds weights from named arrays, checking them against the layout.
    pub fn from_tensors(config: &ModelConfig, tensors: BTreeMap<String, Array>) -> Result<Weights> {
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(Weights {
            config: config.clone(),
            tensors: check_slots(layout(config), tensors)?,
        })
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> &Array {
        self.tensors.get(name).unwrap_or_else(|| {
            panic!("weights were checked against the layout; `{name}` is part of it")
        })
    }

    /// All tensors by name.
    pub fn tensors(&self) -> &BTreeMap<String, Array> {
        &self.tensors
    }

    /// Writes `dir/weights.safetensors` and `dir/config.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_safetensors(&dir.join(WEIGHTS_FILE), &self.tensors)?;
        let config = serde_json::to_string_pretty(&self.config)?;
        std::fs::write(dir.join(CONFIG_FILE), config + "\n")
            .with_context(|| format!("writing {}", dir.join(CONFIG_FILE).display()))?;
        Ok(())
    }

    /// Reads a checkpoint directory written by [`Weights::save`].
    pub fn load(dir: &Path) -> Result<Weights> {
        let config = read_config(&dir.join(CONFIG_FILE))?;
        let path = dir.join(WEIGHTS_FILE);
        Weights::from_tensors(&config, read_safetensors(&path)?)
            .with_context(|| format!("{}", path.display()))
    }
}

/// Seeded values for every slot, in order.
pub fn init_slots(slots: Vec<Slot>, seed: u64) -> Result<BTreeMap<String, Array>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tensors = BTreeMap::new();
    for slot in slots {
        let n: usize = slot.shape.iter().product();
        let (mean, std) = match slot.init {
            Init::FanIn => (0.0, 1.0 / (slot.shape[0] as f32).sqrt()),
            Init::Normal(std) => (0.0, std),
            Init::OnePlus(std) => (1.0, std),
            Init::SinCos2d { rows, cols } => {
                let dim = slot.shape[1];
                ensure!(
                    slot.shape == [rows * cols, dim] && dim % 4 == 0,
                    "`{}`: a {rows}x{cols} sine-cosine grid needs shape [{}, a multiple of 4], \
                     found {:?}",
                    slot.name,
                    rows * cols,
                    slot.shape
                );
                let data = (0..rows * cols)
                    .flat_map(|t| sincos(dim / 2, t / cols).chain(sincos(dim / 2, t % cols)))
                    .collect();
                tensors.insert(slot.name, Array::new(slot.shape, data)?);
                continue;
            }
        };
        let dist = Normal::new(mean, std).expect("positive standard deviation");
        let data = (0..n).map(|_| dist.sample(&mut rng)).collect();
        tensors.insert(slot.name, Array::new(slot.shape, data)?);
    }
    Ok(tensors)
}

/// The arrays of `tensors` named by `slots`, each of its slot's shape, and nothing else.
pub fn check_slots(
    slots: Vec<Slot>,
    mut tensors: BTreeMap<String, Array>,
) -> Result<BTreeMap<String, Array>> {
    let mut checked = BTreeMap::new();
    for slot in slots {
        let array = tensors
            .remove(&slot.name)
            .with_context(|| format!("missing tensor `{}`", slot.name))?;
        ensure!(
            array.shape == slot.shape,
            "tensor `{}`: expected shape {:?}, found {:?}",
            slot.name,
            slot.shape,
            array.shape
        );
        checked.insert(slot.name, array);
    }
    if let Some(extra) = tensors.keys().next() {
        bail!("unexpected tensor `{extra}` (not part of this model config)");
    }
    Ok(checked)
}

/// Writes f32 arrays as a safetensors file.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Array>) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, a)| {
            let raw = a.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (k.clone(), raw, a.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, raw, shape)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), raw)
                    .expect("shape matches data");
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads the f32 arrays of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Array>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        ensure!(
            view.dtype() == safetensors::Dtype::F32,
            "{}: tensor `{name}` is {:?}, expected F32",
            path.display(),
            view.dtype()
        );
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, Array::new(view.shape().to_vec(), data)?);
    }
    Ok(tensors)
}

/// Reads and validates a model config JSON file.
pub fn read_config(path: &Path) -> Result<ModelConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config: ModelConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid model config", path.display()))?;
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config)
}

/// A model small enough for unit tests, with every optional part (prefix vectors) present.
#[cfg(test)]
pub(crate) fn test_config() -> ModelConfig {
    let mut c = ModelConfig::mini(50);
    c.frontend.clip_frames = 32;
    c.encoder.dim = 16;
    c.encoder.depth = 2;
    c.encoder.n_prefix = 2;
    c.decoder.dim = 16;
    c.decoder.depth = 2;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelConfig {
        test_config()
    }

    #[test]
    fn the_audio_position_embedding_starts_as_a_sine_cosine_grid() {
        let mut c = tiny();
        c.encoder.dim = 8;
        c.frontend.clip_frames = 12 * c.encoder.patch_time;
        let tensors = init_slots(layout(&c), 1).unwrap();
        let pos = &tensors["enc.pos"];
        let cols = c.frontend.n_mels / c.encoder.patch_freq;
        let row = |t: usize| &pos.data[t * 8..(t + 1) * 8];
        // Token 0: every sine 0, every cosine 1.
        assert_eq!(row(0), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        // The next patch in time: the row half moves to position 1 at frequencies 1 and
        // 1/100; the column half stays.
        let next = row(cols);
        let expected = [1f32.sin(), 0.01f32.sin(), 1f32.cos(), 0.01f32.cos()];
        for (found, want) in next[..4].iter().zip(expected) {
            assert!((found - want).abs() < 1e-6, "{next:?}");
        }
        assert_eq!(&next[4..], [0.0, 0.0, 1.0, 1.0]);
        // Neighbours in time are more alike than tokens far apart.
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(dot(row(0), row(cols)) > dot(row(0), row(cols * 10)));
    }

    #[test]
    fn init_is_deterministic_and_matches_the_parameter_count() {
        let c = tiny();
        let a = Weights::init(&c, 7).unwrap();
        let b = Weights::init(&c, 7).unwrap();
        let other = Weights::init(&c, 8).unwrap();
        assert_eq!(a.tensors, b.tensors);
        assert_ne!(a.tensors, other.tensors);
        let total: usize = a.tensors.values().map(|t| t.data.len()).sum();
        let (enc, dec) = c.parameter_counts();
        assert_eq!(total, enc + dec);
    }

    #[test]
    fn a_conv_backbone_has_a_kernel_and_bias_per_convolution_and_no_transformer() {
        let c = tiny().with_conv_backbone(earsight::config::ConvBackboneConfig {
            stem: 4,
            channels: vec![8],
        });
        let w = Weights::init(&c, 7).unwrap();
        assert_eq!(w.get(&conv_name(0, "w")).shape, [4, 1, 3, 3]);
        assert_eq!(w.get(&conv_name(1, "w")).shape, [8, 4, 3, 3]);
        assert_eq!(w.get(&conv_name(1, "b")).shape, [8]);
        assert_eq!(w.get("proj.fc1.w").shape, [8, c.decoder.dim]);
        assert!(!w
            .tensors
            .keys()
            .any(|k| k.starts_with("enc.blocks") || k == "enc.patch.w" || k == "enc.pos"));
        let total: usize = w.tensors.values().map(|t| t.data.len()).sum();
        let (enc, dec) = c.parameter_counts();
        assert_eq!(total, enc + dec);
    }

    #[test]
    fn a_post_norm_decoder_has_its_extra_tensors_and_the_parameter_count_agrees() {
        let mut c = tiny();
        c.decoder.style = DecoderStyle::PostNorm;
        let w = Weights::init(&c, 7).unwrap();
        for name in ["dec.emb_ln.g", "dec.head.w", "dec.out_b"] {
            assert!(w.tensors.contains_key(name), "{name}");
        }
        let total: usize = w.tensors.values().map(|t| t.data.len()).sum();
        let (enc, dec) = c.parameter_counts();
        assert_eq!(total, enc + dec);
        let pre = Weights::init(&tiny(), 7).unwrap();
        assert!(!pre.tensors.contains_key("dec.out_b"));
    }

    #[test]
    fn the_mini_config_file_is_the_mini_preset() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/mini.json");
        assert_eq!(read_config(&path).unwrap(), ModelConfig::mini(4000));
    }

    #[test]
    fn save_load_round_trips_and_rejects_wrong_shapes() {
        let c = tiny();
        let w = Weights::init(&c, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        w.save(dir.path()).unwrap();
        let back = Weights::load(dir.path()).unwrap();
        assert_eq!(back.tensors, w.tensors);

        let mut wrong = c.clone();
        wrong.decoder.vocab_size = 51;
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            serde_json::to_string(&wrong).unwrap(),
        )
        .unwrap();
        let err = format!("{:#}", Weights::load(dir.path()).unwrap_err());
        assert!(err.contains("dec.tok") && err.contains("51"), "{err}");
    }
}
