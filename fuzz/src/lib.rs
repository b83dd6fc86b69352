//! Fuzzing earsight's edges on stable Rust: every input a user or a damaged file can hand the
//! runtime (a bundle's manifest, audio files, raw PCM on stdin, `listen`'s numeric values)
//! through the same code the runtime runs, with inputs mutated from real seeds under a fixed
//! seed, so a run is repeatable.
//!
//! cargo-fuzz needs a nightly toolchain, which this project's machines do not have; this driver
//! is not coverage-guided. It keeps instead every input whose outcome (the error message with
//! its numbers taken out) it has not seen yet, and mutates those further: a new refusal is a new
//! path through the checks. Manifests are mutated as JSON (a value replaced by an edge value,
//! a key dropped), WAV headers field by field, and everything byte by byte as well.

pub mod mutate;
pub mod targets;

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Derives a new input from an input (and, for splicing, the corpus).
pub type Mutator = fn(&mut StdRng, &[u8], &[Vec<u8>]) -> Vec<u8>;

/// One fuzz target: where its inputs start, how they change, and the code they go through.
pub struct Target {
    pub name: &'static str,
    /// Real inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    pub mutate: Mutator,
    /// Runs one input; returns its outcome (`ok`, or the refusal with digits removed).
    pub run: fn(&[u8]) -> String,
}

/// What a run found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub target: String,
    pub seed: u64,
    pub inputs: u64,
    pub seconds: f64,
    /// Inputs that panicked, and the first panic's message.
    pub panics: u64,
    pub first_panic: Option<String>,
    /// Inputs slower than the slow limit, and the slowest.
    pub slow: u64,
    pub slowest_ms: f64,
    /// Distinct outcomes seen (each a path through the checks), and the corpus they grew.
    pub outcomes: usize,
    pub corpus: usize,
    /// The process's peak resident memory at the end of the run.
    pub peak_rss_mb: Option<f64>,
}

/// How long a run goes on, and what counts as too slow.
#[derive(Clone, Debug)]
pub struct Budget {
    pub inputs: u64,
    pub time: Duration,
    /// An input slower than this is counted as slow.
    pub slow: Duration,
    /// An input still running after this is a hang: the input is saved and the process aborts.
    pub hang: Duration,
}

/// The corpus is capped so that a long run's memory stays flat.
const MAX_CORPUS: usize = 4096;

/// Runs `target` until the budget is spent. Inputs that panic or hang are written to `crashes`
/// (when given) as `<target>-<kind>-<n>.bin`. `progress` is called about every second.
pub fn fuzz(
    target: &Target,
    seed: u64,
    budget: &Budget,
    crashes: Option<&Path>,
    mut progress: impl FnMut(&Report),
) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut corpus = (target.seeds)();
    assert!(!corpus.is_empty(), "{}: no seeds", target.name);
    let seeds = corpus.len() as u64;
    let mut outcomes = BTreeSet::new();
    let mut report = Report {
        target: target.name.into(),
        seed,
        ..Report::default()
    };
    let watchdog = Watchdog::start(target.name, budget.hang, crashes);
    let quiet = silence_panics();
    let started = Instant::now();
    let mut last_progress = started;
    while report.inputs < budget.inputs && started.elapsed() < budget.time {
        // Seeds themselves first, then mutants of the corpus.
        let input = if report.inputs < seeds {
            corpus[report.inputs as usize].clone()
        } else {
            let parent = &corpus[rng.random_range(0..corpus.len())];
            (target.mutate)(&mut rng, parent, &corpus)
        };
        watchdog.begin(&input);
        let t = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let spent = t.elapsed();
        watchdog.end();
        report.inputs += 1;
        report.slowest_ms = report.slowest_ms.max(spent.as_secs_f64() * 1e3);
        if spent > budget.slow {
            report.slow += 1;
        }
        match outcome {
            Ok(outcome) => {
                if outcomes.insert(outcome) && corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                }
            }
            Err(_) => {
                report.panics += 1;
                let message = quiet.last_message();
                report.first_panic.get_or_insert(message);
                if let Some(dir) = crashes {
                    let path = dir.join(format!("{}-panic-{}.bin", target.name, report.panics));
                    let _ = std::fs::write(path, &input);
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            report.seconds = started.elapsed().as_secs_f64();
            report.outcomes = outcomes.len();
            report.corpus = corpus.len();
            progress(&report);
        }
    }
    drop(quiet);
    watchdog.stop();
    report.seconds = started.elapsed().as_secs_f64();
    report.outcomes = outcomes.len();
    report.corpus = corpus.len();
    report.peak_rss_mb = earsight::usage::peak_rss_mb();
    report
}

/// Keeps panics quiet while fuzzing (each is counted and its input saved) and remembers the
/// last message; the default hook comes back when this is dropped.
struct QuietPanics {
    last: Arc<Mutex<String>>,
}

fn silence_panics() -> QuietPanics {
    let last = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&last);
    panic::set_hook(Box::new(move |info| {
        if let Ok(mut m) = seen.lock() {
            *m = info.to_string();
        }
    }));
    QuietPanics { last }
}

impl QuietPanics {
    fn last_message(&self) -> String {
        self.last.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        let _ = panic::take_hook();
    }
}

/// Aborts the process when one input runs past the hang limit, after saving that input: a hang
/// cannot be caught like a panic.
struct Watchdog {
    current: Arc<Mutex<Vec<u8>>>,
    /// When the current input began, in ms since `epoch` plus one; 0 between inputs.
    began_ms: Arc<AtomicU64>,
    epoch: Instant,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(name: &'static str, hang: Duration, crashes: Option<&Path>) -> Watchdog {
        let current = Arc::new(Mutex::new(Vec::new()));
        let began_ms = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let (input, began, finished) = (current.clone(), began_ms.clone(), done.clone());
        let crashes = crashes.map(Path::to_path_buf);
        let thread = std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let at = began.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64 + 1;
                if at != 0 && now.saturating_sub(at) > hang.as_millis() as u64 {
                    if let (Some(dir), Ok(input)) = (&crashes, input.lock()) {
                        let _ = std::fs::write(dir.join(format!("{name}-hang.bin")), &*input);
                    }
                    eprintln!("{name}: an input ran over {hang:?}: a hang; input saved, aborting");
                    std::process::abort();
                }
            }
        });
        Watchdog {
            current,
            began_ms,
            epoch,
            done,
            thread: Some(thread),
        }
    }

    fn begin(&self, input: &[u8]) {
        if let Ok(mut current) = self.current.lock() {
            current.clear();
            current.extend_from_slice(input);
        }
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.began_ms.store(now, Ordering::Relaxed);
    }

    fn end(&self) {
        self.began_ms.store(0, Ordering::Relaxed);
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
