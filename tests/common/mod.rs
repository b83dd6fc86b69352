//! What the command-line tests share.

use std::process::Command;

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
