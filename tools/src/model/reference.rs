//! The reference forward pass on the CPU (burn's ndarray backend): what the runtime's graphs
//! must reproduce. Decoding here recomputes the whole sequence at every step, with no cache.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::model::weights::Weights;
pub use crate::model::Cpu;
use crate::model::{values, Captioner};

/// A model loaded for reference inference.
pub struct Reference {
    model: Captioner<Cpu>,
    weights: Weights,
    device: burn::backend::ndarray::NdArrayDevice,
}

/// Greedy decode with every step's logits.
pub struct ReferenceDecode {
    /// Generated ids (the end token, when produced, is the last one).
    pub tokens: Vec<u32>,
    /// Logits before each generated id.
    pub logits: Vec<Vec<f32>>,
}

impl Reference {
    pub fn new(weights: &Weights) -> Reference {
        let device = Default::default();
        Reference {
            model: Captioner::from_weights(weights, &device),
            weights: weights.clone(),
            device,
        }
    }

    fn mel_tensor(&self, mel: &[f32]) -> Tensor<Cpu, 3> {
        let f = &self.weights.config.frontend;
        Tensor::from_data(
            TensorData::new(mel.to_vec(), [1, f.clip_frames, f.n_mels]),
            &self.device,
        )
    }

    /// Memory tokens of one mel window, `[tokens, D]` row-major.
    pub fn memory(&self, mel: &[f32]) -> Vec<f32> {
        values(
            self.model
                .encoder
                .forward(self.mel_tensor(mel), &self.weights.config),
        )
    }

    /// Logits at every position of `ids` (which start with the start token), full recompute.
    pub fn logits(&self, mel: &[f32], ids: &[u32]) -> Vec<Vec<f32>> {
        let c = &self.weights.config;
        let memory = self.model.encoder.forward(self.mel_tensor(mel), c);
        self.decoder_logits(memory, ids)
    }

    fn decoder_logits(&self, memory: Tensor<Cpu, 3>, ids: &[u32]) -> Vec<Vec<f32>> {
        let c = &self.weights.config;
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let n = ids.len();
        let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, [1, n]), &self.device);
        let logits = values(self.model.decoder.forward(ids, memory, c));
        logits
            .chunks_exact(c.decoder.vocab_size)
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// Greedy decoding, recomputing the full sequence at each step.
    pub fn greedy(&self, mel: &[f32], bos: u32, eos: u32, max_tokens: usize) -> ReferenceDecode {
        let c = &self.weights.config;
        let memory = self.model.encoder.forward(self.mel_tensor(mel), c);
        let mut ids = vec![bos];
        let mut out = ReferenceDecode {
            tokens: Vec::new(),
            logits: Vec::new(),
        };
        for _ in 0..max_tokens {
            let last = self
                .decoder_logits(memory.clone(), &ids)
                .pop()
                .expect("one row per position");
            let next = argmax(&last);
            out.logits.push(last);
            out.tokens.push(next);
            if next == eos {
                break;
            }
            ids.push(next);
        }
        out
    }
}

/// Index of the largest value (the first among equals).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best as u32
}
