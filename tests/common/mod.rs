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
