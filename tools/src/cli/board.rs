//! `earsight-tools board`: the board profiles of `boards/`, and a board's cross-built
//! package.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use earsight_tools::ship::board::{self, PackageInputs, Profile};

use super::common::{in_checkout, CHECKOUT};

const BOARDS_DIR: &str = "boards";
const DEFAULT_BUNDLE: &str = "models/mini";
const BOARDS_OUT: &str = "target/boards";

#[derive(Subcommand)]
pub enum BoardCommand {
    /// List the board profiles.
    List {
        /// The profiles' directory.
        #[arg(long, default_value = BOARDS_DIR, value_parser = in_checkout)]
        boards: PathBuf,
    },
    /// Cross-compile the runtime with the board's flags (boards/cross.sh, Debian's Rust) and
    /// write OUT/earsight-NAME.tar.gz: the binary, the bundle, the systemd unit, its settings,
    /// install.sh and a README for the board.
    Build {
        /// The board: a profile name (`earsight-tools board list`).
        name: String,
        /// The profiles' directory.
        #[arg(long, default_value = BOARDS_DIR, value_parser = in_checkout)]
        boards: PathBuf,
        /// The model bundle to ship (the default bundle unless given).
        #[arg(long, default_value = DEFAULT_BUNDLE, value_parser = in_checkout)]
        bundle: PathBuf,
        /// Where the package goes.
        #[arg(long, default_value = BOARDS_OUT)]
        out: PathBuf,
        /// Package this earsight binary (built for the board) instead of cross-compiling one.
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Run the runtime's tests first, built with the board's flags, under qemu with the
        /// target's oldest CPU; the package holds the binary they tested.
        #[arg(long, conflicts_with = "binary")]
        test: bool,
        /// The cargo profile of the build. `release` for a package to ship; CI's `qemu-test`
        /// (Cargo.toml) builds tract's graph crates with less optimisation, for a faster build
        /// of the same tests.
        #[arg(
            long,
            default_value = board::RELEASE_PROFILE,
            value_parser = clap::builder::PossibleValuesParser::new(board::CARGO_PROFILES),
            conflicts_with = "binary"
        )]
        cargo_profile: String,
        /// Replace a package already in --out.
        #[arg(long)]
        force: bool,
    },
    /// Type-check the runtime (library, binary and tests) for the board with its flags and
    /// features, without generating code or running it: the target's compile errors and
    /// warnings, for far less than `build --test`'s release build.
    Check {
        /// The board: a profile name (`earsight-tools board list`).
        name: String,
        /// The profiles' directory.
        #[arg(long, default_value = BOARDS_DIR, value_parser = in_checkout)]
        boards: PathBuf,
    },
}

/// Runs one `board` subcommand.
pub fn run(command: BoardCommand) -> Result<()> {
    match command {
        BoardCommand::List { boards } => {
            for name in board::list(&boards)? {
                let profile = Profile::load(&boards, &name)?;
                println!(
                    "{name:<18} {:<26} {} {}, {} thread(s), service {} of {} MB",
                    profile.name,
                    profile.target,
                    profile.target_cpu,
                    profile.threads,
                    profile.service_memory_mb,
                    profile.board_memory_mb
                );
            }
            Ok(())
        }
        BoardCommand::Check { name, boards } => {
            let profile = Profile::load(&boards, &name)?;
            let began = std::time::Instant::now();
            announce("checking", &profile);
            board::cross_check(Path::new(CHECKOUT), &name, &profile)?;
            println!(
                "{name}: the runtime checks clean for {} ({:.0} s)",
                profile.target,
                began.elapsed().as_secs_f64()
            );
            Ok(())
        }
        BoardCommand::Build {
            name,
            boards,
            bundle,
            out,
            binary,
            test,
            cargo_profile,
            force,
        } => {
            let profile = Profile::load(&boards, &name)?;
            // A binary this tool built carries symbols to strip; a given one is packaged as is.
            let (binary, strip, built) = match binary {
                Some(path) => (path, false, "given binary".to_string()),
                None => {
                    announce("building", &profile);
                    let began = std::time::Instant::now();
                    let path = board::cross_build(
                        Path::new(CHECKOUT),
                        &name,
                        &profile,
                        &cargo_profile,
                        test,
                    )?;
                    let seconds = began.elapsed().as_secs_f64();
                    (path, true, format!("{cargo_profile} build {seconds:.0} s"))
                }
            };
            fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let package = board::write_package(
                &PackageInputs {
                    board: &name,
                    profile: &profile,
                    binary: &binary,
                    strip,
                    bundle: &bundle,
                    install_script: &boards.join("install.sh"),
                    profile_file: &boards.join(format!("{name}.toml")),
                },
                &out,
                force,
            )?;
            let mb = |bytes: u64| bytes as f64 / 1e6;
            println!(
                "{}: binary {:.1} MB{}, bundle {:.1} MB, package {:.1} MB ({built})",
                package.tarball.display(),
                mb(package.binary_bytes),
                if strip { " stripped" } else { "" },
                mb(package.bundle_bytes),
                mb(package.tarball_bytes),
            );
            Ok(())
        }
    }
}

/// Says on stderr what the cross toolchain is about to compile, for which board and how.
fn announce(doing: &str, profile: &Profile) {
    eprintln!(
        "{doing} earsight for the {} ({}, RUSTFLAGS={:?})",
        profile.name,
        profile.target,
        profile.rustflags()
    );
}
