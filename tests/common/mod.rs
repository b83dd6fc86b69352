//! What the command-line tests share.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

mod kit;
// Each test uses some of these.
#[allow(unused_imports)]
pub use kit::{assert_contains, assert_failed, write_wav, Pcm};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seeded test bundle.
pub fn bundle() -> PathBuf {
    repo().join("tests/fixtures/tiny-bundle")
}

/// Samples as raw s16le bytes (beyond [-1, 1] they saturate).
pub fn s16le(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|x| ((x * 32767.0) as i16).to_le_bytes())
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `earsight` binary of this build, ready for arguments. A foreign build under test in
/// emulation runs it through the same runner (`boards/qemu-runner.sh` sets the variable).
pub fn earsight_command() -> Command {
    let exe = env!("CARGO_BIN_EXE_earsight");
    match std::env::var_os("EARSIGHT_EXE_RUNNER") {
        Some(runner) => {
            let mut command = Command::new(runner);
            command.arg(exe);
            command
        }
        None => Command::new(exe),
    }
}

/// `earsight listen --json` on raw 16 kHz PCM from stdin, with the bundle at `model` and
/// `args`, running: its stdin is the test's to write, its stdout goes to `stdout`, and its
/// stderr (the summary) is kept.
pub fn listen_on_a_pipe(
    model: &std::path::Path,
    args: &[&str],
    stdout: std::process::Stdio,
) -> std::process::Child {
    earsight_command()
        .args(["listen", "--json", "--input", "-", "--rate", "16000"])
        .args(args)
        .env("EARSIGHT_MODEL", model)
        .stdin(std::process::Stdio::piped())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
