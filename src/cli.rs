use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;

use std::sync::atomic::{AtomicBool, Ordering};

use earsight::audio::pcm::PcmFormat;
use earsight::bundle::{Bundle, MAX_BEAM_WIDTH, MODEL_CARD_FILE};
use earsight::stream::{
    self, with_tags, AlertCommand, AlertConfig, Alerter, Alerting, Fanout, FileSource, GateConfig,
    JsonLines, ListenConfig, PcmSource, Sink, Source, Summary, TextLines, VitalsConfig,
};
use earsight::Captioner;

#[derive(Parser)]
#[command(
    name = "earsight",
    version,
    about = "Describe the sounds around you in plain words"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Caption audio files (WAV, FLAC, Ogg/Vorbis, MP3), one caption per model window.
    Caption {
        /// Model bundle directory (default: the installed default bundle).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print one JSON object per caption.
        #[arg(long)]
        json: bool,
        /// Beam width (1 = greedy); default from the bundle.
        #[arg(long)]
        beam: Option<usize>,
        #[command(flatten)]
        gate: GateArgs,
        /// Threads for tract's matrix products (a board profile's `threads`).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Caption live audio (the microphone, a file, or raw PCM on stdin) until it ends or
    /// Ctrl-C; prints a summary on stderr.
    Listen(Box<ListenArgs>),
    /// List the audio input devices `listen --device` can use.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Describe a model bundle: manifest, file sizes, parameters, quantization.
    Info { dir: PathBuf },
    /// Time the frontend, encoder and decoder of a bundle on a synthetic 10 s clip.
    Bench {
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads for tract's matrix products.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Decoder steps per caption.
        #[arg(long, default_value_t = 20)]
        tokens: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ListenArgs {
    /// Model bundle directory (default: the installed default bundle).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Input device, by index, name or a unique part of its name (see `earsight devices`);
    /// default: the system's default input.
    #[arg(long, conflicts_with = "input")]
    device: Option<String>,
    /// Read this audio file instead of the microphone, or `-` for raw PCM on stdin.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Raw PCM on stdin: samples per second.
    #[arg(long)]
    rate: Option<u32>,
    /// Raw PCM on stdin: s16le or f32le.
    #[arg(long)]
    format: Option<PcmFormat>,
    /// Raw PCM on stdin: interleaved channels (downmixed to mono).
    #[arg(long)]
    channels: Option<usize>,
    /// Treat the input as live: a file plays at real-time pace, stdin is a capture stream.
    /// Windows are skipped when processing falls behind, instead of waited for.
    #[arg(long)]
    realtime: bool,
    /// Window length in seconds (default: the model's window).
    #[arg(long, allow_negative_numbers = true)]
    window: Option<f64>,
    /// Seconds between window starts (default: 2, or the window if shorter).
    #[arg(long, allow_negative_numbers = true)]
    hop: Option<f64>,
    /// Print one JSON object per event, and the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gate: GateArgs,
    /// Beam width (1 = greedy); default from the bundle.
    #[arg(long)]
    beam: Option<usize>,
    /// Threads for tract's matrix products (a board profile's `threads`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Say so (a status line and a log warning) when no audio has arrived for this many
    /// seconds, and again when it comes back; 0: never.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    stall: f64,
    /// Seconds between heartbeats (with --json, a status line with the counters); 0: none.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    heartbeat: f64,
    /// Sounds to be alerted to, comma-separated: tags of the bundle (`earsight info` lists
    /// them; `smoke_or_fire_alarm` or "smoke or fire alarm"), or caption words for a bundle
    /// without tags. An event that starts one is marked `"alert": true`.
    #[arg(long, value_delimiter = ',')]
    alert: Vec<String>,
    /// Seconds a sound must be gone before it alerts again.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    alert_cooldown: f64,
    /// A program to run for each alert, with the event's JSON on its stdin: the program and its
    /// arguments split at spaces, run without a shell.
    #[arg(long, requires = "alert")]
    on_alert: Option<String>,
    /// Seconds one run of the --on-alert program may take before it is killed.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    on_alert_timeout: f64,
    /// Publish events, alerts and Home Assistant discovery to this broker: mqtt://HOST[:PORT]
    /// (a build with the `mqtt` feature).
    #[arg(long)]
    mqtt: Option<String>,
    /// The device's name in MQTT topics and in Home Assistant (default: the host name).
    #[arg(long, requires = "mqtt")]
    mqtt_name: Option<String>,
    /// A file holding the broker's user name and password, one per line (default: the
    /// environment's EARSIGHT_MQTT_USERNAME and EARSIGHT_MQTT_PASSWORD, if set).
    #[arg(long, requires = "mqtt")]
    mqtt_credentials: Option<PathBuf>,
}

/// When a window is silence, which gets no caption.
#[derive(clap::Args)]
struct GateArgs {
    /// Frames quieter than this (dB relative to full scale) count as silence.
    #[arg(long, default_value_t = GateConfig::default().threshold_db, allow_negative_numbers = true)]
    gate_db: f32,
    /// Seconds of frames above --gate-db a window needs to be captioned.
    #[arg(long, default_value_t = GateConfig::default().min_active_s, allow_negative_numbers = true)]
    gate_active: f64,
}

impl From<&GateArgs> for GateConfig {
    fn from(args: &GateArgs) -> GateConfig {
        GateConfig {
            threshold_db: args.gate_db,
            min_active_s: args.gate_active,
        }
    }
}

pub fn run() -> Result<()> {
    let command = Cli::parse().command;
    if matches!(command, Command::Caption { .. } | Command::Listen(_)) && stdout_was_closed() {
        bail!(
            "standard output is closed (`>&-`), so every caption would be lost: send it to a \
             file, a pipe, or /dev/null to drop the captions on purpose"
        );
    }
    match command {
        Command::Caption {
            model,
            json,
            beam,
            gate,
            threads,
            files,
        } => {
            use_threads(threads)?;
            caption(&model_dir(model)?, json, beam, (&gate).into(), &files)
        }
        Command::Listen(args) => {
            use_threads(args.threads)?;
            listen(*args)
        }
        Command::Devices { json } => devices(json),
        Command::Info { dir } => info(&dir),
        Command::Bench {
            model,
            threads,
            tokens,
            runs,
            json,
        } => {
            use_threads(threads)?;
            bench(&model_dir(model)?, threads, tokens, runs, json)
        }
    }
}

/// Whether earsight started with its standard output closed. Rust's runtime opens `/dev/null`
/// read-write in place of a closed standard stream before `main`, so writes succeed and vanish;
/// a shell's `>/dev/null` opens it write-only. Linux tells the two apart through `/proc`; other
/// systems answer no.
fn stdout_was_closed() -> bool {
    let is_null = std::fs::read_link("/proc/self/fd/1").is_ok_and(|p| p == Path::new("/dev/null"));
    let read_write = std::fs::read_to_string("/proc/self/fdinfo/1").is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & 0o3 == 0o2)
    });
    is_null && read_write
}

/// Makes tract's matrix products use `threads` threads, in every thread of the process: `listen`
/// runs the model on a worker thread of its own.
fn use_threads(threads: usize) -> Result<()> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if !(1..=MAX_THREADS).contains(&threads) {
        bail!("--threads {threads}: expected 1 to {MAX_THREADS}");
    }
    if threads > 1 {
        set_default_executor(Executor::multithread(threads));
    }
    Ok(())
}

/// The most threads `--threads` gives tract: more than any board has cores, where each thread
/// past the cores only adds start-up time and memory.
const MAX_THREADS: usize = 64;

/// Where the default bundle is looked for, in order: beside the binary as a board tarball or
/// `make install` lays it out, then in the source tree it was built from (a checkout, or
/// cargo's copy of the package after `cargo install`).
fn default_model_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            dirs.push(bin.join("../share/earsight/models/mini"));
        }
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mini"));
    dirs
}

fn model_dir(model: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = model {
        return Ok(dir);
    }
    // An empty variable is an unset one, as the shell's `EARSIGHT_MODEL= earsight ...` means.
    if let Some(dir) = std::env::var_os("EARSIGHT_MODEL").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("manifest.json").is_file() {
            bail!(
                "EARSIGHT_MODEL is {}, which holds no bundle (no manifest.json); unset it to use \
                 the default model",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let candidates = default_model_candidates();
    if let Some(found) = candidates
        .iter()
        .find(|d| d.join("manifest.json").is_file())
    {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "no default model is installed (looked in: {}).\n\
         Pass --model DIR, set EARSIGHT_MODEL, or train the default model from real recordings \
         with\n  \
         cargo run --release -p earsight-tools -- recipe mini --data DIR --out models/mini",
        looked.join(", ")
    )
}

fn open_captioner(dir: &Path) -> Result<Captioner> {
    let captioner =
        Captioner::open(dir).with_context(|| format!("loading bundle {}", dir.display()))?;
    if !captioner.bundle().manifest().trained {
        eprintln!(
            "warning: {} is an untrained bundle (random weights); captions are not descriptions",
            dir.display()
        );
    }
    Ok(captioner)
}

/// Overrides the bundle's beam width with `--beam`, within what earsight searches.
fn set_beam(captioner: &mut Captioner, beam: Option<usize>) -> Result<()> {
    if let Some(width) = beam {
        if !(1..=MAX_BEAM_WIDTH).contains(&width) {
            bail!("--beam {width}: expected 1 (greedy) to {MAX_BEAM_WIDTH}");
        }
        captioner.decoding.beam_width = width;
    }
    Ok(())
}

fn caption(
    dir: &Path,
    json: bool,
    beam: Option<usize>,
    gate: GateConfig,
    files: &[PathBuf],
) -> Result<()> {
    let mut captioner = open_captioner(dir)?;
    set_beam(&mut captioner, beam)?;
    let frontend = &captioner.bundle().manifest().model.frontend;
    let window_s =
        frontend.clip_frames as f64 * frontend.hop_length as f64 / frontend.sample_rate as f64;
    gate.check(window_s).map_err(anyhow::Error::msg)?;
    let mut failures = 0;
    let mut out = std::io::stdout().lock();
    for file in files {
        // The first failed write ends the batch: a closed pipe quietly (whoever read the
        // captions has what it wanted), anything else (a full disk) as an error.
        let mut written = Ok(());
        let result = stream::caption_file(&mut captioner, file, &gate, |c| {
            if written.is_err() {
                return;
            }
            written = if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&c).expect("captions serialise")
                )
            } else if files.len() > 1 || c.start > 0.0 {
                writeln!(
                    out,
                    "{} [{:.2}-{:.2}s] {}",
                    c.file.display(),
                    c.start,
                    c.end,
                    with_tags(&c.caption, &c.tags)
                )
            } else {
                writeln!(out, "{}", with_tags(&c.caption, &c.tags))
            };
        });
        match written.and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => bail!("cannot write captions to stdout: {e}"),
            Ok(()) => {}
        }
        match result {
            Ok(captioned) => {
                if captioned.refused_samples > 0 {
                    eprintln!(
                        "earsight: {}: {} samples were not audio (NaN, infinite, or beyond \
                         [-16, 16]): heard as silence; the file is damaged",
                        file.display(),
                        captioned.refused_samples
                    );
                }
                if captioned.captions == 0 {
                    eprintln!(
                        "{}: silence (no {} s above {} dBFS in any window), no caption",
                        file.display(),
                        gate.min_active_s,
                        gate.threshold_db
                    );
                }
            }
            Err(e) => {
                eprintln!("earsight: {e}");
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} files could not be captioned", files.len());
    }
    Ok(())
}

/// Set by Ctrl-C, SIGTERM (systemd stopping the service) or SIGHUP; `listen` checks it between
/// chunks and stops with a summary.
static STOP: AtomicBool = AtomicBool::new(false);

/// A second Ctrl-C sooner than this after the first is taken for the same one delivered twice:
/// `timeout -s INT` (GNU coreutils) signals its child and then the child's whole process group,
/// so a `listen` run under it receives SIGINT twice within microseconds, and quitting on the
/// second would lose the summary the user asked for.
const REPEAT_WINDOW: Duration = Duration::from_millis(500);

/// What a Ctrl-C asks of `listen`.
#[derive(Debug, PartialEq)]
enum Interrupt {
    /// The first: finish the window in hand, print the summary, exit 0.
    Stop,
    /// The first one again (see [`REPEAT_WINDOW`]).
    Repeat,
    /// A second, later one: the user does not want to wait (for a blocked stdin, say).
    Quit,
}

#[derive(Default)]
struct Interrupts {
    first: Option<Instant>,
}

impl Interrupts {
    fn receive(&mut self, now: Instant) -> Interrupt {
        match self.first {
            None => {
                self.first = Some(now);
                Interrupt::Stop
            }
            Some(first) if now.duration_since(first) < REPEAT_WINDOW => Interrupt::Repeat,
            Some(_) => Interrupt::Quit,
        }
    }
}

fn listen(args: ListenArgs) -> Result<()> {
    let mut captioner = open_captioner(&model_dir(args.model.clone())?)?;
    set_beam(&mut captioner, args.beam)?;
    let frontend = captioner.bundle().manifest().model.frontend.clone();
    let mut source = open_source(&args, frontend.sample_rate)?;
    let mut interrupts = Interrupts::default();
    ctrlc::set_handler(move || match interrupts.receive(Instant::now()) {
        Interrupt::Stop => {
            STOP.store(true, Ordering::SeqCst);
            eprintln!(
                "earsight listen: stopping after this window (Ctrl-C or a second signal to quit \
                 now)"
            );
        }
        Interrupt::Repeat => {}
        Interrupt::Quit => std::process::exit(130),
    })
    .context("installing the Ctrl-C and SIGTERM handler")?;
    let never_if_zero = |s: f64| (s != 0.0).then_some(s);
    let config = ListenConfig {
        window_s: args.window,
        hop_s: args.hop,
        gate: (&args.gate).into(),
        vitals: VitalsConfig {
            stall_s: never_if_zero(args.stall),
            heartbeat_s: never_if_zero(args.heartbeat),
        },
        ..ListenConfig::default()
    };
    let stdout = std::io::stdout();
    let mut lines: Box<dyn Sink> = if args.json {
        Box::new(JsonLines(stdout.lock()))
    } else {
        Box::new(TextLines(stdout.lock()))
    };
    let alerter = alerter(&args, &captioner)?;
    let mut publisher = connect_mqtt(&args, alerter.labels())?;
    let mut sinks: Vec<&mut dyn Sink> = vec![lines.as_mut()];
    sinks.extend(publisher.as_mut().map(|p| p as &mut dyn Sink));
    let mut sink = Alerting::new(Fanout(sinks), alerter, on_alert(&args)?);
    let summary = stream::listen(
        source.as_mut(),
        &mut captioner,
        &frontend,
        &config,
        &STOP,
        &mut sink,
    )?;
    sink.finish();
    print_summary(&summary, &sink, args.json);
    drop(sink);
    finish_mqtt(publisher, args.json);
    Ok(())
}

#[cfg(feature = "mqtt")]
type Publisher = earsight::stream::mqtt::MqttSink;

#[cfg(feature = "mqtt")]
fn connect_mqtt(args: &ListenArgs, alert_labels: Vec<String>) -> Result<Option<Publisher>> {
    use earsight::stream::mqtt::{MqttConfig, MqttSink};
    let Some(url) = &args.mqtt else {
        return Ok(None);
    };
    let name = match &args.mqtt_name {
        Some(name) => name.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "earsight".into()),
    };
    let credentials = match &args.mqtt_credentials {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--mqtt-credentials {}", path.display()))?;
            let mut lines = text.lines();
            match (lines.next(), lines.next()) {
                (Some(user), Some(password)) => Some((user.to_string(), password.to_string())),
                _ => bail!(
                    "--mqtt-credentials {}: expected the user name on the first line and the \
                     password on the second",
                    path.display()
                ),
            }
        }
        None => std::env::var("EARSIGHT_MQTT_USERNAME").ok().map(|user| {
            (
                user,
                std::env::var("EARSIGHT_MQTT_PASSWORD").unwrap_or_default(),
            )
        }),
    };
    let config = MqttConfig {
        url: url.clone(),
        name,
        credentials,
        alert_labels,
        alert_on_s: args.alert_cooldown.max(1.0) as u32,
    };
    MqttSink::connect(&config)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

#[cfg(feature = "mqtt")]
fn finish_mqtt(publisher: Option<Publisher>, json: bool) {
    let Some(mut publisher) = publisher else {
        return;
    };
    publisher.finish(Duration::from_millis(500));
    let c = publisher.counts();
    let n = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
    if json {
        eprintln!("{}", serde_json::json!({ "mqtt": c }));
    } else {
        eprintln!(
            "  MQTT             {} messages queued, {} dropped; {} connections, {} errors",
            n(&c.queued),
            n(&c.dropped),
            n(&c.connections),
            n(&c.connection_errors)
        );
    }
}

/// A build without MQTT: `--mqtt` says how to get one.
#[cfg(not(feature = "mqtt"))]
enum Publisher {}

#[cfg(not(feature = "mqtt"))]
impl Sink for Publisher {
    fn event(&mut self, _: &earsight::stream::Event) -> std::io::Result<()> {
        match *self {}
    }
}

#[cfg(not(feature = "mqtt"))]
fn connect_mqtt(args: &ListenArgs, _alert_labels: Vec<String>) -> Result<Option<Publisher>> {
    if args.mqtt.is_some() {
        bail!(
            "this earsight was built without MQTT: build it with the `mqtt` feature (`cargo \
             install --path . --features mqtt`)"
        );
    }
    Ok(None)
}

#[cfg(not(feature = "mqtt"))]
fn finish_mqtt(_: Option<Publisher>, _: bool) {}

/// The alerts asked for, resolved against the bundle's tags (none asked: an alerter that never
/// alerts).
fn alerter(args: &ListenArgs, captioner: &Captioner) -> Result<Alerter> {
    let (mut reported, mut unreported) = (Vec::new(), Vec::new());
    for tag in captioner
        .bundle()
        .manifest()
        .tagger
        .iter()
        .flat_map(|t| &t.tags)
    {
        match tag.threshold {
            Some(_) => reported.push(tag.label.clone()),
            None => unreported.push(tag.label.clone()),
        }
    }
    let config = AlertConfig {
        labels: args.alert.clone(),
        cooldown_s: args.alert_cooldown,
    };
    Alerter::new(&config, &reported, &unreported).map_err(anyhow::Error::msg)
}

/// The --on-alert program, started.
fn on_alert(args: &ListenArgs) -> Result<Option<AlertCommand>> {
    let Some(command) = &args.on_alert else {
        return Ok(None);
    };
    let timeout = args.on_alert_timeout;
    if !(timeout > 0.0 && timeout <= MAX_ALERT_COMMAND_S) {
        bail!(
            "--on-alert-timeout {timeout} s: expected above 0 and at most {MAX_ALERT_COMMAND_S} s"
        );
    }
    let argv = command.split_whitespace().map(String::from).collect();
    AlertCommand::start(argv, Duration::from_secs_f64(timeout))
        .map(Some)
        .map_err(anyhow::Error::msg)
}

/// The longest an --on-alert program may run: ten minutes.
const MAX_ALERT_COMMAND_S: f64 = 600.0;

fn open_source(args: &ListenArgs, model_rate: u32) -> Result<Box<dyn Source>> {
    let raw_options = args.rate.is_some() || args.format.is_some() || args.channels.is_some();
    match args.input.as_deref() {
        Some(p) if p == Path::new("-") => {
            let rate = args.rate.context(
                "--input - reads raw PCM, which has no header: say its rate with --rate \
                 (and --format s16le|f32le, --channels N if not 16-bit mono)",
            )?;
            Ok(Box::new(PcmSource::new(
                std::io::stdin(),
                "stdin",
                rate,
                args.format.unwrap_or(PcmFormat::S16Le),
                args.channels.unwrap_or(1),
                args.realtime,
            )?))
        }
        Some(path) => {
            if raw_options {
                bail!(
                    "--rate, --format and --channels describe raw PCM on stdin (--input -); \
                     {} states its own",
                    path.display()
                );
            }
            Ok(Box::new(FileSource::open(path, model_rate, args.realtime)?))
        }
        None => {
            if raw_options {
                bail!("--rate, --format and --channels describe raw PCM on stdin (--input -)");
            }
            open_microphone(args.device.as_deref())
        }
    }
}

#[cfg(feature = "mic")]
fn open_microphone(device: Option<&str>) -> Result<Box<dyn Source>> {
    let mic = earsight::audio::mic::Microphone::open(device)?;
    eprintln!(
        "listening to {:?} at {} Hz (Ctrl-C to stop)",
        mic.name(),
        mic.rate()
    );
    Ok(Box::new(stream::MicSource(mic)))
}

/// How to get a build that captures from a microphone: the feature links ALSA.
#[cfg(not(feature = "mic"))]
const MIC_HINT: &str = "build it with the `mic` feature: `sudo apt-get install libasound2-dev \
     pkg-config`, then `cargo install --path . --features mic` in the earsight checkout (or \
     `cargo run --release --features mic -- listen`)";

#[cfg(not(feature = "mic"))]
fn open_microphone(_device: Option<&str>) -> Result<Box<dyn Source>> {
    bail!(
        "this earsight was built without microphone support; {MIC_HINT}; or use --input FILE, \
         or pipe raw PCM with --input - --rate HZ"
    )
}

fn print_summary(s: &Summary, alerting: &Alerting<Fanout>, json: bool) {
    let command = alerting.command_counts();
    if json {
        #[derive(Serialize)]
        struct Line<'a> {
            summary: &'a Summary,
            alerts: Alerts<'a>,
        }
        #[derive(Serialize)]
        struct Alerts<'a> {
            marked: u64,
            command: Option<&'a earsight::stream::alerts::CommandCounts>,
        }
        let line = Line {
            summary: s,
            alerts: Alerts {
                marked: alerting.alerts,
                command,
            },
        };
        eprintln!(
            "{}",
            serde_json::to_string(&line).expect("the summary serialises")
        );
        return;
    }
    eprintln!(
        "earsight listen: {} after {:.1} s of audio ({:.1} s wall)",
        if s.stopped { "stopped" } else { "end of input" },
        s.audio_s,
        s.wall_s
    );
    eprintln!(
        "  windows          {} (captioned {}, silent {}, skipped behind {})",
        s.windows, s.captioned, s.gated, s.skipped_behind
    );
    eprintln!(
        "  events           {} (alerts {})",
        s.events, alerting.alerts
    );
    if let Some(c) = command {
        let n = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
        eprintln!(
            "  --on-alert       ran {}, failed {}, timed out {}, dropped {}",
            n(&c.ran),
            n(&c.failed),
            n(&c.timed_out),
            n(&c.dropped)
        );
    }
    eprintln!(
        "  dropped samples  {} (device overruns {}); refused (not finite) {}; audio stopped {} \
         times",
        s.dropped_samples, s.xruns, s.refused_samples, s.stalls
    );
    eprintln!(
        "  latency          mean {:.1} ms, p95 {:.0} ms",
        s.latency_ms_mean, s.latency_ms_p95
    );
    eprintln!(
        "  per window       frontend {:.1} ms, wait {:.1} ms, encoder {:.1} ms, decoder {:.1} ms, \
         tagger {:.1} ms",
        s.frontend_ms_mean, s.wait_ms_mean, s.encoder_ms_mean, s.decoder_ms_mean, s.tagger_ms_mean
    );
    let cpu = s
        .cpu_percent
        .map_or(String::new(), |c| format!(", CPU {c:.0}% of one core"));
    let rss = s
        .peak_rss_mb
        .map_or(String::new(), |m| format!(", peak RSS {m:.0} MB"));
    eprintln!("  real-time factor {:.4}{cpu}{rss}", s.real_time_factor);
}

#[cfg(feature = "mic")]
fn devices(json: bool) -> Result<()> {
    let devices = earsight::audio::mic::list_input_devices()?;
    if json {
        println!("{}", serde_json::to_string(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        println!("no audio input devices found");
    }
    for d in &devices {
        println!(
            "{:>3}: {}{}",
            d.index,
            d.name,
            if d.is_default { "  (default)" } else { "" }
        );
        println!("     id       {}", d.id);
        if let Some(c) = &d.default_config {
            println!("     default  {c}");
        }
        if !d.rates.is_empty() {
            let rates: Vec<String> = d
                .rates
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        format!("{lo}")
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            println!("     rates    {} Hz", rates.join(", "));
        }
    }
    Ok(())
}

#[cfg(not(feature = "mic"))]
fn devices(_json: bool) -> Result<()> {
    bail!("this earsight was built without microphone support; {MIC_HINT}")
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

fn info(dir: &Path) -> Result<()> {
    let bundle = Bundle::open(dir).with_context(|| format!("checking bundle {}", dir.display()))?;
    let m = bundle.manifest();
    let (enc_params, dec_params) = m.model.parameter_counts();
    let f = &m.model.frontend;
    println!("bundle      {}", dir.display());
    println!("name        {}", m.name);
    println!(
        "trained     {}",
        if m.trained {
            "yes"
        } else {
            "NO (random weights: captions are meaningless)"
        }
    );
    println!("training    {}", m.provenance.training);
    println!(
        "written by  {} (seed {})",
        m.provenance.tool, m.provenance.seed
    );
    println!(
        "frontend    {} Hz, {} mels, window {} / hop {} / fft {}, {} frames = {:.2} s per window",
        f.sample_rate,
        f.n_mels,
        f.win_length,
        f.hop_length,
        f.n_fft,
        f.clip_frames,
        f.window_samples() as f64 / f.sample_rate as f64
    );
    println!(
        "encoder     {} blocks x {} wide, {} audio tokens + {} prefix -> D={}, {:.2} M params, {}",
        m.model.encoder.depth,
        m.model.encoder.dim,
        m.model.n_audio_tokens(),
        m.model.encoder.n_prefix,
        m.model.decoder.dim,
        enc_params as f64 / 1e6,
        m.encoder_quantization
    );
    println!(
        "decoder     {} blocks x {} wide, vocab {}, {:.2} M params, {}",
        m.model.decoder.depth,
        m.model.decoder.dim,
        m.model.decoder.vocab_size,
        dec_params as f64 / 1e6,
        m.decoder_quantization
    );
    println!(
        "decoding    beam {}, length penalty {}, max {} tokens, no-repeat {}-gram",
        m.decoding.beam_width,
        m.decoding.length_penalty,
        m.decoding.max_tokens,
        m.decoding.no_repeat_ngram
    );
    match &m.tagger {
        Some(t) => {
            let reported: Vec<&str> = t
                .tags
                .iter()
                .filter(|tag| tag.threshold.is_some())
                .map(|tag| tag.label.as_str())
                .collect();
            println!(
                "tagger      {} tags, {} with thresholds; {} frames = {:.2} s per piece, {}",
                t.tags.len(),
                reported.len(),
                t.frames,
                t.frames as f64 * f.hop_length as f64 / f.sample_rate as f64,
                t.quantization
            );
            println!("reported    {}", reported.join(", "));
            println!("tagger from {}", t.training);
        }
        None => println!("tagger      none (events carry no tags)"),
    }
    for file in m.files() {
        if file == MODEL_CARD_FILE {
            continue;
        }
        println!(
            "{:<11} {:.2} MB",
            file,
            file_size(&bundle.path(file))? as f64 / 1e6
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct BenchReport {
    model: PathBuf,
    threads: usize,
    window_seconds: f64,
    load_ms: f64,
    frontend_ms: f64,
    encoder_ms: f64,
    decoder_token_ms: f64,
    /// None for a bundle without a tagger.
    tagger_ms: Option<f64>,
    tokens: usize,
    caption_ms: f64,
    real_time_factor: f64,
    peak_rss_mb: Option<f64>,
}

/// A deterministic 10 s test signal: a chirp over pseudo-random noise.
fn bench_signal(rate: u32, n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f32 / rate as f32;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 150.0 * t) * t).sin() + 0.1 * noise
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn bench(dir: &Path, threads: usize, tokens: usize, runs: usize, json: bool) -> Result<()> {
    if runs == 0 || tokens == 0 {
        bail!("--runs and --tokens must be at least 1");
    }
    let t0 = Instant::now();
    let mut captioner = open_captioner(dir)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let f = captioner.bundle().manifest().model.frontend.clone();
    let max_tokens = captioner.bundle().manifest().model.decoder.max_positions;
    if tokens >= max_tokens {
        bail!("--tokens must be below the decoder's {max_tokens} positions");
    }
    let bos = captioner.bundle().manifest().tokens.bos;
    let samples = bench_signal(f.sample_rate, f.window_samples());
    let (mut fe, mut enc, mut dec, mut tag) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let mel = captioner.frontend_mut().window(&samples);
        fe.push(t.elapsed().as_secs_f64() * 1e3);
        let engine = captioner.engine();
        let t = Instant::now();
        let memory = engine.encode(&mel)?;
        enc.push(t.elapsed().as_secs_f64() * 1e3);
        // Forced-length greedy: always `tokens` steps, whatever the model predicts.
        let t = Instant::now();
        let mut cache = engine.empty_cache();
        let mut token = bos;
        for _ in 0..tokens {
            let logits = engine.step(&memory, &mut cache, token)?;
            token = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .unwrap_or(bos);
        }
        dec.push(t.elapsed().as_secs_f64() * 1e3 / tokens as f64);
        if let Some(tagger) = captioner.tagger() {
            let t = Instant::now();
            tagger.scores(&mel)?;
            tag.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (frontend_ms, encoder_ms, decoder_token_ms) = (median(fe), median(enc), median(dec));
    let tagger_ms = (!tag.is_empty()).then(|| median(tag));
    let caption_ms =
        frontend_ms + encoder_ms + decoder_token_ms * tokens as f64 + tagger_ms.unwrap_or(0.0);
    let window_seconds = f.window_samples() as f64 / f.sample_rate as f64;
    let report = BenchReport {
        model: dir.into(),
        threads,
        window_seconds,
        load_ms,
        frontend_ms,
        encoder_ms,
        decoder_token_ms,
        tagger_ms,
        tokens,
        caption_ms,
        real_time_factor: caption_ms / 1e3 / window_seconds,
        peak_rss_mb: earsight::usage::peak_rss_mb(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("model              {}", report.model.display());
        println!("threads            {}", report.threads);
        println!("load               {:9.2} ms", report.load_ms);
        println!(
            "frontend           {:9.2} ms per {:.2} s window",
            report.frontend_ms, report.window_seconds
        );
        println!("encoder            {:9.2} ms", report.encoder_ms);
        println!(
            "decoder            {:9.3} ms per token",
            report.decoder_token_ms
        );
        match report.tagger_ms {
            Some(ms) => println!("tagger             {ms:9.2} ms per window"),
            None => println!("tagger             none"),
        }
        println!(
            "caption            {:9.2} ms ({} tokens)",
            report.caption_ms, report.tokens
        );
        println!("real-time factor   {:9.5}", report.real_time_factor);
        match report.peak_rss_mb {
            Some(mb) => println!("peak RSS           {mb:9.1} MB"),
            None => println!("peak RSS           unavailable on this platform"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ctrl_c_delivered_twice_at_once_stops_but_a_later_one_quits() {
        let start = Instant::now();
        let mut interrupts = Interrupts::default();
        assert_eq!(interrupts.receive(start), Interrupt::Stop);
        assert_eq!(
            interrupts.receive(start + Duration::from_micros(50)),
            Interrupt::Repeat
        );
        assert_eq!(
            interrupts.receive(start + REPEAT_WINDOW - Duration::from_millis(1)),
            Interrupt::Repeat
        );
        assert_eq!(interrupts.receive(start + REPEAT_WINDOW), Interrupt::Quit);
    }
}
