//! Reading a stage's recipe file, and the fingerprint that ties a checkpoint to the recipe and
//! model it was made with.

use std::path::Path;

use anyhow::{Context, Result};

pub use crate::data::read_json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A stage's recipe file.
pub trait Recipe: DeserializeOwned {
    /// What the file is, for errors.
    const WHAT: &'static str;

    fn validate(&self) -> Result<()>;

    /// Reads and checks a recipe; an error names the file and the field.
    fn read(path: &Path) -> Result<Self> {
        let recipe: Self = read_json(path, Self::WHAT)?;
        recipe
            .validate()
            .with_context(|| format!("{}: invalid {}", path.display(), Self::WHAT))?;
        Ok(recipe)
    }
}

/// A short hash of everything that must not change across a resume (the recipe, the model
/// config, the stage).
pub fn fingerprint<T: Serialize>(value: &T) -> Result<String> {
    let json = serde_json::to_string(value)?;
    let digest = Sha256::digest(json.as_bytes());
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}
