//! Live captioning as a user sees it: `earsight listen` and the `stream` API, on the seeded test
//! bundle (its captions are random words: these tests check the pipeline, not descriptions).

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use earsight::caption::{CaptionError, WindowCaption};
use earsight::frontend::LogMel;
use earsight::stream::{
    self, Event, GateConfig, ListenConfig, Sink, Source, StreamError, Summary, WindowModel,
};
use earsight::Captioner;

mod common;
use common::{
    assert_contains, assert_failed, bundle, earsight_command, listen_on_a_pipe, repo, s16le,
    stderr, stdout, write_wav, Pcm,
};

const RATE: u32 = 16_000;

/// The fixture recordings one after another with a second of digital silence between them: a
/// scene longer than several windows, with quiet gaps.
fn scene() -> Vec<f32> {
    let mut out = Vec::new();
    for name in [
        "dog_bark.ogg",
        "rain.ogg",
        "rooster.mp3",
        "factory_whistle.wav",
    ] {
        let path = repo().join("tests/fixtures/audio").join(name);
        out.extend(earsight::audio::read_all(&path, RATE).unwrap());
        out.extend(std::iter::repeat_n(0.0, RATE as usize));
    }
    out
}

fn write_f32_wav(path: &Path, samples: &[f32]) {
    write_wav(path, RATE, 1, Pcm::F32, samples.iter().copied());
}

/// `earsight` with `args` and the bundle at `model`, its three streams piped.
fn spawn(model: &Path, args: &[&str]) -> std::process::Child {
    earsight_command()
        .args(args)
        .env("EARSIGHT_MODEL", model)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Samples handed over in uneven chunks, as fast as they are asked for.
struct Samples {
    samples: Vec<f32>,
    at: usize,
    state: u64,
    live: bool,
}

impl Samples {
    fn new(samples: Vec<f32>, live: bool) -> Samples {
        Samples {
            samples,
            at: 0,
            state: 0x5eed_1234_abcd_0001,
            live,
        }
    }
}

impl Source for Samples {
    fn rate(&self) -> u32 {
        RATE
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, StreamError> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let n = (self.state % 3000) as usize;
        let end = (self.at + n).min(self.samples.len());
        out.extend_from_slice(&self.samples[self.at..end]);
        self.at = end;
        Ok(self.at < self.samples.len())
    }
}

/// The real captioner, keeping what it was given and what it said.
struct Recording {
    inner: Captioner,
    mels: Vec<Vec<f32>>,
    texts: Vec<String>,
    delay: Duration,
}

impl WindowModel for Recording {
    fn caption_mel(&mut self, mel: &[f32]) -> Result<WindowCaption, CaptionError> {
        std::thread::sleep(self.delay);
        self.mels.push(mel.to_vec());
        let c = self.inner.caption_mel(mel)?;
        self.texts.push(c.text.clone());
        Ok(c)
    }
}

fn recording(delay: Duration) -> Recording {
    Recording {
        inner: Captioner::open(&bundle()).unwrap(),
        mels: Vec::new(),
        texts: Vec::new(),
        delay,
    }
}

#[derive(Default)]
struct Collect(Vec<Event>);

impl Sink for Collect {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.0.push(event.clone());
        Ok(())
    }
}

fn run(
    source: &mut dyn Source,
    model: &mut Recording,
    config: &ListenConfig,
) -> (Summary, Vec<Event>) {
    let frontend = model.inner.bundle().manifest().model.frontend.clone();
    let mut sink = Collect::default();
    let stop = AtomicBool::new(false);
    let summary = stream::listen(source, model, &frontend, config, &stop, &mut sink).unwrap();
    (summary, sink.0)
}

/// Consecutive identical captions merged into `(start, end, caption)`, as events are.
fn merged(windows: &[(f64, f64, String)]) -> Vec<(f64, f64, String)> {
    let mut out: Vec<(f64, f64, String)> = Vec::new();
    for (start, end, text) in windows {
        match out.last_mut() {
            Some(last) if last.2 == *text && *start <= last.1 => last.1 = *end,
            _ => out.push((*start, *end, text.clone())),
        }
    }
    out
}

fn finals(events: &[Event]) -> Vec<(f64, f64, String)> {
    events
        .iter()
        .filter(|e| e.is_final)
        .map(|e| (e.start, e.end, e.caption.clone()))
        .collect()
}

/// Windows of `window_s` every `hop_s` with the gate open, and the default tail and merging (a
/// tail of at least 1 s, identical captions merged).
fn open_gate(window_s: f64, hop_s: f64) -> ListenConfig {
    ListenConfig {
        window_s: Some(window_s),
        hop_s: Some(hop_s),
        gate: GateConfig::open(),
        ..ListenConfig::default()
    }
}

#[test]
fn streamed_windows_equal_offline_windows_bitwise_and_get_the_same_captions() {
    let samples = scene();
    let config = open_gate(4.0, 1.5);
    let mut model = recording(Duration::ZERO);
    let mut source = Samples::new(samples.clone(), false);
    let (summary, events) = run(&mut source, &mut model, &config);

    let f = model.inner.bundle().manifest().model.frontend.clone();
    let (window, hop) = (399 * f.hop_length + f.win_length, 150 * f.hop_length);
    let mut offline_model = Captioner::open(&bundle()).unwrap();
    let mut logmel = LogMel::new(&f);
    let mut offline = Vec::new();
    for (i, mel) in model.mels.iter().enumerate() {
        let start = i * hop;
        let end = (start + window).min(samples.len());
        let expected = logmel.window(&samples[start..end]);
        assert!(expected == *mel, "window {i}: streamed frames differ");
        let text = offline_model
            .caption_samples(&samples[start..end])
            .unwrap()
            .text;
        assert_eq!(text, model.texts[i], "window {i}");
        offline.push((start as f64 / 16e3, end as f64 / 16e3, text));
    }
    let full_windows = (samples.len() - window) / hop + 1;
    assert!(model.mels.len() == full_windows || model.mels.len() == full_windows + 1);
    assert_eq!(summary.windows as usize, model.mels.len());
    assert_eq!(summary.captioned as usize, model.mels.len());
    assert_eq!(finals(&events), merged(&offline));
    assert_eq!(summary.events as usize, finals(&events).len());
    // Every event was announced before it was finalised.
    let announced: Vec<&Event> = events.iter().filter(|e| !e.is_final).collect();
    assert_eq!(announced.len(), finals(&events).len());
}

#[test]
fn a_slow_model_on_a_live_source_skips_windows_with_bounded_queues() {
    let config = open_gate(2.0, 0.25);
    let mut model = recording(Duration::from_millis(40));
    let mut source = Samples::new(scene(), true);
    let (summary, _) = run(&mut source, &mut model, &config);
    assert!(summary.skipped_behind > 0, "{summary:?}");
    assert!(summary.captioned > 0, "{summary:?}");
    assert_eq!(
        summary.windows,
        summary.captioned + summary.skipped_behind + summary.gated,
        "{summary:?}"
    );
    assert!(summary.max_queued <= 1, "{summary:?}");
    assert!(summary.max_pending <= 6, "{summary:?}");
    assert_eq!(model.mels.len() as u64, summary.captioned);
}

fn earsight(args: &[&str], stdin: Option<&[u8]>) -> Output {
    earsight_with(&bundle(), args, stdin)
}

fn earsight_with(model: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = spawn(model, args);
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        // The process may stop reading early (a format error): a broken pipe is expected then.
        let _ = pipe.write_all(bytes);
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `--json` summary line: `summary`, and `alerts`.
fn json_summary_line(o: &Output) -> serde_json::Value {
    let line = stderr(o)
        .lines()
        .find(|l| l.starts_with("{\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {}", stderr(o)))
        .to_string();
    serde_json::from_str::<serde_json::Value>(&line).unwrap()
}

fn json_summary(o: &Output) -> serde_json::Value {
    json_summary_line(o)["summary"].clone()
}

fn span(v: &serde_json::Value) -> (f64, f64, String) {
    (
        v["start"].as_f64().unwrap(),
        v["end"].as_f64().unwrap(),
        v["caption"].as_str().unwrap().to_string(),
    )
}

#[test]
fn listen_on_a_file_or_stdin_gives_the_captions_of_offline_windows() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("scene.wav");
    let samples = scene();
    write_f32_wav(&wav, &samples);
    let wav = wav.to_str().unwrap();

    let offline = earsight(&["caption", "--json", wav], None);
    assert!(offline.status.success(), "{}", stderr(&offline));
    let offline: Vec<_> = json_lines(&offline).iter().map(span).collect();
    assert!(offline.len() >= 2, "the scene spans several windows");

    let whole = ["--window", "10.24", "--hop", "10.24", "--gate-db", "-200"];
    let mut args = vec!["listen", "--json", "--gate-active", "0", "--input", wav];
    args.extend(whole);
    let live = earsight(&args, None);
    assert!(live.status.success(), "{}", stderr(&live));
    let events = json_lines(&live);
    let got: Vec<_> = events
        .iter()
        .filter(|e| e["final"] == true)
        .map(span)
        .collect();
    assert_eq!(got, merged(&offline));
    let summary = json_summary(&live);
    assert_eq!(summary["windows"], offline.len());
    assert_eq!(summary["skipped_behind"], 0);
    assert!(summary["latency_ms_p95"].as_f64().unwrap() > 0.0);

    let bytes: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut args = vec!["listen", "--json", "--gate-active", "0", "--input", "-"];
    args.extend(["--rate", "16000", "--format", "f32le"]);
    args.extend(whole);
    let piped = earsight(&args, Some(&bytes));
    assert!(piped.status.success(), "{}", stderr(&piped));
    let piped: Vec<_> = json_lines(&piped).iter().map(span).collect();
    let from_file: Vec<_> = events.iter().map(span).collect();
    assert_eq!(
        piped, from_file,
        "stdin PCM and the file give the same events"
    );
}

#[test]
fn the_gate_keeps_silence_and_low_noise_quiet_but_not_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    write_f32_wav(&silence, &vec![0.0; 12 * RATE as usize]);
    let noise = quiet_noise(12);
    let quiet = dir.path().join("quiet.wav");
    write_f32_wav(&quiet, &noise);
    for path in [&silence, &quiet] {
        let out = earsight(
            &["listen", "--json", "--input", path.to_str().unwrap()],
            None,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "", "{} gave captions", path.display());
        let summary = json_summary(&out);
        assert!(summary["windows"].as_u64().unwrap() >= 1);
        assert_eq!(summary["gated"], summary["windows"], "{summary}");
        assert_eq!(summary["captioned"], 0);
    }
    let dog = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let out = earsight(
        &["listen", "--json", "--input", dog.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!json_lines(&out).is_empty(), "a dog bark passes the gate");
    assert_eq!(json_summary(&out)["gated"], 0);
}

/// White noise at about -70 dBFS: a quiet room through a decent microphone.
fn quiet_noise(seconds: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..seconds * RATE as usize)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.0011
        })
        .collect()
}

#[test]
fn with_the_shipped_bundle_every_event_carries_its_tags_and_quiet_windows_none() {
    let shipped = repo().join("models/mini");
    let tags: Vec<String> = earsight::Bundle::open(&shipped)
        .unwrap()
        .manifest()
        .tagger
        .as_ref()
        .expect("the shipped bundle has a tagger")
        .tags
        .iter()
        .filter(|t| t.threshold.is_some())
        .map(|t| t.label.clone())
        .collect();
    let dog = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let out = earsight_with(
        &shipped,
        &["listen", "--json", "--input", dog.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events = json_lines(&out);
    assert!(!events.is_empty());
    for e in &events {
        for t in e["tags"]
            .as_array()
            .unwrap_or_else(|| panic!("no tags in {e}"))
        {
            let label = t["label"].as_str().unwrap();
            assert!(
                tags.iter().any(|l| l == label),
                "{label} is not a reported tag"
            );
            assert!((0.0..=1.0).contains(&t["score"].as_f64().unwrap()), "{t}");
        }
    }
    assert!(json_summary(&out)["tagger_ms_mean"].as_f64().unwrap() > 0.0);
    // With the gate open, silence and -70 dBFS noise are captioned but tagged with nothing.
    let dir = tempfile::tempdir().unwrap();
    let (silence, quiet) = (dir.path().join("silence.wav"), dir.path().join("quiet.wav"));
    write_f32_wav(&silence, &vec![0.0; 12 * RATE as usize]);
    write_f32_wav(&quiet, &quiet_noise(12));
    for path in [&silence, &quiet] {
        let args = [
            "listen",
            "--json",
            "--gate-db",
            "-200",
            "--gate-active",
            "0",
        ];
        let mut args = args.to_vec();
        args.extend(["--input", path.to_str().unwrap()]);
        let out = earsight_with(&shipped, &args, None);
        assert!(out.status.success(), "{}", stderr(&out));
        let events = json_lines(&out);
        assert!(
            !events.is_empty(),
            "the open gate lets {} through",
            path.display()
        );
        for e in &events {
            assert_eq!(e["tags"], serde_json::json!([]), "{}: {e}", path.display());
        }
    }
}

#[test]
fn stdin_pcm_in_the_wrong_format_or_cut_short_is_reported() {
    let samples = &scene()[..3 * RATE as usize];
    let s16 = s16le(samples);
    let f32le: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut cut = s16.clone();
    cut.push(0x7f);
    for (format, bytes, wanted) in [
        ("f32le", &s16, "is the stream s16le?"),
        ("s16le", &f32le, "is the stream f32le?"),
        (
            "s16le",
            &cut,
            "stdin: the stream ends in the middle of a frame: 1 trailing bytes",
        ),
        ("s24le", &s16, "expected s16le or f32le"),
    ] {
        let args = [
            "listen", "--input", "-", "--rate", "16000", "--format", format,
        ];
        assert_failed(&earsight(&args, Some(bytes)), &[wanted]);
    }
    let out = earsight(&["listen", "--input", "-"], Some(&s16));
    assert_failed(&out, &["--rate"]);
}

#[test]
fn stdin_pcm_at_another_rate_is_resampled_and_captioned() {
    let tone: Vec<u8> = (0..8_000 * 4)
        .map(|i| (0.3 * (i as f32 * 0.2).sin() * 32767.0) as i16)
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let out = earsight(
        &["listen", "--json", "--input", "-", "--rate", "8000"],
        Some(&tone),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = json_summary(&out);
    assert!((summary["audio_s"].as_f64().unwrap() - 4.0).abs() < 1e-3);
    assert_eq!(summary["captioned"], 1);
}

#[cfg(feature = "mic")]
#[test]
fn a_device_that_does_not_exist_gets_the_list_of_those_that_do() {
    let out = earsight(&["listen", "--device", "no-such-microphone-42"], None);
    assert_failed(
        &out,
        &["no input device \"no-such-microphone-42\"; available input devices:"],
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("scene.wav");
    write_f32_wav(&wav, &scene());
    let mut child = earsight_command()
        .args(["listen", "--realtime", "--window", "1", "--hop", "0.5"])
        .args(["--input", wav.to_str().unwrap()])
        .env("EARSIGHT_MODEL", bundle())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first caption means the pipeline (and its Ctrl-C handler) is running.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(!first.is_empty(), "no caption before the end of the input");
    // Twice at once, as `timeout -s INT` delivers it (to the child, then to its group): that is
    // still one Ctrl-C, which must not lose the summary.
    for _ in 0..2 {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    }
    let out = child.wait_with_output().unwrap();
    // The status says how it ended (a signal, or exit 130 on a second Ctrl-C).
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_contains(
        &stderr(&out),
        &["earsight listen: stopped after", "latency"],
    );
}

#[cfg(unix)]
#[test]
fn stdin_left_open_gets_its_window_captioned_a_sign_that_audio_stopped_and_sigterm_a_summary() {
    let s16 = s16le(&scene()[..12 * RATE as usize]);
    let args = ["--stall", "1", "--heartbeat", "1", "--gate-db", "-200"];
    let mut child = listen_on_a_pipe(&bundle(), &args, Stdio::piped());
    // 12 s, and then the writer stays: stdin is neither written to nor closed again.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&s16).unwrap();
    stdin.flush().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let (mut caption, mut stopped, mut beat) = (false, false, false);
    while !(caption && stopped && beat) {
        // Heartbeats keep lines coming; a pipeline that held the window back never captions.
        let line = lines.next().expect("listen ended early").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        caption |= v["caption"].is_string() && v["start"] == 0.0;
        stopped |= v["status"] == "no-audio" && v["at_s"] == 12.0;
        beat |= v["status"] == "heartbeat" && v["audio_s"] == 12.0 && v["captioned"] == 1;
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    let summary = json_summary(&out);
    assert_eq!(summary["stopped"], true);
    assert_eq!(summary["stalls"], 1);
    assert_contains(&stderr(&out), &["no audio has arrived for"]);
    drop(stdin);
}

#[cfg(unix)]
#[test]
fn a_bundle_removed_while_listen_runs_is_not_missed() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bundle");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(bundle()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    let s16 = s16le(&scene()[..12 * RATE as usize]);
    let mut child = listen_on_a_pipe(
        &model,
        &["--window", "2", "--hop", "2", "--gate-db", "-200"],
        Stdio::piped(),
    );
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let (first, rest) = s16.split_at(s16.len() / 2);
    stdin.write_all(first).unwrap();
    stdin.flush().unwrap();
    let caption = |lines: &mut dyn Iterator<Item = std::io::Result<String>>| loop {
        let line = lines.next().expect("listen ended early").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["caption"].is_string() {
            break v["start"].as_f64().unwrap();
        }
    };
    assert_eq!(caption(&mut lines), 0.0);
    // An update replaces the bundle under the running service: what was loaded keeps working.
    std::fs::remove_dir_all(&model).unwrap();
    stdin.write_all(rest).unwrap();
    drop(stdin);
    let mut last = 0.0;
    while let Some(Ok(line)) = lines.next() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        last = v["start"].as_f64().unwrap_or(last);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        last >= 6.0,
        "captions went on after the bundle went: last at {last} s"
    );
}

#[test]
fn non_finite_samples_on_stdin_are_heard_as_silence_and_counted() {
    let mut samples = scene()[..4 * RATE as usize].to_vec();
    samples[1_000..1_160].fill(f32::NAN);
    samples[20_000..20_040].fill(f32::NEG_INFINITY);
    let bytes: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let args = [
        "listen", "--json", "--input", "-", "--rate", "16000", "--format", "f32le",
    ];
    let out = earsight(&args, Some(&bytes));
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = json_summary(&out);
    assert_eq!(summary["refused_samples"], 200);
    assert_eq!(summary["captioned"], 1);
}

#[cfg(not(feature = "mic"))]
#[test]
fn a_build_without_the_mic_feature_says_how_to_get_one() {
    for args in [&["listen"][..], &["devices"][..]] {
        let out = earsight(args, None);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("built without microphone support")
                && err.contains("cargo install --path . --features mic")
                && err.contains("libasound2-dev"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn alerts_mark_the_event_that_starts_a_sound_and_run_the_program_without_holding_up_listen() {
    let shipped = repo().join("models/mini");
    // The sample the shipped bundle tags "dog barking" (models/samples/README.md).
    let dog = repo().join("models/samples/dog.ogg");
    let dog = dog.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let heard = dir.path().join("alert.json");
    let tee = format!("tee {}", heard.display());
    let alerting = |alert: &str, more: &[&str]| {
        let args = [
            &["listen", "--json", "--input", dog, "--alert", alert][..],
            more,
        ]
        .concat();
        earsight_with(&shipped, &args, None)
    };
    let out = alerting("Dog_Barking", &["--on-alert", &tee]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = json_lines(&out);
    let alerts: Vec<_> = events.iter().filter(|e| e["alert"] == true).collect();
    assert_eq!(alerts.len(), 1, "one sound, one alert: {events:?}");
    assert_eq!(alerts[0]["alerts"], serde_json::json!(["dog barking"]));
    let given: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&heard).unwrap()).unwrap();
    assert_eq!(&given, alerts[0], "the program gets the event on its stdin");
    let line = json_summary_line(&out);
    assert_eq!(line["alerts"]["marked"], 1);
    assert_eq!(line["alerts"]["command"]["ran"], 1);

    // A program that hangs is killed at its time limit; one that fails is counted.
    for (program, counted) in [("sleep 60", "timed_out"), ("false", "failed")] {
        let started = std::time::Instant::now();
        let out = alerting(
            "dog barking",
            &["--on-alert", program, "--on-alert-timeout", "0.5"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        // Well under the program's 60 s, even emulated on a board's CPU.
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{program} held listen up"
        );
        let line = json_summary_line(&out);
        assert_eq!(line["alerts"]["command"][counted], 1, "{program}: {line}");
    }

    let out = earsight_with(
        &shipped,
        &["listen", "--input", dog, "--alert", "doorbel"],
        None,
    );
    assert_failed(
        &out,
        &["--alert doorbel: this bundle has no tag \"doorbel\"; the tags it reports:"],
    );
}
