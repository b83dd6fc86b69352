//! Board profiles (`boards/NAME.toml`) and the package `earsight-tools board build` writes for
//! one board: the cross-compiled runtime, the default bundle, a systemd unit that runs
//! `earsight listen` as a service, its settings file, the install script and a README.
//!
//! A package unpacks to `earsight-NAME/` laid out the way it installs under `/opt/earsight`:
//! `bin/earsight` finds the bundle at `../share/earsight/models/mini`, the place the runtime
//! looks beside its binary.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// Where the installed package lives on the board; the unit runs the binary from here.
pub const INSTALL_PREFIX: &str = "/opt/earsight";

/// One board: what to compile for it and how the service runs on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The board's name as users know it.
    pub name: String,
    /// Rust target triple (one of [`Target`]).
    pub target: Target,
    /// `-C target-cpu`: the board's core, so that the compiler may use what it has.
    pub target_cpu: String,
    /// `-C target-feature` additions, each `+feature` or `-feature`.
    #[serde(default)]
    pub target_features: Vec<String>,
    /// Threads for tract's matrix products (`earsight listen --threads`).
    pub threads: usize,
    /// Memory of the smallest model of the board.
    pub board_memory_mb: u32,
    /// The service's hard memory limit (systemd `MemoryMax`).
    pub service_memory_mb: u32,
    /// Where the service runs the graphs (`earsight listen --backend`): `cpu`, or `cuda` on a
    /// board with an NVIDIA GPU, whose package is then built with the runtime's `cuda` feature.
    #[serde(default)]
    pub backend: Backend,
    pub audio: AudioHints,
}

/// Where a board runs the graphs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Cpu,
    Cuda,
}

/// How the microphone is found on the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioHints {
    /// `earsight listen --device`: a fragment of the ALSA device's name or id.
    pub device: String,
    /// ALSA card names met on this board, with what they are (for the README).
    #[serde(default)]
    pub cards: Vec<String>,
    /// The ALSA device for the `arecord` fallback (`arecord -D`).
    pub arecord: String,
}

/// The targets a profile may name, with what their binaries look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Target {
    Aarch64,
    Armv7,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Aarch64, Target::Armv7];

    pub fn triple(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
            Target::Armv7 => "armv7-unknown-linux-gnueabihf",
        }
    }

    /// The prefix of the GNU cross tools (`aarch64-linux-gnu-strip`).
    pub fn gnu_prefix(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64-linux-gnu",
            Target::Armv7 => "arm-linux-gnueabihf",
        }
    }

    /// What `uname -m` says on such a board.
    pub fn uname_machine(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64",
            Target::Armv7 => "armv7l",
        }
    }

    /// ELF class (1: 32-bit, 2: 64-bit) and `e_machine` of the target's executables.
    pub fn elf(self) -> (u8, u16) {
        match self {
            Target::Aarch64 => (2, 183),
            Target::Armv7 => (1, 40),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.triple())
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(triple: String) -> Result<Target, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.triple() == triple)
            .ok_or_else(|| {
                let known: Vec<&str> = Target::ALL.iter().map(|t| t.triple()).collect();
                format!(
                    "target must be one of {}, found {triple:?}",
                    known.join(", ")
                )
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("no board {name:?} in {dir}; the boards are: {known}")]
    Unknown {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a binary for {board} ({expected}): {found}")]
    WrongBinary {
        path: PathBuf,
        board: String,
        expected: String,
        found: String,
    },
    #[error("{0} exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("{command} failed ({status}){hint}")]
    Command {
        command: String,
        status: String,
        hint: String,
    },
    #[error("the bundle in {dir} does not open: {message}")]
    Bundle { dir: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BoardError + '_ {
    move |source| BoardError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Profile {
    /// Reads and checks `DIR/NAME.toml`.
    pub fn load(dir: &Path, name: &str) -> Result<Profile, BoardError> {
        let path = dir.join(format!("{name}.toml"));
        if !path.is_file() {
            return Err(BoardError::Unknown {
                name: name.into(),
                dir: dir.to_path_buf(),
                known: list(dir)?.join(", "),
            });
        }
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let profile: Profile = toml::from_str(&text).map_err(|e| BoardError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        profile
            .check()
            .map_err(|message| BoardError::Invalid { path, message })?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), String> {
        let plain = |field: &str, value: &str| {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                Err(format!(
                    "{field} must be one word without spaces, found {value:?}"
                ))
            } else {
                Ok(())
            }
        };
        plain("target_cpu", &self.target_cpu)?;
        plain("audio.device", &self.audio.device)?;
        plain("audio.arecord", &self.audio.arecord)?;
        for feature in &self.target_features {
            if !(feature.starts_with('+') || feature.starts_with('-')) || feature.len() < 2 {
                return Err(format!(
                    "target_features: each is +feature or -feature, found {feature:?}"
                ));
            }
        }
        if self.threads == 0 {
            return Err("threads must be at least 1, found 0".into());
        }
        if self.service_memory_mb == 0 || self.service_memory_mb >= self.board_memory_mb {
            return Err(format!(
                "service_memory_mb must be above 0 and below board_memory_mb ({}), found {}",
                self.board_memory_mb, self.service_memory_mb
            ));
        }
        Ok(())
    }

    /// The RUSTFLAGS of the board's build. Warnings are errors: a lint that only fires on this
    /// target (an x86-only path, a 32-bit truncation) must fail the build.
    pub fn rustflags(&self) -> String {
        let mut flags = format!("-D warnings -C target-cpu={}", self.target_cpu);
        if !self.target_features.is_empty() {
            write!(
                flags,
                " -C target-feature={}",
                self.target_features.join(",")
            )
            .unwrap();
        }
        flags
    }

    /// The runtime's cargo features in this board's package: [`BOARD_FEATURES`], and `cuda`
    /// where the board runs the graphs on its GPU.
    pub fn cargo_features(&self) -> String {
        match self.backend {
            Backend::Cpu => BOARD_FEATURES.into(),
            Backend::Cuda => format!("{BOARD_FEATURES},cuda"),
        }
    }

    /// `earsight listen`'s and `caption`'s options for where and how the graphs run.
    fn compute_args(&self) -> String {
        match self.backend {
            Backend::Cpu => format!("--threads {}", self.threads),
            Backend::Cuda => format!("--threads {} --backend cuda", self.threads),
        }
    }

    /// The systemd unit that runs `earsight listen` as a service.
    pub fn unit(&self) -> String {
        format!(
            "[Unit]\n\
             Description=earsight: live captions of the sounds around this {name}\n\
             Documentation=file:{prefix}/README.md\n\
             After=sound.target\n\
             # A USB microphone plugged in after boot: keep retrying rather than give up after\n\
             # five quick failures.\n\
             StartLimitIntervalSec=0\n\
             \n\
             [Service]\n\
             Type=simple\n\
             User=earsight\n\
             Group=earsight\n\
             SupplementaryGroups=audio\n\
             # EARSIGHT_ARGS: the microphone and other listen options (install.sh keeps it).\n\
             EnvironmentFile=-/etc/default/earsight\n\
             ExecStart={prefix}/bin/earsight listen --json {compute} $EARSIGHT_ARGS\n\
             Restart=always\n\
             RestartSec=5\n\
             MemoryMax={memory}M\n\
             NoNewPrivileges=yes\n\
             ProtectSystem=strict\n\
             ProtectHome=yes\n\
             PrivateTmp=yes\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n",
            name = self.name,
            prefix = INSTALL_PREFIX,
            compute = self.compute_args(),
            memory = self.service_memory_mb,
        )
    }

    /// `/etc/default/earsight`: the options the service passes to `earsight listen`.
    pub fn service_settings(&self) -> String {
        format!(
            "# Options the earsight service passes to `earsight listen` (see `earsight listen \
             --help`).\n\
             # `earsight devices` lists the microphones; --device takes a fragment of a name or \
             id.\n\
             # Alerts, Home Assistant and the web page, for example:\n\
             #   --alert smoke_or_fire_alarm,doorbell --mqtt mqtt://homeassistant.local\n\
             #   --http 0.0.0.0:8080 --http-token /etc/earsight/http-token\n\
             # (boards/README.md in the source walks through it).\n\
             EARSIGHT_ARGS=\"--device {device}\"\n",
            device = self.audio.device
        )
    }

    /// The package's README: what is in it, how to install it and check the microphone.
    pub fn readme(&self, board: &str, bundle_summary: &str) -> String {
        let target = self.target;
        let cards = if self.audio.cards.is_empty() {
            String::new()
        } else {
            let mut s = String::from("Microphones met on this board (ALSA card names):\n\n");
            for card in &self.audio.cards {
                writeln!(s, "- {card}").unwrap();
            }
            s.push('\n');
            s
        };
        let gpu = match self.backend {
            Backend::Cpu => String::new(),
            Backend::Cuda => format!(
                "The graphs run on the board's GPU through tract's CUDA runtime (`--backend \
                 cuda`), which opens the NVIDIA driver, NVRTC, cuBLAS and cuDNN at start (JetPack \
                 installs them); without them earsight stops with a message naming the one \
                 missing. To run on the CPU cores instead: `sudo systemctl edit earsight`, and \
                 an `ExecStart=` line without `--backend cuda` ({prefix}/bin/earsight listen \
                 --json --threads {threads} $EARSIGHT_ARGS).\n\n",
                prefix = INSTALL_PREFIX,
                threads = self.threads,
            ),
        };
        format!(
            "# earsight for the {name}\n\
             \n\
             Built for `{triple}`, tuned for the {cpu} (`{rustflags}`); the service runs \
             `earsight listen` with {threads} thread(s) and may use at most {memory} MB \
             (systemd `MemoryMax`) of the board's {board_memory} MB.\n\
             \n\
             {gpu}\
             - `bin/earsight`: the runtime\n\
             - `share/earsight/models/mini/`: the default model bundle ({bundle_summary})\n\
             - `earsight.service`: the systemd unit\n\
             - `earsight.default`: the service's options, installed as `/etc/default/earsight`\n\
             - `install.sh`: installs all of it under `{prefix}`\n\
             - `board.toml`: the profile this package was built from (`boards/{board}.toml`)\n\
             \n\
             ## Install\n\
             \n\
             ```\n\
             sudo apt install libasound2\n\
             sudo ./install.sh              # install, enable and start the service\n\
             sudo ./install.sh --no-start   # install only\n\
             journalctl -u earsight -f      # the captions, one JSON object per line\n\
             ```\n\
             \n\
             The script checks that the binary runs on this board ({machine}), creates the \
             system user `earsight` (group `audio`), and never replaces an existing \
             `/etc/default/earsight`. Change the service with `systemctl edit earsight`, not by \
             editing the unit: a reinstall replaces the unit and keeps a copy of one you edited. \
             `sudo ./install.sh --uninstall` removes the service and `{prefix}` and keeps \
             `/etc/default/earsight`.\n\
             \n\
             ## The microphone\n\
             \n\
             The service reads the ALSA device directly (a system service has no PipeWire \
             session): `--device {device}` in `/etc/default/earsight`. \
             `{prefix}/bin/earsight devices` and `arecord -l` list what the board has.\n\
             \n\
             {cards}\
             If capture through earsight fails on your card, let ALSA's own tool capture:\n\
             \n\
             ```\n\
             arecord -D {arecord} -f S16_LE -r 16000 -c 1 -t raw | \\\n    \
             {prefix}/bin/earsight listen --input - --rate 16000 --realtime {compute}\n\
             ```\n\
             \n\
             ## Try it on a file\n\
             \n\
             ```\n\
             {prefix}/bin/earsight caption {compute} some-recording.wav\n\
             ```\n",
            name = self.name,
            triple = target.triple(),
            cpu = self.target_cpu,
            rustflags = self.rustflags(),
            threads = self.threads,
            memory = self.service_memory_mb,
            board_memory = self.board_memory_mb,
            prefix = INSTALL_PREFIX,
            machine = target.uname_machine(),
            device = self.audio.device,
            arecord = self.audio.arecord,
            compute = self.compute_args(),
        )
    }
}

/// The board names in `dir` (each `NAME.toml`), sorted.
pub fn list(dir: &Path) -> Result<Vec<String>, BoardError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Checks that `path` is an executable of the profile's target (ELF class and machine), so a
/// host binary or the other ARM flavour is refused before it reaches a board.
pub fn check_binary(path: &Path, board: &str, profile: &Profile) -> Result<(), BoardError> {
    let target = profile.target;
    let bytes = fs::read(path).map_err(io(path))?;
    let (class, machine) = target.elf();
    let expected = format!("ELF class {class}, machine {machine}");
    let wrong = |found: String| BoardError::WrongBinary {
        path: path.to_path_buf(),
        board: board.into(),
        expected: format!("{}: {expected}", target.triple()),
        found,
    };
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return Err(wrong("not an ELF file".into()));
    }
    let found_machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if bytes[4] != class || found_machine != machine {
        return Err(wrong(format!(
            "ELF class {}, machine {found_machine}",
            bytes[4]
        )));
    }
    Ok(())
}

/// The runtime's cargo features in a board package: the microphone, MQTT for home automation,
/// and the live-caption web page.
pub const BOARD_FEATURES: &str = "mic,mqtt,http";

/// The cargo profile of a board's shipped binary.
pub const RELEASE_PROFILE: &str = "release";

/// The cargo profiles a board can be built in (`Cargo.toml`): [`RELEASE_PROFILE`], and
/// `qemu-test`, CI's faster build of the same tests with tract's graph crates unoptimised.
pub const CARGO_PROFILES: [&str; 2] = [RELEASE_PROFILE, "qemu-test"];

/// Cross-compiles the runtime for the board with `boards/cross.sh` (Debian's Rust) in the cargo
/// profile `cargo_profile` ([`RELEASE_PROFILE`] for a package to ship) and returns the binary,
/// from the board's own target directory.
///
/// With `test`, the runtime's tests are built the same way and run under qemu with the oldest
/// CPU of the target (`boards/qemu-runner.sh`), and the binary they ran is the one returned.
pub fn cross_build(
    repo: &Path,
    board: &str,
    profile: &Profile,
    cargo_profile: &str,
    test: bool,
) -> Result<PathBuf, BoardError> {
    // The tests' build leaves the binary they ran where a plain build would put it; building
    // again would only relink it with the features of a build without dev-dependencies.
    let subcommand = if test { "test" } else { "build" };
    run(
        &mut cross_cargo(repo, board, profile, cargo_profile, subcommand),
        CROSS_HINT,
    )?;
    Ok(board_target_dir(repo, board)
        .join(profile.target.triple())
        .join(cargo_profile)
        .join("earsight"))
}

/// Type-checks the runtime for the board, as [`cross_build`] with `test` compiles it (the
/// board's flags, `-D warnings`, its features; the library, the binary and the tests), without
/// generating code: a compile error or a warning that only this target meets, in a fraction of
/// a release build's time. Nothing runs.
pub fn cross_check(repo: &Path, board: &str, profile: &Profile) -> Result<(), BoardError> {
    let mut command = cross_cargo(repo, board, profile, RELEASE_PROFILE, "check");
    command.args(["--lib", "--bins", "--tests"]);
    run(&mut command, CROSS_HINT)
}

const CROSS_HINT: &str = "; install the cross toolchain with boards/install-cross.sh (as root)";

/// The board's own target directory: each board's RUSTFLAGS differ.
fn board_target_dir(repo: &Path, board: &str) -> PathBuf {
    repo.join("target/cross").join(board)
}

/// `boards/cross.sh` running one cargo subcommand on the runtime in a cargo profile, with the
/// board's RUSTFLAGS and features, in the board's own target directory.
fn cross_cargo(
    repo: &Path,
    board: &str,
    profile: &Profile,
    cargo_profile: &str,
    subcommand: &str,
) -> Command {
    let mut command = Command::new("sh");
    command
        .arg(repo.join("boards/cross.sh"))
        .args([profile.target.triple(), subcommand, "--locked"])
        .args(["--profile", cargo_profile])
        .args(["-p", "earsight", "--features", &profile.cargo_features()])
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", board_target_dir(repo, board))
        .env("RUSTFLAGS", profile.rustflags());
    command
}

fn run(command: &mut Command, hint: &str) -> Result<(), BoardError> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| BoardError::Command {
        command: shown.clone(),
        status: e.to_string(),
        hint: hint.into(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BoardError::Command {
            command: shown,
            status: status.to_string(),
            hint: hint.into(),
        })
    }
}

/// What goes into one board's package.
pub struct PackageInputs<'a> {
    /// The profile's file name without `.toml`.
    pub board: &'a str,
    pub profile: &'a Profile,
    /// The board's `earsight` executable (checked with [`check_binary`]).
    pub binary: &'a Path,
    /// Strip the binary with the target's `strip` (a binary this tool built carries symbols).
    pub strip: bool,
    /// The model bundle directory (checked by opening it as the runtime does).
    pub bundle: &'a Path,
    /// `boards/install.sh`.
    pub install_script: &'a Path,
    /// `boards/NAME.toml`, copied as `board.toml`.
    pub profile_file: &'a Path,
}

/// The written package.
#[derive(Debug)]
pub struct Package {
    pub tarball: PathBuf,
    /// The unpacked tree the tarball was made from.
    pub dir: PathBuf,
    pub binary_bytes: u64,
    pub bundle_bytes: u64,
    pub tarball_bytes: u64,
}

/// Writes `out/earsight-BOARD/` and `out/earsight-BOARD.tar.gz`. Refuses to replace either
/// unless `force`.
pub fn write_package(
    inputs: &PackageInputs,
    out: &Path,
    force: bool,
) -> Result<Package, BoardError> {
    let stem = format!("earsight-{}", inputs.board);
    let tarball = out.join(format!("{stem}.tar.gz"));
    let dir = out.join(&stem);
    for earlier in [&tarball, &dir] {
        if !force && earlier.exists() {
            return Err(BoardError::Exists(earlier.clone()));
        }
    }
    check_binary(inputs.binary, inputs.board, inputs.profile)?;
    let bundle = earsight::bundle::Bundle::open(inputs.bundle).map_err(|e| BoardError::Bundle {
        dir: inputs.bundle.to_path_buf(),
        message: e.to_string(),
    })?;
    let manifest = bundle.manifest();
    let bundle_summary = format!(
        "{}, encoder {}, decoder {}{}",
        manifest.name,
        manifest.encoder_quantization,
        manifest.decoder_quantization,
        if manifest.trained { "" } else { ", untrained" }
    );

    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    let bin_dir = dir.join("bin");
    let model_dir = dir.join("share/earsight/models/mini");
    fs::create_dir_all(&bin_dir).map_err(io(&bin_dir))?;
    fs::create_dir_all(&model_dir).map_err(io(&model_dir))?;

    let binary = bin_dir.join("earsight");
    if inputs.strip {
        let strip = format!("{}-strip", inputs.profile.target.gnu_prefix());
        run(
            Command::new(&strip)
                .arg("-o")
                .arg(&binary)
                .arg(inputs.binary),
            "; install binutils for the target (boards/install-cross.sh)",
        )?;
    } else {
        fs::copy(inputs.binary, &binary).map_err(io(inputs.binary))?;
    }
    set_mode(&binary, 0o755)?;

    let mut bundle_bytes = 0;
    for entry in fs::read_dir(inputs.bundle).map_err(io(inputs.bundle))? {
        let path = entry.map_err(io(inputs.bundle))?.path();
        if path.is_file() {
            let to = model_dir.join(path.file_name().expect("a file has a name"));
            bundle_bytes += fs::copy(&path, &to).map_err(io(&path))?;
            set_mode(&to, 0o644)?;
        }
    }

    let install = dir.join("install.sh");
    fs::copy(inputs.install_script, &install).map_err(io(inputs.install_script))?;
    set_mode(&install, 0o755)?;
    let texts = [
        ("earsight.service", inputs.profile.unit()),
        ("earsight.default", inputs.profile.service_settings()),
        (
            "README.md",
            inputs.profile.readme(inputs.board, &bundle_summary),
        ),
        (
            "board.toml",
            fs::read_to_string(inputs.profile_file).map_err(io(inputs.profile_file))?,
        ),
    ];
    for (name, text) in texts {
        let path = dir.join(name);
        fs::write(&path, text).map_err(io(&path))?;
        set_mode(&path, 0o644)?;
    }

    write_tarball(&dir, &stem, &tarball)?;
    Ok(Package {
        binary_bytes: fs::metadata(&binary).map_err(io(&binary))?.len(),
        tarball_bytes: fs::metadata(&tarball).map_err(io(&tarball))?.len(),
        tarball,
        dir,
        bundle_bytes,
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BoardError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

/// Writes through a temporary name, so a failed write leaves no half tarball under the real one.
fn write_tarball(dir: &Path, stem: &str, tarball: &Path) -> Result<(), BoardError> {
    let partial = tarball.with_extension("gz.partial");
    let file = fs::File::create(&partial).map_err(io(&partial))?;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    builder.follow_symlinks(false);
    builder.append_dir_all(stem, dir).map_err(io(dir))?;
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(io(&partial))?;
    fs::rename(&partial, tarball).map_err(io(tarball))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> Result<Profile, BoardError> {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.toml"), text).unwrap();
        Profile::load(dir.path(), "b")
    }

    const GOOD: &str = r#"
name = "Test board"
target = "aarch64-unknown-linux-gnu"
target_cpu = "cortex-a53"
threads = 1
board_memory_mb = 512
service_memory_mb = 192
[audio]
device = "plughw:CARD=Device"
arecord = "plughw:CARD=Device,DEV=0"
"#;

    #[test]
    fn a_good_profile_loads_and_gives_its_flags() {
        let p = profile(GOOD).unwrap();
        assert_eq!(p.rustflags(), "-D warnings -C target-cpu=cortex-a53");
        assert!(p.unit().contains("MemoryMax=192M"));
        assert!(p.unit().contains("--threads 1 $EARSIGHT_ARGS"));
        assert!(p
            .service_settings()
            .contains("EARSIGHT_ARGS=\"--device plughw:CARD=Device\""));
        assert_eq!(p.backend, Backend::Cpu);
        assert_eq!(p.cargo_features(), BOARD_FEATURES);
        assert!(!p.readme("b", "a bundle").contains("--backend"));
    }

    #[test]
    fn a_board_with_a_gpu_builds_for_it_and_runs_the_service_on_it() {
        let p = profile(&GOOD.replace("threads = 1", "threads = 1\nbackend = \"cuda\"")).unwrap();
        assert_eq!(p.cargo_features(), format!("{BOARD_FEATURES},cuda"));
        assert!(p
            .unit()
            .contains("listen --json --threads 1 --backend cuda $EARSIGHT_ARGS"));
        let readme = p.readme("b", "a bundle");
        assert!(readme.contains("caption --threads 1 --backend cuda some-recording.wav"));
        assert!(readme.contains("cuDNN"), "{readme}");
        let message = profile(&GOOD.replace("threads = 1", "threads = 1\nbackend = \"gpu\""))
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown variant `gpu`"), "{message}");
    }

    #[test]
    fn bad_profiles_name_the_field_and_what_was_found() {
        let cases = [
            (
                GOOD.replace("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"),
                "target must be one of",
            ),
            (
                GOOD.replace("threads = 1", "threads = 0"),
                "threads must be at least 1",
            ),
            (
                GOOD.replace("service_memory_mb = 192", "service_memory_mb = 600"),
                "found 600",
            ),
            (
                GOOD.replace("cortex-a53", "cortex a53"),
                "target_cpu must be one word",
            ),
            (
                GOOD.replace("threads = 1", "threads = 1\ntarget_features = [\"neon\"]"),
                "found \"neon\"",
            ),
            (GOOD.replace("threads = 1", "thread = 1"), "unknown field"),
            (GOOD.replace("[audio]", "[sound]"), "sound"),
        ];
        for (text, wanted) in cases {
            let message = profile(&text).unwrap_err().to_string();
            assert!(message.contains("b.toml"), "{message}");
            assert!(message.contains(wanted), "{wanted:?} not in {message}");
        }
    }

    #[test]
    fn an_unknown_board_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pi.toml"), GOOD).unwrap();
        let message = Profile::load(dir.path(), "pie").unwrap_err().to_string();
        assert!(message.contains("no board \"pie\""), "{message}");
        assert!(message.contains("the boards are: pi"), "{message}");
    }

    #[test]
    fn binaries_of_another_architecture_are_refused() {
        let p = profile(GOOD).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        let write = |name: &str, class: u8, machine: u16| {
            let mut bytes = elf.clone();
            bytes[4] = class;
            bytes[18..20].copy_from_slice(&machine.to_le_bytes());
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        check_binary(&write("arm64", 2, 183), "b", &p).unwrap();
        let x86 = check_binary(&write("x86", 2, 62), "b", &p)
            .unwrap_err()
            .to_string();
        assert!(x86.contains("machine 62"), "{x86}");
        assert!(x86.contains("aarch64-unknown-linux-gnu"), "{x86}");
        let armhf = check_binary(&write("armhf", 1, 40), "b", &p)
            .unwrap_err()
            .to_string();
        assert!(armhf.contains("ELF class 1, machine 40"), "{armhf}");
        let script = dir.path().join("script");
        fs::write(&script, "#!/bin/sh\n").unwrap();
        let text = check_binary(&script, "b", &p).unwrap_err().to_string();
        assert!(text.contains("not an ELF file"), "{text}");
    }
}
