//! Reading a stage's recipe file, and the fingerprint that ties a checkpoint to the recipe and
//! model it was made with.

use std::path::Path;

use anyhow::{Context, Result};
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

/// Reads a JSON recipe; a malformed file or an unknown field is an error naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a valid {what}", path.display()))
}

/// A short hash of everything that must not change across a resume (the recipe, the model
/// config, the stage).
pub fn fingerprint<T: Serialize>(value: &T) -> Result<String> {
    let json = serde_json::to_string(value)?;
    let digest = Sha256::digest(json.as_bytes());
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}
