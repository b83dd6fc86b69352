//! Token ids to caption text, with the bundle's tokenizer (Hugging Face `tokenizer.json`), and
//! the tokenizer contract: which tokens are special and the names each may go by. The runtime,
//! the exporter, the training datasets and the tools' reference decode all read the special
//! tokens here.

use std::path::{Path, PathBuf};

use crate::bundle::SpecialTokens;

/// The special tokens and the names each may go by, first choice first: earsight's own
/// (`[PAD] [UNK] [BOS] [EOS]`, what `earsight-tools tokenizer` writes), or BLIP's (BERT's
/// vocabulary with `[DEC]` added, which starts a caption with `[DEC]` and ends it with `[SEP]`).
/// Each is named in errors by its first name.
pub const SPECIAL_TOKENS: [&[&str]; 4] = [
    &["[PAD]"],
    &["[UNK]"],
    &["[BOS]", "[DEC]"],
    &["[EOS]", "[SEP]"],
];

/// Why a tokenizer was refused.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{path}: cannot load tokenizer: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path}: tokenizer has {found} tokens but the model config says decoder.vocab_size = {expected}")]
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
    #[error("{path}: the tokenizer has no special token {names}")]
    NoSpecial { path: PathBuf, names: String },
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    OutOfRange { id: u32, vocab: usize },
    #[error("cannot decode tokens: {0}")]
    Decode(String),
}

/// Loads a tokenizer and checks that it has `vocab` tokens.
fn load(path: &Path, vocab: usize) -> Result<tokenizers::Tokenizer, TextError> {
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
    Ok(tokenizer)
}

/// The ids of the special tokens of `tokenizer` (read from `path`), each by the first of its
/// [`SPECIAL_TOKENS`] names the tokenizer has.
fn special_ids(path: &Path, tokenizer: &tokenizers::Tokenizer) -> Result<SpecialTokens, TextError> {
    let [pad, unk, bos, eos] = SPECIAL_TOKENS.map(|names| {
        names
            .iter()
            .find_map(|n| tokenizer.token_to_id(n))
            .ok_or_else(|| TextError::NoSpecial {
                path: path.into(),
                names: names.join(" or "),
            })
    });
    Ok(SpecialTokens {
        pad: pad?,
        unk: unk?,
        bos: bos?,
        eos: eos?,
    })
}

/// Loads the tokenizer at `path`, checks that it has `vocab` tokens, and returns it with the
/// ids of its special tokens: what the exporter writes into a manifest, and what the tools'
/// datasets and reference decode start and end captions with.
pub fn read_special_tokens(
    path: &Path,
    vocab: usize,
) -> Result<(tokenizers::Tokenizer, SpecialTokens), TextError> {
    let tokenizer = load(path, vocab)?;
    let special = special_ids(path, &tokenizer)?;
    Ok((tokenizer, special))
}

/// The caption tokenizer, checked against the model's vocabulary and special tokens.
pub struct TextDecoder {
    tokenizer: tokenizers::Tokenizer,
    vocab: usize,
    special: SpecialTokens,
}

impl TextDecoder {
    /// Loads `path` and checks that it agrees with the model on vocabulary size and on the ids
    /// of the special tokens (by their [`SPECIAL_TOKENS`] names).
    pub fn open(
        path: &Path,
        vocab: usize,
        special: &SpecialTokens,
    ) -> Result<TextDecoder, TextError> {
        let tokenizer = load(path, vocab)?;
        let found = special_ids(path, &tokenizer)?;
        for (names, id, actual) in [
            (SPECIAL_TOKENS[0], special.pad, found.pad),
            (SPECIAL_TOKENS[1], special.unk, found.unk),
            (SPECIAL_TOKENS[2], special.bos, found.bos),
            (SPECIAL_TOKENS[3], special.eos, found.eos),
        ] {
            if actual != id {
                return Err(TextError::Special {
                    path: path.into(),
                    name: names[0],
                    id,
                    found: actual.to_string(),
                });
            }
        }
        Ok(TextDecoder {
            tokenizer,
            vocab,
            special: special.clone(),
        })
    }

    /// The id of `word` when the tokenizer has it as one whole-word token.
    pub fn word_id(&self, word: &str) -> Option<u32> {
        self.tokenizer
            .token_to_id(word)
            .filter(|&id| (id as usize) < self.vocab)
    }

    /// The id of the first piece of `word` as the tokenizer spells it, when it spells all of
    /// it (no unknown token, every id in the vocabulary).
    pub fn first_piece(&self, word: &str) -> Option<u32> {
        let encoding = self.tokenizer.encode(word, false).ok()?;
        let ids = encoding.get_ids();
        let known = ids
            .iter()
            .all(|&id| id != self.special.unk && (id as usize) < self.vocab);
        ids.first().copied().filter(|_| known)
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
