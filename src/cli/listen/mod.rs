//! `earsight listen`: live captions from a microphone, a file or raw PCM on stdin, with alerts,
//! MQTT, a web page and a summary at the end.

mod mqtt;
mod web;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use std::sync::atomic::{AtomicBool, Ordering};

use earsight::audio::pcm::PcmFormat;
use earsight::engine::Backend;
use earsight::stream::{
    self, AlertCommand, AlertConfig, Alerter, Alerting, Fanout, FileSource, JsonLines,
    ListenConfig, PcmSource, Sink, Source, Summary, TextLines, VitalsConfig,
};
use earsight::Captioner;

#[cfg(not(feature = "mic"))]
use super::MIC_HINT;
use super::{model_dir, open_captioner, ComputeArgs, DecodingArgs, GateArgs};

#[derive(clap::Args)]
pub(super) struct ListenArgs {
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
    #[command(flatten)]
    decoding: DecodingArgs,
    #[command(flatten)]
    pub(super) compute: ComputeArgs,
    /// Say so (a status line and a log warning) when no audio has arrived for this many
    /// seconds, and again when it comes back; 0: never.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    stall: f64,
    /// Seconds between heartbeats (with --json, a status line with the counters and the input
    /// level); 0: none. Default: 60, or 5 with --http (the page's level meter and health).
    #[arg(long, allow_negative_numbers = true)]
    heartbeat: Option<f64>,
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
    /// Serve a live-caption web page, its event stream (/events), the recent events
    /// (/api/recent) and health (/health) at HOST:PORT, e.g. 127.0.0.1:8080 (a build with the
    /// `http` feature). Beyond loopback it needs --http-token or --open.
    #[arg(long)]
    http: Option<String>,
    /// A file whose first line is the token every request must carry (`/?token=...`, or
    /// `Authorization: Bearer ...`); default: the environment's EARSIGHT_HTTP_TOKEN, if set.
    #[arg(long, requires = "http")]
    http_token: Option<PathBuf>,
    /// Serve beyond loopback without a token, on a network you trust.
    #[arg(long, requires = "http")]
    open: bool,
    /// Event-stream clients (open pages) served at once.
    #[arg(long, default_value_t = 32, requires = "http")]
    http_clients: usize,
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

pub(super) fn listen(args: ListenArgs, backend: Backend) -> Result<()> {
    let mut captioner = open_captioner(&model_dir(args.model.clone())?, backend)?;
    args.decoding.apply(&mut captioner)?;
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
            heartbeat_s: never_if_zero(args.heartbeat.unwrap_or(match args.http {
                Some(_) => WEB_HEARTBEAT_S,
                None => HEARTBEAT_S,
            })),
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
    let mut publisher = mqtt::connect(&args, alerter.labels())?;
    let mut server = web::serve(&args)?;
    let mut sinks: Vec<&mut dyn Sink> = vec![lines.as_mut()];
    sinks.extend(publisher.as_mut().map(|p| p as &mut dyn Sink));
    sinks.extend(server.as_mut().map(|s| s as &mut dyn Sink));
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
    mqtt::finish(publisher, args.json);
    web::finish(server, args.json);
    Ok(())
}

/// Seconds between heartbeats: for a monitor reading `--json`, and for the web page's level
/// meter and health.
const HEARTBEAT_S: f64 = 60.0;
const WEB_HEARTBEAT_S: f64 = 5.0;

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

#[cfg(not(feature = "mic"))]
fn open_microphone(_device: Option<&str>) -> Result<Box<dyn Source>> {
    bail!(
        "this earsight was built without microphone support; {MIC_HINT}; or use --input FILE, \
         or pipe raw PCM with --input - --rate HZ"
    )
}

/// A counter shared with a worker thread (the MQTT connection, the --on-alert runner), read.
fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
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
        let n = count;
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
