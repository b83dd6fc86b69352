//! The `earsight` command as a user runs it, on the seeded test bundle (its captions are
//! random words: these tests check the plumbing, not the descriptions).

use std::process::Output;

mod common;
use common::{
    assert_contains, assert_failed, bundle, earsight_command, repo, stderr, stdout, write_wav, Pcm,
};

fn earsight(args: &[&str]) -> Output {
    earsight_command()
        .args(args)
        .env("EARSIGHT_MODEL", bundle())
        .output()
        .unwrap()
}

fn tone(rate: u32, seconds: f32) -> impl Iterator<Item = f32> {
    (0..(rate as f32 * seconds) as usize).map(move |i| {
        let t = i as f32 / rate as f32;
        0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            + 0.2 * (2.0 * std::f32::consts::PI * 1250.0 * t).sin()
    })
}

#[test]
fn captions_every_fixture_recording_as_json_and_warns_about_random_weights() {
    let files: Vec<String> = [
        "dog_bark.ogg",
        "rain.ogg",
        "rooster.mp3",
        "factory_whistle.wav",
    ]
    .iter()
    .map(|f| {
        repo()
            .join("tests/fixtures/audio")
            .join(f)
            .display()
            .to_string()
    })
    .collect();
    let mut args = vec!["caption", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = earsight(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_contains(&stderr(&out), &["untrained bundle"]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one caption per short file");
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.as_str());
        assert_eq!(line["start"], 0.0);
        assert!(line["end"].as_f64().unwrap() > 2.0);
        assert!(!line["caption"].as_str().unwrap().is_empty());
        assert!(line["score"].as_f64().unwrap() < 0.0);
        for stage in ["frontend", "encoder", "decoder", "total"] {
            assert!(line["timings_ms"][stage].as_f64().unwrap() >= 0.0);
        }
    }
}

#[test]
fn stereo_at_44k1_is_downmixed_and_resampled_like_mono() {
    let dir = tempfile::tempdir().unwrap();
    let mono = dir.path().join("mono.wav");
    let stereo = dir.path().join("stereo.wav");
    write_wav(&mono, 44_100, 1, Pcm::I16, tone(44_100, 3.0));
    write_wav(
        &stereo,
        44_100,
        2,
        Pcm::I16,
        tone(44_100, 3.0).flat_map(|s| [s, s]),
    );
    let a = earsight(&["caption", mono.to_str().unwrap()]);
    let b = earsight(&["caption", stereo.to_str().unwrap()]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn a_long_clip_is_captioned_window_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    write_wav(&path, 16_000, 1, Pcm::I16, tone(16_000, 25.0));
    let out = earsight(&["caption", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans: Vec<(f64, f64)> = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["start"].as_f64().unwrap(), v["end"].as_f64().unwrap())
        })
        .collect();
    // 10.24 s windows: [0, 10.255), [10.24, 20.495), then the 4.5 s tail.
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert_eq!(spans[0].0, 0.0);
    assert!((spans[1].0 - 10.24).abs() < 1e-9 && (spans[2].0 - 20.48).abs() < 1e-9);
    assert!((spans[2].1 - 25.0).abs() < 1e-9);
}

#[test]
fn an_hour_long_file_is_processed_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hour.wav");
    // 8 kHz so that resampling runs too; decoded at 16 kHz in f32 the hour would be 230 MB.
    write_wav(
        &path,
        8_000,
        1,
        Pcm::I16,
        (0..8_000 * 3600).map(|i| if (i / 4000) % 2 == 0 { 0.2 } else { -0.1 }),
    );
    let out = earsight(&["caption", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        352,
        "3600 s in 10.24 s windows"
    );
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    println!("peak RSS of the largest child so far: {peak_mb:.1} MB");
    // Under emulation the child is qemu, whose own memory (the translated code of a bigger
    // binary) counts too; either bound is far below the 230 MB of the decoded hour.
    let bound = match std::env::var_os("EARSIGHT_EXE_RUNNER") {
        Some(_) => 160.0,
        None => 120.0,
    };
    assert!(peak_mb < bound, "peak RSS {peak_mb:.1} MB");
}

#[test]
fn bad_audio_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.wav");
    write_wav(&empty, 16_000, 1, Pcm::I16, std::iter::empty());
    let text = dir.path().join("notes.wav");
    std::fs::write(
        &text,
        "this is not audio, whatever its name says\n".repeat(20),
    )
    .unwrap();
    // A real WAV container whose codec (MPEG layer 3, format tag 0x55) is not decoded.
    let mp3_in_wav = dir.path().join("mp3-in-wav.wav");
    let fmt: Vec<u8> = [0x55u16.to_le_bytes(), 1u16.to_le_bytes()]
        .concat()
        .into_iter()
        .chain(16_000u32.to_le_bytes())
        .chain(2_000u32.to_le_bytes())
        .chain(1u16.to_le_bytes())
        .chain(0u16.to_le_bytes())
        .collect();
    let mut riff = b"WAVEfmt ".to_vec();
    riff.extend((fmt.len() as u32).to_le_bytes());
    riff.extend(&fmt);
    riff.extend(b"data");
    riff.extend(64u32.to_le_bytes());
    riff.extend([0u8; 64]);
    let mut bytes = b"RIFF".to_vec();
    bytes.extend((riff.len() as u32).to_le_bytes());
    bytes.extend(riff);
    std::fs::write(&mp3_in_wav, bytes).unwrap();
    let missing = dir.path().join("missing.ogg");

    let cases = [
        (&empty, "contains no audio samples"),
        (&text, "not a recognised audio file"),
        (&mp3_in_wav, "unsupported codec"),
        (&missing, "No such file"),
        (&dir.path().to_path_buf(), "is a directory"),
    ];
    for (path, expected) in cases {
        let out = earsight(&["caption", path.to_str().unwrap()]);
        assert_failed(&out, &[path.to_str().unwrap(), expected]);
    }
    // One bad file does not stop the others.
    let good = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let out = earsight(&["caption", text.to_str().unwrap(), good.to_str().unwrap()]);
    assert_failed(&out, &["1 of 2 files could not be captioned"]);
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn beam_search_is_deterministic_and_may_differ_from_greedy() {
    let clip = repo().join("tests/fixtures/audio/rain.ogg");
    let clip = clip.to_str().unwrap();
    let beam = earsight(&["caption", "--beam", "4", clip]);
    let again = earsight(&["caption", "--beam", "4", clip]);
    assert!(beam.status.success(), "{}", stderr(&beam));
    assert_eq!(stdout(&beam), stdout(&again));
    assert!(!stdout(&beam).trim().is_empty());
    let zero = earsight(&["caption", "--beam", "0", clip]);
    assert_failed(&zero, &["--beam 0: expected 1 (greedy) to 32"]);
}

#[test]
fn a_tag_veto_keeps_every_tag_but_the_best_out_of_the_caption() {
    let dog = repo().join("models/samples/dog.ogg");
    let dog = dog.to_str().unwrap();
    let mini = repo().join("models/mini");
    let mini = mini.to_str().unwrap();
    let caption = |veto: &str| {
        let out = earsight(&[
            "caption",
            "--json",
            "--model",
            mini,
            "--tag-veto",
            veto,
            dog,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(stdout(&out).trim()).unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("models/mini/manifest.json")).unwrap(),
    )
    .unwrap();
    let said = |line: &serde_json::Value| -> Vec<String> {
        line["caption"]
            .as_str()
            .unwrap()
            .split(|c: char| !c.is_alphanumeric())
            .map(String::from)
            .collect()
    };
    // The words the free caption says of tags other than the dog sample's best (reported) one.
    let free = caption("0");
    let best = free["tags"][0]["label"].as_str().unwrap().to_string();
    let others: Vec<String> = manifest["tagger"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"] != best.as_str())
        .flat_map(|t| t["words"].as_array().cloned().unwrap_or_default())
        .map(|w| w.as_str().unwrap().to_string())
        .filter(|w| said(&free).contains(w))
        .collect();
    assert!(
        !others.is_empty(),
        "{free}: names only its best tag already"
    );
    // At 1, none of them is said.
    let only_best = caption("1");
    for word in &others {
        assert!(
            !said(&only_best).contains(word),
            "{only_best} says {word:?}"
        );
    }
    // Out of range, or on a bundle without tag words, it is refused by name.
    assert_failed(
        &earsight(&["caption", "--model", mini, "--tag-veto", "1.5", dog]),
        &["--tag-veto 1.5: expected 0 to 1"],
    );
    assert_failed(
        &earsight(&["caption", "--tag-veto", "0.5", dog]),
        &["--tag-veto 0.5: the bundle has no tags with caption words to veto"],
    );
}

#[test]
fn more_threads_give_the_same_captions() {
    let clip = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let clip = clip.to_str().unwrap();
    let one = earsight(&["caption", clip]);
    let two = earsight(&["caption", "--threads", "2", clip]);
    assert!(two.status.success(), "{}", stderr(&two));
    assert_eq!(stdout(&one), stdout(&two));
    let zero = earsight(&["caption", "--threads", "0", clip]);
    assert_failed(&zero, &["--threads 0: expected 1 to 64"]);
}

/// `--backend cuda` captions as the CPU does where tract's CUDA runtime can run (a build with
/// the `cuda` feature on a machine with NVIDIA's libraries), and elsewhere says why it cannot
/// and captions nothing.
#[test]
fn the_cuda_backend_captions_as_the_cpu_does_or_says_why_it_cannot() {
    let clip = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let clip = clip.to_str().unwrap();
    let cpu = earsight(&["caption", "--backend", "cpu", clip]);
    assert!(cpu.status.success(), "{}", stderr(&cpu));
    let cuda = earsight(&["caption", "--backend", "cuda", clip]);
    if cfg!(feature = "cuda") && cuda.status.success() {
        assert_eq!(stdout(&cuda), stdout(&cpu));
        return;
    }
    assert_failed(&cuda, &["the cuda backend is not available here: "]);
    assert_eq!(stdout(&cuda), "");
    if !cfg!(feature = "cuda") {
        assert_contains(&stderr(&cuda), &["built without CUDA", "--features cuda"]);
    }
    let gpu = earsight(&["caption", "--backend", "gpu", clip]);
    assert_failed(
        &gpu,
        &["invalid value 'gpu' for '--backend <BACKEND>'", "cpu, cuda"],
    );
}

#[test]
fn info_describes_the_bundle() {
    let out = earsight(&["info", bundle().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = [
        "NO (random weights",
        "vocab 4000",
        "f32",
        "encoder.onnx",
        "256 audio tokens + 2 prefix",
        "tagger      none",
    ];
    assert_contains(&stdout(&out), &expected);
    // The shipped bundle tags: its tags with thresholds are listed, and so is its graph.
    let shipped = repo().join("models/mini");
    let out = earsight(&["info", shipped.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = ["tags, ", "with thresholds", "reported    ", "tagger.onnx"];
    assert_contains(&stdout(&out), &expected);
}

#[test]
fn bench_reports_every_stage_as_json() {
    let out = earsight(&["bench", "--runs", "2", "--tokens", "5", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    for key in [
        "load_ms",
        "frontend_ms",
        "encoder_ms",
        "decoder_token_ms",
        "real_time_factor",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert_eq!(v["tokens"], 5);
    assert!(
        v["tagger_ms"].is_null(),
        "the test bundle has no tagger: {v}"
    );
}

#[test]
fn a_model_variable_that_holds_no_bundle_is_named() {
    let out = earsight_command()
        .args(["caption", "x.wav"])
        .env("EARSIGHT_MODEL", "/nonexistent/earsight-model")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_failed(
        &out,
        &["EARSIGHT_MODEL is /nonexistent/earsight-model", "no bundle"],
    );
}

#[test]
fn the_shipped_model_is_found_without_being_named() {
    let sample = repo().join("models/samples/dog.ogg");
    let out = earsight_command()
        .args(["caption", "--json"])
        .arg(&sample)
        .env_remove("EARSIGHT_MODEL")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(!line["caption"].as_str().unwrap().is_empty(), "{line}");
    assert!(!stderr(&out).contains("untrained"), "{}", stderr(&out));
}

#[test]
fn flag_values_out_of_range_are_refused_naming_the_flag_the_value_and_the_range() {
    let clip = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let clip = clip.to_str().unwrap();
    let cases: [(&[&str], &str); 11] = [
        (
            &["caption", "--beam", "1000000"],
            "--beam 1000000: expected 1 (greedy) to 32",
        ),
        (
            &["caption", "--threads", "1000"],
            "--threads 1000: expected 1 to 64",
        ),
        (
            &["caption", "--gate-db", "NaN"],
            "--gate-db NaN: expected a level from -200 to 0",
        ),
        (
            &["caption", "--gate-db", "inf"],
            "--gate-db inf: expected a level from -200 to 0",
        ),
        (
            &["caption", "--gate-active", "1e9"],
            "--gate-active 1000000000 s: expected from 0 s",
        ),
        (
            &["caption", "--gate-active", "-5"],
            "--gate-active -5 s: expected from 0 s",
        ),
        (
            &["listen", "--window", "-1", "--input"],
            "--window -1 s: expected from 1 s",
        ),
        (
            &["listen", "--window", "0.001", "--input"],
            "--window 0.001 s: expected from 1 s",
        ),
        (
            &["listen", "--hop", "-1", "--input"],
            "--hop -1 s: expected a step above 0",
        ),
        (
            &["listen", "--stall", "-1", "--input"],
            "--stall -1 s: expected above 0 and at most 86400 s (a day), or 0 for never",
        ),
        (
            &["listen", "--heartbeat", "1e9", "--input"],
            "--heartbeat 1000000000 s: expected above 0",
        ),
    ];
    for (args, expected) in cases {
        let mut args = args.to_vec();
        args.push(clip);
        let out = earsight(&args);
        assert_failed(&out, &[expected]);
        assert!(stdout(&out).is_empty(), "{args:?} captioned");
    }
    for (raw, expected) in [
        (
            ["--rate", "1", "--channels", "1"],
            "--rate 1: expected 8000 to 384000 Hz",
        ),
        (
            ["--rate", "16000", "--channels", "1000"],
            "--channels 1000: expected 1 to 32",
        ),
    ] {
        let mut args = vec!["listen", "--input", "-"];
        args.extend(raw);
        assert_failed(&earsight(&args), &[expected]);
    }
}

#[test]
fn damaged_files_are_refused_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let clip = |rate: u32, seconds: f32| tone(rate, seconds).collect::<Vec<f32>>();
    // A WAV whose header says 1 Hz, and ones damaged below: each names itself and what is wrong,
    // and the next file is captioned. Float WAVs with a burst of NaN (at 44.1 kHz) or only
    // infinite samples are heard as silence where they are not finite, counted and named.
    let nan = dir.path().join("nan.wav");
    let mut samples = clip(44_100, 3.0);
    samples[1000..1100].fill(f32::NAN);
    write_wav(&nan, 44_100, 1, Pcm::F32, samples);
    let inf = dir.path().join("inf.wav");
    write_wav(&inf, 16_000, 1, Pcm::F32, vec![f32::INFINITY; 16_000]);
    let one_hz = dir.path().join("one-hz.wav");
    write_wav(&one_hz, 1, 1, Pcm::I16, clip(1, 200.0));
    // WAV files with one damaged field: no channels, 7-bit samples, and a data chunk whose size
    // hides nearly all of the audio after it.
    let sound = dir.path().join("sound.wav");
    write_wav(&sound, 16_000, 1, Pcm::I16, clip(16_000, 2.0));
    let sound = std::fs::read(&sound).unwrap();
    let data = sound.windows(4).position(|w| w == b"data").unwrap();
    let damaged = |name: &str, at: usize, bytes: &[u8]| {
        let mut copy = sound.clone();
        copy[at..at + bytes.len()].copy_from_slice(bytes);
        let path = dir.path().join(name);
        std::fs::write(&path, copy).unwrap();
        path
    };
    let no_channels = damaged("no-channels.wav", 22, &0u16.to_le_bytes());
    let seven_bits = damaged("seven-bits.wav", 34, &7u16.to_le_bytes());
    let lying = damaged("lying-size.wav", data + 4, &100u32.to_le_bytes());
    let good = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let cases = [
        (
            &no_channels,
            "the header says 0 channels, but earsight reads 1 to 32",
        ),
        (&seven_bits, "the header says 7 bits per sample"),
        (
            &lying,
            "the data chunk says it holds 100 bytes, but 64000 bytes follow its header",
        ),
        (
            &one_hz,
            "the header says 1 Hz, but earsight reads 8000 to 384000 Hz",
        ),
    ];
    for (path, expected) in cases {
        let out = earsight(&["caption", path.to_str().unwrap(), good.to_str().unwrap()]);
        let err = assert_failed(&out, &[path.to_str().unwrap(), expected]);
        assert_contains(&err, &["1 of 2 files could not be captioned"]);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            stdout(&out).lines().count(),
            1,
            "the good file is captioned"
        );
    }
    let out = earsight(&["caption", nan.to_str().unwrap(), inf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_contains(
        &stderr(&out),
        &[
            "nan.wav: 100 samples were not audio (NaN, infinite, or beyond [-16, 16]): heard as \
             silence",
            "inf.wav: 16000 samples were not audio",
            "inf.wav: silence",
        ],
    );
    assert_eq!(stdout(&out).lines().count(), 1, "the NaN file is captioned");
    // A recording cut short (a copy that stopped half way) is captioned as far as it goes.
    let whole = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.ogg");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = earsight(&["caption", "--json", cut.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn captions_stop_quietly_at_a_closed_pipe_and_loudly_at_a_full_disk() {
    let clip = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let clip = clip.to_str().unwrap();
    // A reader that went away before the first caption (`| head -0`); `| head -1` is the same
    // once its line is read.
    let mut child = earsight_command()
        .args(["caption", clip, clip, clip])
        .env("EARSIGHT_MODEL", bundle())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let full = std::fs::File::create("/dev/full").unwrap();
    let out = earsight_command()
        .args(["caption", clip])
        .env("EARSIGHT_MODEL", bundle())
        .stdout(full)
        .output()
        .unwrap();
    assert_failed(
        &out,
        &["cannot write captions to stdout", "No space left on device"],
    );
}

#[test]
fn captions_are_refused_to_a_closed_stdout_rather_than_lost() {
    // Under the boards' qemu runner the emulator itself holds the closed descriptor's place;
    // what this checks (Rust's runtime reopening a closed stdout) is the host's, tested here.
    if std::env::var_os("EARSIGHT_EXE_RUNNER").is_some() {
        eprintln!("skipped under emulation: the emulator takes the closed stdout's descriptor");
        return;
    }
    // `>&-` through a shell, as a user would write it; `>/dev/null` still drops them on purpose.
    let clip = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let run = |redirect: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" caption \"$1\" {redirect}"))
            .arg(env!("CARGO_BIN_EXE_earsight"))
            .arg(&clip)
            .env("EARSIGHT_MODEL", bundle())
            .output()
            .unwrap()
    };
    assert_failed(&run(">&-"), &["standard output is closed"]);
    let dropped = run(">/dev/null");
    assert!(dropped.status.success(), "{}", stderr(&dropped));
    // `/dev/null` opened read-write, as Python's `subprocess.DEVNULL` and systemd's
    // `StandardOutput=null` hand it over, is a choice to drop them too.
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    let dropped = earsight_command()
        .args(["caption", clip.to_str().unwrap()])
        .env("EARSIGHT_MODEL", bundle())
        .stdout(null)
        .output()
        .unwrap();
    assert!(dropped.status.success(), "{}", stderr(&dropped));
}

#[test]
fn errors_start_with_earsights_sentence_and_library_logs_stay_off() {
    let dir = tempfile::tempdir().unwrap();
    let noise = dir.path().join("noise.ogg");
    // Bytes that no reader recognises, which symphonia's probe logs about as it searches.
    let bytes: Vec<u8> = (0u32..100_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let out = earsight(&["caption", noise.to_str().unwrap()]);
    let err = assert_failed(&out, &["not a recognised audio file"]);
    // The test bundle's own warning (random weights), then earsight's sentences only.
    for line in err.lines() {
        assert!(
            line.starts_with("earsight: ") || line.starts_with("warning: "),
            "{err}"
        );
    }
    let asked = earsight_command()
        .args(["caption", noise.to_str().unwrap()])
        .env("EARSIGHT_MODEL", bundle())
        .env("RUST_LOG", "symphonia_core=info")
        .output()
        .unwrap();
    assert!(stderr(&asked).contains("symphonia"), "{}", stderr(&asked));
}

#[test]
fn an_empty_model_variable_counts_as_unset() {
    let out = earsight_command()
        .args(["caption", "tests/fixtures/audio/dog_bark.ogg"])
        .current_dir(repo())
        .env("EARSIGHT_MODEL", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());
    assert!(!stderr(&out).contains("untrained"), "{}", stderr(&out));
}
