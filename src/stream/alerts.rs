//! Alerts: the sounds a household asked to be told about (a doorbell, a smoke alarm), marked on
//! the events that carry them once per continuous sound, and handed to a program of the user's
//! choosing (a buzzer, an LED, a notification) without ever holding up the pipeline.
//!
//! [`Alerting`] wraps any [`Sink`]: it marks each event before passing it on, so the text, JSON
//! and every later sink see the same `alert` fields.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::events::{Event, Sink, Status};

/// Which sounds alert, and how long a sound must be gone before it alerts again.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertConfig {
    /// Tag labels of the bundle (or, for a bundle without tags, words of its captions), as the
    /// user wrote them: case, `_` and `-` do not matter.
    pub labels: Vec<String>,
    /// Seconds of audio without the sound after which it alerts again.
    pub cooldown_s: f64,
}

/// The longest cooldown: an hour.
pub const MAX_COOLDOWN_S: f64 = 3_600.0;

/// How alert names are compared: lower case, words apart by single spaces.
fn normalise(label: &str) -> String {
    label
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an alert is recognised by.
#[derive(Clone, Debug, PartialEq)]
enum Heard {
    /// A tag of the bundle, by its label.
    Tag(String),
    /// Words in the caption, at word boundaries.
    Words(String),
}

#[derive(Debug)]
struct Rule {
    heard: Heard,
    /// Where the sound was last heard, in seconds of audio.
    last_end: Option<f64>,
}

/// Marks events with the alerts they start.
#[derive(Debug)]
pub struct Alerter {
    rules: Vec<Rule>,
    cooldown_s: f64,
}

impl Alerter {
    /// Resolves the labels against the bundle: `reported` holds the tags it reports (those with
    /// a threshold) and `unreported` those it never does; with neither (a bundle without a
    /// tagger), labels are words of the captions. The refusal names the label and what the
    /// bundle offers.
    pub fn new(
        config: &AlertConfig,
        reported: &[String],
        unreported: &[String],
    ) -> Result<Alerter, String> {
        if !(config.cooldown_s >= 0.0 && config.cooldown_s <= MAX_COOLDOWN_S) {
            return Err(format!(
                "--alert-cooldown {} s: expected 0 to {MAX_COOLDOWN_S} s",
                config.cooldown_s
            ));
        }
        let tagged = !(reported.is_empty() && unreported.is_empty());
        let mut rules = Vec::new();
        for label in &config.labels {
            let wanted = normalise(label);
            if wanted.is_empty() {
                return Err(format!("--alert {label:?}: an empty label"));
            }
            let find = |tags: &[String]| tags.iter().find(|t| normalise(t) == wanted).cloned();
            let heard = if !tagged {
                Heard::Words(wanted)
            } else if let Some(tag) = find(reported) {
                Heard::Tag(tag)
            } else if let Some(tag) = find(unreported) {
                return Err(format!(
                    "--alert {label}: this bundle never reports the tag {tag:?} (it has no \
                     threshold yet); the tags it reports: {}",
                    reported.join(", ")
                ));
            } else {
                return Err(format!(
                    "--alert {label}: this bundle has no tag {wanted:?}; the tags it reports: {}",
                    reported.join(", ")
                ));
            };
            if !rules.iter().any(|r: &Rule| r.heard == heard) {
                rules.push(Rule {
                    heard,
                    last_end: None,
                });
            }
        }
        Ok(Alerter {
            rules,
            cooldown_s: config.cooldown_s,
        })
    }

    /// The labels alerted to, as events name them (the bundle's own tag labels).
    pub fn labels(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| match &r.heard {
                Heard::Tag(label) | Heard::Words(label) => label.clone(),
            })
            .collect()
    }

    /// Sets `event.alerts` to the labels it carries that start a new sound: not heard in the
    /// cooldown before the event's start. Every event that carries a label keeps the sound
    /// going, so a doorbell that rings on for a minute alerts once.
    pub fn mark(&mut self, event: &mut Event) {
        event.alerts.clear();
        let words = format!(" {} ", normalise(&event.caption));
        for rule in &mut self.rules {
            let (label, present) = match &rule.heard {
                Heard::Tag(tag) => (tag, event.tags.iter().any(|t| &t.label == tag)),
                Heard::Words(w) => (w, words.contains(&format!(" {w} "))),
            };
            if !present {
                continue;
            }
            let new_sound = rule
                .last_end
                .is_none_or(|end| event.start - end > self.cooldown_s);
            if new_sound {
                event.alerts.push(label.clone());
            }
            rule.last_end = Some(rule.last_end.map_or(event.end, |e| e.max(event.end)));
        }
        event.alert = !event.alerts.is_empty();
    }
}

/// A program run for every alert with the event's JSON on its stdin, on a thread of its own:
/// no shell, a time limit, and alerts that arrive while earlier ones still run wait in a short
/// queue or are dropped and counted, so the pipeline never waits for it.
pub struct AlertCommand {
    queue: Option<SyncSender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counts: Arc<CommandCounts>,
}

/// What became of the alerts handed to the program.
#[derive(Debug, Default, Serialize)]
pub struct CommandCounts {
    pub ran: AtomicU64,
    /// Could not start, or exited with an error.
    pub failed: AtomicU64,
    /// Killed at the time limit.
    pub timed_out: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// Alerts that may wait for the program while it handles an earlier one.
const COMMAND_QUEUE: usize = 4;

impl AlertCommand {
    /// `argv`: the program and its arguments; `timeout`: how long one run may take.
    pub fn start(argv: Vec<String>, timeout: Duration) -> Result<AlertCommand, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("--on-alert: no program given".into());
        };
        let (program, args) = (program.clone(), args.to_vec());
        let (queue, jobs) = sync_channel::<String>(COMMAND_QUEUE);
        let counts = Arc::new(CommandCounts::default());
        let seen = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name("earsight-on-alert".into())
            .spawn(move || {
                for json in jobs {
                    let outcome = run_once(&program, &args, &json, timeout);
                    let counter = match &outcome {
                        Ok(()) => &seen.ran,
                        Err(Failure::TimedOut) => &seen.timed_out,
                        Err(Failure::Failed(_)) => &seen.failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    match outcome {
                        Err(Failure::Failed(why)) => log::warn!("--on-alert {program}: {why}"),
                        Err(Failure::TimedOut) => log::warn!(
                            "--on-alert {program}: still running after {timeout:?}, killed"
                        ),
                        Ok(()) => {}
                    }
                }
            })
            .map_err(|e| format!("--on-alert: cannot start its thread: {e}"))?;
        Ok(AlertCommand {
            queue: Some(queue),
            thread: Some(thread),
            counts,
        })
    }

    /// Hands one alert's event JSON to the program; never waits.
    pub fn send(&self, json: String) {
        let sent = self.queue.as_ref().map(|q| q.try_send(json));
        if let None | Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) = sent {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            log::warn!("--on-alert: the program is still busy with earlier alerts; one dropped");
        }
    }

    pub fn counts(&self) -> &CommandCounts {
        &self.counts
    }

    /// Waits for the alerts already queued to be handled (each within the time limit), so that
    /// the last alert of a run is not lost when `listen` ends.
    pub fn finish(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Failure {
    TimedOut,
    Failed(String),
}

fn run_once(program: &str, args: &[String], json: &str, timeout: Duration) -> Result<(), Failure> {
    let mut child: Child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| Failure::Failed(format!("cannot run it: {e}")))?;
    // One JSON line fits a pipe's buffer: the write does not wait for the program to read.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{json}");
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(Failure::Failed(format!("exited with {status}"))),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Failure::Failed(e.to_string())),
        }
    }
}

/// A sink that marks alerts on every event, hands alerting events to the program (if any), and
/// passes everything on to `inner`.
pub struct Alerting<S> {
    pub inner: S,
    alerter: Alerter,
    command: Option<AlertCommand>,
    /// Alerts marked so far.
    pub alerts: u64,
}

impl<S: Sink> Alerting<S> {
    pub fn new(inner: S, alerter: Alerter, command: Option<AlertCommand>) -> Alerting<S> {
        Alerting {
            inner,
            alerter,
            command,
            alerts: 0,
        }
    }

    /// The program's counts, when there is one.
    pub fn command_counts(&self) -> Option<&CommandCounts> {
        self.command.as_ref().map(AlertCommand::counts)
    }

    /// At the end of listening: lets the program handle the alerts still queued.
    pub fn finish(&mut self) {
        if let Some(command) = &mut self.command {
            command.finish();
        }
    }
}

impl<S: Sink> Sink for Alerting<S> {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let mut event = event.clone();
        self.alerter.mark(&mut event);
        if event.alert {
            self.alerts += 1;
            log::info!("alert: {} at {:.2} s", event.alerts.join(", "), event.start);
            if let Some(command) = &self.command {
                command.send(serde_json::to_string(&event).expect("events serialise"));
            }
        }
        self.inner.event(&event)
    }

    fn status(&mut self, status: &Status) -> std::io::Result<()> {
        self.inner.status(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Tag;

    fn heard(start: f64, caption: &str, tags: &[&str]) -> Event {
        Event {
            start,
            end: start + 10.0,
            caption: caption.into(),
            score: -1.0,
            tags: tags
                .iter()
                .map(|t| Tag {
                    label: t.to_string(),
                    score: 0.9,
                })
                .collect(),
            latency_ms: 1.0,
            windows: 1,
            is_final: false,
            alert: false,
            alerts: Vec::new(),
            timings: Default::default(),
        }
    }

    fn config(labels: &[&str]) -> AlertConfig {
        AlertConfig {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            cooldown_s: 10.0,
        }
    }

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_continuous_sound_alerts_once_and_again_after_the_cooldown() {
        let reported = strings(&["doorbell", "smoke or fire alarm", "dog barking"]);
        let mut a = Alerter::new(
            &config(&["Doorbell", "smoke_or_fire-alarm"]),
            &reported,
            &[],
        )
        .unwrap();
        let mut marks = Vec::new();
        for (start, tags) in [
            (0.0, &["doorbell"][..]),
            (2.0, &["doorbell", "dog barking"][..]),
            (4.0, &["dog barking"][..]),
            (15.0, &["doorbell"][..]),
            (40.0, &["doorbell", "smoke or fire alarm"][..]),
        ] {
            let mut e = heard(start, "a sound", tags);
            a.mark(&mut e);
            marks.push((start, e.alert, e.alerts));
        }
        let doorbell = || vec!["doorbell".to_string()];
        assert_eq!(
            marks,
            vec![
                (0.0, true, doorbell()),
                (2.0, false, vec![]),
                (4.0, false, vec![]),
                (15.0, false, vec![]),
                (
                    40.0,
                    true,
                    vec!["doorbell".to_string(), "smoke or fire alarm".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn labels_the_bundle_does_not_report_are_refused_with_what_it_does() {
        let reported = strings(&["doorbell", "dog barking"]);
        let unreported = strings(&["kettle"]);
        let e = Alerter::new(&config(&["smoke_alarm"]), &reported, &unreported).unwrap_err();
        assert!(
            e.contains("no tag \"smoke alarm\"") && e.contains("doorbell, dog barking"),
            "{e}"
        );
        let e = Alerter::new(&config(&["kettle"]), &reported, &unreported).unwrap_err();
        assert!(e.contains("never reports the tag \"kettle\""), "{e}");
        let mut wrong = config(&["doorbell"]);
        wrong.cooldown_s = f64::NAN;
        let e = Alerter::new(&wrong, &reported, &unreported).unwrap_err();
        assert!(e.contains("--alert-cooldown NaN s"), "{e}");
    }

    #[test]
    fn without_tags_labels_are_caption_words() {
        let mut a = Alerter::new(&config(&["dog"]), &[], &[]).unwrap();
        let mut hotdog = heard(0.0, "a hotdog on a plate", &[]);
        a.mark(&mut hotdog);
        assert!(!hotdog.alert, "words, not parts of words");
        let mut dog = heard(20.0, "a dog barks", &[]);
        a.mark(&mut dog);
        assert_eq!(dog.alerts, vec!["dog".to_string()]);
    }
}
