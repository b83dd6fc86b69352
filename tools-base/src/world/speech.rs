//! Speech for the world, from the espeak-ng synthesizer when it is installed: household
//! utterances in varied voices, speeds and pitches, one variant per "recording".

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Speech variants in a world.
pub const VARIANTS: u64 = 12;

const UTTERANCES: [&str; 8] = [
    "dinner is ready",
    "can you hear me",
    "the door is open",
    "it is time to go",
    "where are my keys",
    "hello, how are you today",
    "please turn off the lights",
    "the package has arrived",
];

const VOICES: [&str; 6] = ["en+m1", "en+m3", "en+m7", "en+f1", "en+f3", "en+f4"];

/// Whether espeak-ng can be run.
pub fn available() -> bool {
    Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Synthesizes variant `variant` into `dir` and returns the WAV file's path.
pub fn render(variant: u64, dir: &Path) -> Result<PathBuf> {
    let v = variant as usize;
    let path = dir.join(format!("speech_{variant:02}.wav"));
    let speed = 130 + (v * 7) % 50;
    let pitch = 30 + (v * 13) % 40;
    let out = Command::new("espeak-ng")
        .args(["-v", VOICES[v % VOICES.len()]])
        .args(["-s", &speed.to_string(), "-p", &pitch.to_string(), "-w"])
        .arg(&path)
        .arg(UTTERANCES[(v / VOICES.len() + v) % UTTERANCES.len()])
        .output()
        .context("running espeak-ng")?;
    if !out.status.success() {
        bail!(
            "espeak-ng failed for speech variant {variant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(path)
}
