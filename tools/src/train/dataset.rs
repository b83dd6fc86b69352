//! A dataset directory as the training stages read it: the clip manifest (audio, a video
//! frame, audio captions, split) and, where there is one (the miniature world), the visual
//! captions of each clip in `scenes.jsonl`. Mel windows come from the runtime's frontend,
//! pictures from the PNG frames, token ids from the bundle's tokenizer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use earsight::frontend::LogMel;
use earsight::ModelConfig;

use super::align::{Pair, Pairs};
use super::captioner::{CaptionedImage, CaptionedImages};
use super::distill::MelWindows;
use crate::data::{read_json_lines, Clip, Manifest, Split};
use crate::model::image::ImageWeights;
use crate::model::{values, ImageEncoder};
use crate::world::{self, picture, Scene};

/// The clips of a dataset directory, by split, with what the stages need to read them.
pub struct Dataset {
    clips: BTreeMap<Split, Vec<Clip>>,
    scenes: HashMap<String, Scene>,
    tokenizer: tokenizers::Tokenizer,
    pub special: SpecialTokens,
    model: ModelConfig,
}

impl Dataset {
    /// Reads `dir/manifest.jsonl` and, when present, `dir/scenes.jsonl`; `tokenizer` must fit
    /// `model`'s vocabulary.
    pub fn open(dir: &Path, model: &ModelConfig, tokenizer: &Path) -> Result<Dataset> {
        let manifest = Manifest::read(&dir.join("manifest.jsonl"), None)?;
        let mut clips: BTreeMap<Split, Vec<Clip>> = BTreeMap::new();
        for clip in manifest.clips {
            clips.entry(clip.split).or_default().push(clip);
        }
        let mut scenes = HashMap::new();
        let path = dir.join("scenes.jsonl");
        if path.is_file() {
            for scene in read_json_lines::<Scene>(&path, "scene")? {
                scenes.insert(scene.id.clone(), scene);
            }
        }
        let (tokenizer, special) =
            earsight::text::read_special_tokens(tokenizer, model.decoder.vocab_size)?;
        Ok(Dataset {
            clips,
            scenes,
            tokenizer,
            special,
            model: model.clone(),
        })
    }

    /// The clips of `split`.
    pub fn clips(&self, split: Split) -> &[Clip] {
        self.clips.get(&split).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn clip(&self, split: Split, index: usize) -> Result<&Clip> {
        self.clips(split)
            .get(index)
            .with_context(|| format!("no {split:?} clip {index}"))
    }

    /// The token ids of a caption, without the start and end tokens.
    pub fn ids(&self, caption: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(caption, false)
            .map_err(|e| anyhow::anyhow!("tokenizing {caption:?}: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of token ids.
    pub fn text(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| anyhow::anyhow!("decoding {ids:?}: {e}"))
    }

    /// The model window of a clip's audio.
    pub fn mel(&self, clip: &Clip) -> Result<Vec<f32>> {
        let samples = earsight::audio::read_all(&clip.audio, self.model.frontend.sample_rate)
            .with_context(|| format!("clip {}", clip.id))?;
        Ok(LogMel::new(&self.model.frontend).window(&samples))
    }

    /// A clip's first frame as `[size, size, 3]` RGB in 0..1.
    pub fn pixels(&self, clip: &Clip, size: usize) -> Result<Vec<f32>> {
        let path = clip
            .frames
            .first()
            .with_context(|| format!("clip {} has no video frame", clip.id))?;
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .with_context(|| format!("{}: not a PNG", path.display()))?;
        let mut buffer = vec![0; reader.output_buffer_size().context("PNG size")?];
        let info = reader
            .next_frame(&mut buffer)
            .with_context(|| format!("{}: not a PNG", path.display()))?;
        ensure!(
            info.color_type == png::ColorType::Rgb && info.bit_depth == png::BitDepth::Eight,
            "{}: expected 8-bit RGB, found {:?} {:?}",
            path.display(),
            info.color_type,
            info.bit_depth
        );
        ensure!(
            info.width as usize == size && info.height as usize == size,
            "{}: the image encoder takes {size}x{size} pictures, found {}x{}",
            path.display(),
            info.width,
            info.height
        );
        buffer.truncate(info.buffer_size());
        Ok(unit_pixels(buffer))
    }

    fn checked_ids(&self, caption: &str, id: &str) -> Result<Vec<u32>> {
        let ids = self.ids(caption)?;
        ensure!(
            ids.len() < self.model.decoder.max_positions,
            "{id}: caption {caption:?} has {} tokens, more than decoder.max_positions - 1",
            ids.len()
        );
        Ok(ids)
    }
}

impl MelWindows for Dataset {
    fn mel(&self, split: Split, index: usize) -> Result<Vec<f32>> {
        self.mel(self.clip(split, index)?)
    }
}

/// Pictures with captions, as [`CaptionedImages`]: every (clip, caption) of each split, and in
/// the train split every (clip, caption, picture variant) and the picture-only scenes.
pub struct Captioned<'a> {
    dataset: &'a Dataset,
    size: usize,
    /// Picture-only train scenes (see [`world::picture_scenes`]).
    drawn: Vec<Scene>,
    /// (picture, caption) per split.
    items: BTreeMap<Split, Vec<(Shown, String)>>,
}

/// Which picture an item shows.
#[derive(Clone, Copy)]
enum Shown {
    /// A clip's own frame.
    Frame(usize),
    /// Another picture drawn from a clip's scene (variant >= 1).
    Redrawn(usize, u64),
    /// A picture-only scene, in one of its variants.
    Drawn(usize, u64),
}

/// The seed of the pictures drawn here rather than read from the frames, which keep the
/// world's seed.
const VARIANT_SEED: u64 = 0x7661_7269_616e_7473;

impl<'a> Captioned<'a> {
    /// Clips with what is seen (the visual captions): what the captioner learns from. Each
    /// train scene is shown in `variants` pictures: its frame, then pictures drawn again from
    /// the scene (the same sources elsewhere in the frame, other sizes and shades). The train
    /// split also gets `picture_scenes` picture-only scenes of every class, drawn from `seed`
    /// over the train scenes' settings, each in `variants` pictures too.
    pub fn seen(
        dataset: &'a Dataset,
        size: usize,
        variants: u64,
        picture_scenes: usize,
        seed: u64,
    ) -> Result<Captioned<'a>> {
        if dataset.scenes.is_empty() {
            bail!("this dataset has no visual captions (scenes.jsonl): the captioner has nothing to learn from");
        }
        ensure!(
            (variants == 1 && picture_scenes == 0) || size == picture::SIZE,
            "pictures are drawn {0}x{0}, but the image encoder takes {size}x{size}",
            picture::SIZE
        );
        let settings: BTreeSet<String> = dataset
            .clips(Split::Train)
            .iter()
            .filter_map(|clip| dataset.scenes.get(&clip.id))
            .map(|scene| scene.background.clone())
            .collect();
        let settings: Vec<String> = settings.into_iter().collect();
        let mut captioned = Captioned::new(dataset, size, usize::MAX, variants, |clip| {
            dataset
                .scenes
                .get(&clip.id)
                .map(|scene| scene.visual_captions.clone())
                .unwrap_or_default()
        });
        captioned.drawn = world::picture_scenes(seed, picture_scenes, &settings);
        let train = captioned.items.entry(Split::Train).or_default();
        for (i, scene) in captioned.drawn.iter().enumerate() {
            for caption in &scene.visual_captions {
                train.extend((0..variants).map(|v| (Shown::Drawn(i, v), caption.clone())));
            }
        }
        Ok(captioned)
    }

    /// At most `per_split` clips per split with what is heard (the audio captions): the
    /// handful of pairs prefix tuning learns from.
    pub fn heard(dataset: &'a Dataset, size: usize, per_split: usize) -> Captioned<'a> {
        Captioned::new(dataset, size, per_split, 1, |clip| clip.captions.clone())
    }

    fn new(
        dataset: &'a Dataset,
        size: usize,
        per_split: usize,
        train_variants: u64,
        captions: impl Fn(&Clip) -> Vec<String>,
    ) -> Captioned<'a> {
        let items = [Split::Train, Split::Val, Split::Test]
            .into_iter()
            .map(|split| {
                let variants = if split == Split::Train {
                    train_variants
                } else {
                    1
                };
                let chosen = dataset
                    .clips(split)
                    .iter()
                    .enumerate()
                    .filter(|(_, clip)| !captions(clip).is_empty())
                    .take(per_split)
                    .flat_map(|(i, clip)| captions(clip).into_iter().map(move |c| (i, c)))
                    .flat_map(|(i, c)| {
                        (0..variants).map(move |v| {
                            let shown = if v == 0 {
                                Shown::Frame(i)
                            } else {
                                Shown::Redrawn(i, v)
                            };
                            (shown, c.clone())
                        })
                    })
                    .collect();
                (split, chosen)
            })
            .collect();
        Captioned {
            dataset,
            size,
            drawn: Vec::new(),
            items,
        }
    }
}

/// RGB bytes as the image encoder takes them, in 0..1.
fn unit_pixels(rgb: Vec<u8>) -> Vec<f32> {
    rgb.into_iter().map(|b| b as f32 / 255.0).collect()
}

impl CaptionedImages for Captioned<'_> {
    fn len(&self, split: Split) -> usize {
        self.items.get(&split).map_or(0, Vec::len)
    }

    fn item(&self, split: Split, index: usize) -> Result<CaptionedImage> {
        let (shown, caption) = self
            .items
            .get(&split)
            .and_then(|items| items.get(index))
            .with_context(|| format!("no {split:?} picture {index}"))?;
        let (pixels, id) = match *shown {
            Shown::Frame(i) => {
                let clip = self.dataset.clip(split, i)?;
                (self.dataset.pixels(clip, self.size)?, &clip.id)
            }
            Shown::Redrawn(i, v) => {
                let clip = self.dataset.clip(split, i)?;
                let scene = self
                    .dataset
                    .scenes
                    .get(&clip.id)
                    .with_context(|| format!("clip {}: no scene to draw again", clip.id))?;
                let rgb = picture::render_variant(scene, VARIANT_SEED, v);
                (unit_pixels(rgb), &clip.id)
            }
            Shown::Drawn(i, v) => {
                let scene = &self.drawn[i];
                let rgb = picture::render_variant(scene, VARIANT_SEED, v);
                (unit_pixels(rgb), &scene.id)
            }
        };
        Ok(CaptionedImage {
            pixels,
            ids: self.dataset.checked_ids(caption, id)?,
        })
    }
}

/// (audio, frame) pairs with the frozen captioner's image tokens of each frame, computed once.
pub struct ImagePairs<'a> {
    dataset: &'a Dataset,
    image: &'a ImageWeights,
    tokens: BTreeMap<Split, Vec<Vec<f32>>>,
    shape: (usize, usize),
}

impl<'a> ImagePairs<'a> {
    /// Runs `image` over every clip's frame, `batch_size` at a time.
    pub fn new<B: Backend>(
        dataset: &'a Dataset,
        image: &'a ImageWeights,
        batch_size: usize,
        device: &B::Device,
    ) -> Result<ImagePairs<'a>> {
        let encoder = ImageEncoder::<B>::from_weights(image, device);
        let c = &image.config;
        let size = c.image_size;
        let mut tokens = BTreeMap::new();
        for split in [Split::Train, Split::Val, Split::Test] {
            let mut out = Vec::new();
            for chunk in dataset.clips(split).chunks(batch_size.max(1)) {
                let mut pixels = Vec::new();
                for clip in chunk {
                    pixels.extend(dataset.pixels(clip, size)?);
                }
                let batch = Tensor::<B, 4>::from_data(
                    TensorData::new(pixels, [chunk.len(), size, size, 3]),
                    device,
                );
                let flat = values(encoder.forward(batch, c));
                out.extend(
                    flat.chunks_exact(c.n_tokens() * c.out_dim)
                        .map(<[f32]>::to_vec),
                );
            }
            tokens.insert(split, out);
        }
        Ok(ImagePairs {
            dataset,
            image,
            tokens,
            shape: (c.n_tokens(), c.out_dim),
        })
    }
}

impl Pairs for ImagePairs<'_> {
    fn len(&self, split: Split) -> usize {
        self.dataset.clips(split).len()
    }

    fn image_shape(&self) -> (usize, usize) {
        self.shape
    }

    fn pair(&self, split: Split, index: usize) -> Result<Pair> {
        let clip = self.dataset.clip(split, index)?;
        Ok(Pair {
            mel: self.dataset.mel(clip)?,
            image: self.tokens[&split][index].clone(),
        })
    }

    fn image_encoder(&self) -> Option<&ImageWeights> {
        Some(self.image)
    }
}
