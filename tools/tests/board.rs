//! `earsight-tools board`: every profile in `boards/` packages, the package holds what it
//! must, its install script lays it out and keeps what the user had, and its unit passes
//! `systemd-analyze verify`. The binary packaged here is a stand-in with the board's ELF
//! header (the tool checks the header, and cross-compiling takes minutes per board; CI
//! cross-builds and tests the real runtime under emulation).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use earsight_tools::ship::board::{self, Profile, Target};

mod common;

use common::{argv, assert_failed, repo, tools};

fn boards() -> PathBuf {
    repo().join("boards")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file that starts like an executable for `target` (ELF class and machine).
fn stand_in_binary(dir: &Path, target: Target) -> PathBuf {
    let (class, machine) = target.elf();
    let mut bytes = vec![0u8; 4096];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = class;
    bytes[5] = 1;
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    let path = dir.join(format!("earsight-{}", target.triple()));
    fs::write(&path, bytes).unwrap();
    path
}

/// `board build` of the test bundle.
fn build(name: &str, binary: &Path, out: &Path, extra: &[&str]) -> Output {
    let bundle = repo().join("tests/fixtures/tiny-bundle");
    build_from(&bundle, name, binary, out, extra)
}

fn build_from(bundle: &Path, name: &str, binary: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = argv(
        "board build {} --binary {} --bundle {} --out {}",
        &[&name, &binary, &bundle, &out],
    );
    args.extend(extra.iter().map(OsString::from));
    tools(&args)
}

fn unpack(tarball: &Path, into: &Path) {
    let file = fs::File::open(tarball).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_profile_names_a_cpu_and_features_that_rustc_knows() {
    let names = board::list(&boards()).unwrap();
    for wanted in ["rpi5", "rpi4", "zero2w", "rpi-armv7", "jetson-orin-nano"] {
        assert!(names.iter().any(|n| n == wanted), "no boards/{wanted}.toml");
    }
    for name in names {
        let profile = Profile::load(&boards(), &name).unwrap();
        let target = profile.target;
        let print = |what: &str| {
            let out = Command::new("rustc")
                .args(["--print", what, "--target", target.triple()])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout)
        };
        let cpus = print("target-cpus");
        assert!(
            cpus.lines()
                .any(|l| l.split_whitespace().next() == Some(profile.target_cpu.as_str())),
            "{name}: rustc knows no CPU {} for {}",
            profile.target_cpu,
            target.triple()
        );
        let features = print("target-features");
        for feature in &profile.target_features {
            assert!(
                features
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(&feature[1..])),
                "{name}: rustc knows no feature {feature}"
            );
        }
        assert!(
            profile.service_memory_mb * 2 <= profile.board_memory_mb,
            "{name}: the service may take more than half of the board's memory"
        );
    }
}

#[test]
#[ignore = "ci: needs shellcheck and systemd-analyze"]
fn every_board_packages_and_its_package_installs() {
    let scratch = tempfile::tempdir().unwrap();
    for name in board::list(&boards()).unwrap() {
        let profile = Profile::load(&boards(), &name).unwrap();
        let target = profile.target;
        let binary = stand_in_binary(scratch.path(), target);
        let out = scratch.path().join("out");
        let made = build(&name, &binary, &out, &[]);
        assert!(made.status.success(), "{name}: {}", text(&made.stderr));

        let unpacked = scratch.path().join(format!("unpacked-{name}"));
        unpack(&out.join(format!("earsight-{name}.tar.gz")), &unpacked);
        let package = unpacked.join(format!("earsight-{name}"));
        for (file, wanted_mode) in [
            ("bin/earsight", 0o755),
            ("install.sh", 0o755),
            ("earsight.service", 0o644),
            ("earsight.default", 0o644),
            ("README.md", 0o644),
            ("board.toml", 0o644),
            ("share/earsight/models/mini/manifest.json", 0o644),
            ("share/earsight/models/mini/encoder.onnx", 0o644),
            ("share/earsight/models/mini/decoder.onnx", 0o644),
            ("share/earsight/models/mini/tokenizer.json", 0o644),
        ] {
            let path = package.join(file);
            assert!(path.is_file(), "{name}: no {file} in the package");
            assert_eq!(mode(&path), wanted_mode, "{name}: mode of {file}");
        }
        assert_eq!(
            fs::read(package.join("bin/earsight")).unwrap(),
            fs::read(&binary).unwrap()
        );
        let bundle = earsight::bundle::Bundle::open(package.join("share/earsight/models/mini"));
        assert!(bundle.is_ok(), "{name}: the packaged bundle does not open");

        let unit = fs::read_to_string(package.join("earsight.service")).unwrap();
        assert!(
            unit.contains(&format!("--threads {} ", profile.threads)),
            "{unit}"
        );
        assert!(unit.contains(&format!("MemoryMax={}M", profile.service_memory_mb)));
        let readme = fs::read_to_string(package.join("README.md")).unwrap();
        assert!(readme.contains(&profile.name) && readme.contains(&profile.audio.arecord));
        let settings = fs::read_to_string(package.join("earsight.default")).unwrap();
        assert!(settings.contains(&profile.audio.device));

        let lint = Command::new("shellcheck")
            .arg(package.join("install.sh"))
            .output()
            .expect("shellcheck is installed (.ci/run installs it)");
        assert!(lint.status.success(), "{}", text(&lint.stdout));

        // Install into a scratch root, then check the unit there: systemd-analyze wants the
        // program it names to exist, so the check reads a copy whose paths point into the root.
        let root = scratch.path().join(format!("root-{name}"));
        let install = Command::new(package.join("install.sh"))
            .env("DESTDIR", &root)
            .output()
            .unwrap();
        assert!(install.status.success(), "{}", text(&install.stderr));
        let installed = root.join("opt/earsight");
        assert!(installed.join("bin/earsight").is_file());
        assert!(installed
            .join("share/earsight/models/mini/manifest.json")
            .is_file());
        let placed_unit = root.join("etc/systemd/system/earsight.service");
        assert_eq!(fs::read_to_string(&placed_unit).unwrap(), unit);
        assert_eq!(
            fs::read_to_string(root.join("etc/default/earsight")).unwrap(),
            settings
        );
        let check_dir = scratch.path().join(format!("verify-{name}"));
        fs::create_dir_all(&check_dir).unwrap();
        let check_unit = check_dir.join("earsight.service");
        fs::write(
            &check_unit,
            unit.replace("/opt/earsight", installed.to_str().unwrap()),
        )
        .unwrap();
        let verify = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&check_unit)
            .output()
            .expect("systemd-analyze is installed (.ci/run installs systemd)");
        assert!(
            verify.status.success() && verify.stderr.is_empty(),
            "{name}: systemd-analyze verify: {}",
            text(&verify.stderr)
        );
    }
}

#[test]
fn a_reinstall_keeps_the_users_settings_and_edited_unit() {
    let scratch = tempfile::tempdir().unwrap();
    let binary = stand_in_binary(scratch.path(), Target::Aarch64);
    let out = scratch.path().join("out");
    assert!(build("rpi5", &binary, &out, &[]).status.success());
    let package = out.join("earsight-rpi5");
    let root = scratch.path().join("root");
    let install = || {
        Command::new(package.join("install.sh"))
            .env("DESTDIR", &root)
            .output()
            .unwrap()
    };
    assert!(install().status.success());
    let settings = root.join("etc/default/earsight");
    let unit = root.join("etc/systemd/system/earsight.service");
    fs::write(&settings, "EARSIGHT_ARGS=\"--device hw:CARD=Mine\"\n").unwrap();
    fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();

    let again = install();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        fs::read_to_string(&settings).unwrap(),
        "EARSIGHT_ARGS=\"--device hw:CARD=Mine\"\n"
    );
    assert!(text(&again.stdout).contains("kept your"));
    let backups: Vec<_> = fs::read_dir(unit.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        fs::read_to_string(&backups[0]).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    assert_eq!(
        fs::read_to_string(&unit).unwrap(),
        fs::read_to_string(package.join("earsight.service")).unwrap()
    );

    let removed = Command::new(package.join("install.sh"))
        .arg("--uninstall")
        .env("DESTDIR", &root)
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(!root.join("opt/earsight").exists() && !unit.exists());
    assert!(
        settings.is_file(),
        "--uninstall removed the user's settings"
    );
}

#[test]
fn bad_builds_are_refused_with_the_reason() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let arm64 = stand_in_binary(scratch.path(), Target::Aarch64);
    let armhf = stand_in_binary(scratch.path(), Target::Armv7);

    let unknown = build("rpi9", &arm64, &out, &[]);
    assert_failed(&unknown, &["no board \"rpi9\"", "zero2w"]);
    assert_failed(&tools(&["board", "check", "rpi9"]), &["no board \"rpi9\""]);
    let fast = tools(&["board", "build", "zero2w", "--cargo-profile", "fast"]);
    assert_failed(&fast, &["--cargo-profile", "fast", "release", "qemu-test"]);

    let wrong = build("rpi-armv7", &arm64, &out, &[]);
    let wanted = ["armv7-unknown-linux-gnueabihf", "ELF class 2, machine 183"];
    assert_failed(&wrong, &wanted);

    let nowhere = scratch.path().join("nowhere");
    let no_bundle = build_from(&nowhere, "rpi-armv7", &armhf, &out, &[]);
    assert_failed(&no_bundle, &["nowhere"]);
    assert!(!out.join("earsight-rpi-armv7.tar.gz").exists());

    assert!(build("rpi-armv7", &armhf, &out, &[]).status.success());
    let tarball = out.join("earsight-rpi-armv7.tar.gz");
    let first = fs::read(&tarball).unwrap();
    assert_failed(&build("rpi-armv7", &armhf, &out, &[]), &["--force"]);
    assert_eq!(fs::read(&tarball).unwrap(), first);
    assert!(build("rpi-armv7", &armhf, &out, &["--force"])
        .status
        .success());
}
