//! Token ids to caption text, with the bundle's tokenizer (Hugging Face `tokenizer.json`).

use std::path::{Path, PathBuf};

use crate::bundle::SpecialTokens;

/// Why a tokenizer was refused.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{path}: cannot load tokenizer: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path}: tokenizer has {found} tokens but the model's vocabulary is {expected}")]
    VocabSize {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error(
        "{path}: special token `{name}` is id {id} in the manifest but {found} in the tokenizer"
    )]
    Special {
        path: PathBuf,
        name: &'static str,
        id: u32,
        found: String,
    },
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    OutOfRange { id: u32, vocab: usize },
    #[error("cannot decode tokens: {0}")]
    Decode(String),
}

/// The caption tokenizer, checked against the model's vocabulary and special tokens.
pub struct TextDecoder {
    tokenizer: tokenizers::Tokenizer,
    vocab: usize,
    special: SpecialTokens,
}

impl TextDecoder {
    /// Loads `path` and checks that it agrees with the model on vocabulary size and on the ids
    /// of the special tokens (named `[PAD]`, `[UNK]`, `[BOS]`, `[EOS]`).
    pub fn open(
        path: &Path,
        vocab: usize,
        special: &SpecialTokens,
    ) -> Result<TextDecoder, TextError> {
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| TextError::Load {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let found = tokenizer.get_vocab_size(true);
        if found != vocab {
            return Err(TextError::VocabSize {
                path: path.into(),
                expected: vocab,
                found,
            });
        }
        for (name, id) in [
            ("[PAD]", special.pad),
            ("[UNK]", special.unk),
            ("[BOS]", special.bos),
            ("[EOS]", special.eos),
        ] {
            let actual = tokenizer.token_to_id(name);
            if actual != Some(id) {
                return Err(TextError::Special {
                    path: path.into(),
                    name,
                    id,
                    found: actual.map_or("absent".into(), |a| a.to_string()),
                });
            }
        }
        Ok(TextDecoder {
            tokenizer,
            vocab,
            special: special.clone(),
        })
    }

    /// Turns generated ids (without the start token) into text; stops at the end token and
    /// skips special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return Err(TextError::OutOfRange {
                id,
                vocab: self.vocab,
            });
        }
        let end = ids
            .iter()
            .position(|&id| id == self.special.eos)
            .unwrap_or(ids.len());
        self.tokenizer
            .decode(&ids[..end], true)
            .map_err(|e| TextError::Decode(e.to_string()))
    }
}
