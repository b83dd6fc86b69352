//! Caption events: window captions become events, consecutive windows with the same caption and
//! the same tags merge into one event with a longer span, and sinks write them as text or JSON
//! lines.
//!
//! An event is announced as soon as its first window is captioned (`final: false`), so that a
//! doorbell is reported one window after it rings, not when it stops; when the sound ends (a
//! different caption or tags, a silent window, the end of the input) the merged event is
//! reported again with its whole span (`final: true`).

use std::io::{self, Write};

use serde::Serialize;

use crate::caption::Timings;
use crate::engine::Tag;

/// Something heard, over a span of the input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Seconds from the start of the input.
    pub start: f64,
    pub end: f64,
    pub caption: String,
    /// Mean log-probability per token, averaged over the merged windows.
    pub score: f32,
    /// The tags heard, best first: each one's best score over the merged windows. None for a
    /// bundle without a tagger, or when no tag reaches its threshold.
    pub tags: Vec<Tag>,
    /// From the end of the event's first window to its caption.
    pub latency_ms: f64,
    /// Windows merged into this event.
    pub windows: usize,
    /// False when the event is first announced, true once its span is complete.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// True when the event starts a sound asked for with `--alert`; `alerts` names them.
    pub alert: bool,
    pub alerts: Vec<String>,
    /// Per-stage time of the first window.
    #[serde(rename = "timings_ms")]
    pub timings: Timings,
}

/// Merges consecutive windows with the same caption and the same tags.
#[derive(Default)]
pub struct EventMerger {
    open: Option<Event>,
    score_sum: f32,
}

impl EventMerger {
    /// Takes the next captioned window (a one-window event) and returns what to report.
    pub fn captioned(&mut self, window: Event) -> Vec<Event> {
        if let Some(open) = &mut self.open {
            if open.caption == window.caption
                && same_labels(&open.tags, &window.tags)
                && window.start <= open.end
            {
                open.end = open.end.max(window.end);
                open.windows += 1;
                self.score_sum += window.score;
                for tag in &mut open.tags {
                    let score = window.tags.iter().find(|t| t.label == tag.label);
                    tag.score = tag.score.max(score.map_or(0.0, |t| t.score));
                }
                return Vec::new();
            }
        }
        let mut out: Vec<Event> = self.close().into_iter().collect();
        self.score_sum = window.score;
        out.push(Event {
            windows: 1,
            is_final: false,
            ..window.clone()
        });
        self.open = Some(window);
        out
    }

    /// A window without a caption (silence): whatever was open has ended.
    pub fn silence(&mut self) -> Option<Event> {
        self.close()
    }

    /// The end of the input.
    pub fn finish(&mut self) -> Option<Event> {
        self.close()
    }

    fn close(&mut self) -> Option<Event> {
        let mut event = self.open.take()?;
        event.tags.sort_by(|a, b| b.score.total_cmp(&a.score));
        event.score = self.score_sum / event.windows as f32;
        event.is_final = true;
        event.windows = event.windows.max(1);
        Some(event)
    }
}

/// Whether two windows heard the same tags, whatever their scores and order.
fn same_labels(a: &[Tag], b: &[Tag]) -> bool {
    a.len() == b.len() && a.iter().all(|t| b.iter().any(|u| u.label == t.label))
}

/// How `listen` itself is doing, between events (see `stream::vitals`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    /// No sample has arrived for `for_s` seconds, after `at_s` seconds of audio.
    NoAudio { at_s: f64, for_s: f64 },
    /// Audio arrives again, after `after_s` seconds without any.
    AudioResumed { at_s: f64, after_s: f64 },
    /// Alive: the counters so far.
    Heartbeat(Heartbeat),
}

/// A heartbeat's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Seconds since listening began, and of audio heard.
    pub uptime_s: f64,
    pub audio_s: f64,
    pub windows: u64,
    pub captioned: u64,
    pub events: u64,
    pub skipped_behind: u64,
    pub dropped_samples: u64,
    pub xruns: u64,
    /// Samples that were not audio, heard as silence.
    pub refused_samples: u64,
    /// Times the audio stopped (see [`Status::NoAudio`]).
    pub stalls: u64,
    /// Seconds since the last sample arrived.
    pub since_audio_s: f64,
    /// The loudest frame since the previous heartbeat, in dB relative to full scale (floored
    /// at [`LEVEL_FLOOR_DB`]); none when no frame was heard.
    pub level_db: Option<f32>,
    /// Resident memory now, where the platform reports it.
    pub rss_mb: Option<f64>,
}

/// The quietest level a heartbeat reports: digital silence reads as this, not minus infinity.
pub const LEVEL_FLOOR_DB: f32 = -120.0;

/// Where events go.
pub trait Sink {
    fn event(&mut self, event: &Event) -> io::Result<()>;

    /// How the listener is doing; sinks that only collect captions ignore it.
    fn status(&mut self, _status: &Status) -> io::Result<()> {
        Ok(())
    }
}

/// Every event and status to each of several sinks, in order (the terminal, then MQTT, say).
pub struct Fanout<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Fanout<'_> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.event(event))
    }

    fn status(&mut self, status: &Status) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.status(status))
    }
}

/// One JSON object per line, every announcement and every final event.
pub struct JsonLines<W: Write>(pub W);

impl<W: Write> Sink for JsonLines<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, event)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }

    /// One line with a `status` field: `no-audio`, `audio-resumed` or `heartbeat`.
    fn status(&mut self, status: &Status) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, status)?;
        self.0.write_all(b"\n")?;
        self.0.flush()
    }
}

/// A caption as a person reads it: the caption, then its tags with their scores, as in
/// `a dog barks [dog barking 0.91, rain 0.62]`.
pub fn with_tags(caption: &str, tags: &[Tag]) -> String {
    if tags.is_empty() {
        return caption.to_string();
    }
    let tags: Vec<String> = tags
        .iter()
        .map(|t| format!("{} {:.2}", t.label, t.score))
        .collect();
    format!("{caption} [{}]", tags.join(", "))
}

/// Human-readable lines: each event when it is announced, and again with its whole span when
/// it lasted more than one window.
pub struct TextLines<W: Write>(pub W);

impl<W: Write> Sink for TextLines<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let text = with_tags(&event.caption, &event.tags);
        if !event.is_final {
            writeln!(self.0, "[{:8.2} - {:8.2} s] {text}", event.start, event.end)?;
        } else if event.windows > 1 {
            writeln!(
                self.0,
                "[{:8.2} - {:8.2} s] {text} (lasted {} windows)",
                event.start, event.end, event.windows
            )?;
        }
        self.0.flush()
    }

    /// Lines in parentheses, so they read apart from captions; heartbeats are for `--json`
    /// readers (monitors), not for people.
    fn status(&mut self, status: &Status) -> io::Result<()> {
        match status {
            Status::NoAudio { at_s, for_s } => {
                writeln!(self.0, "({at_s:.2} s: no audio for {for_s:.1} s)")?
            }
            Status::AudioResumed { at_s, after_s } => {
                writeln!(self.0, "({at_s:.2} s: audio again after {after_s:.1} s)")?
            }
            Status::Heartbeat(_) => return Ok(()),
        }
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: f64, caption: &str, score: f32) -> Event {
        Event {
            start,
            end: start + 10.0,
            caption: caption.into(),
            score,
            tags: Vec::new(),
            latency_ms: 5.0,
            windows: 1,
            is_final: false,
            alert: false,
            alerts: Vec::new(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn identical_consecutive_captions_merge_and_others_do_not() {
        let mut m = EventMerger::default();
        let first = m.captioned(window(0.0, "a dog barks", -1.0));
        assert_eq!(first.len(), 1);
        assert!(!first[0].is_final);
        assert!(m.captioned(window(2.0, "a dog barks", -2.0)).is_empty());
        assert!(m.captioned(window(4.0, "a dog barks", -3.0)).is_empty());
        let next = m.captioned(window(6.0, "rain falls", -0.5));
        assert_eq!(next.len(), 2);
        let closed = &next[0];
        assert!(closed.is_final);
        assert_eq!(
            (closed.start, closed.end, closed.windows),
            (0.0, 14.0, 3),
            "{closed:?}"
        );
        assert_eq!(closed.score, -2.0);
        assert_eq!(next[1].caption, "rain falls");
        let last = m.finish().unwrap();
        assert_eq!((last.start, last.end, last.windows), (6.0, 16.0, 1));
        assert!(m.finish().is_none());
    }

    #[test]
    fn silence_breaks_an_event() {
        let mut m = EventMerger::default();
        m.captioned(window(0.0, "a dog barks", -1.0));
        assert!(m.silence().is_some());
        assert!(m.silence().is_none());
        let again = m.captioned(window(4.0, "a dog barks", -1.0));
        assert_eq!(again.len(), 1, "a new event opens after silence");
    }

    #[test]
    fn windows_that_do_not_touch_do_not_merge() {
        let mut m = EventMerger::default();
        m.captioned(window(0.0, "a dog barks", -1.0));
        let later = m.captioned(window(30.0, "a dog barks", -1.0));
        assert_eq!(later.len(), 2);
        assert_eq!(later[0].end, 10.0);
    }

    fn tagged(start: f64, tags: &[(&str, f32)]) -> Event {
        Event {
            tags: tags
                .iter()
                .map(|&(label, score)| Tag {
                    label: label.into(),
                    score,
                })
                .collect(),
            ..window(start, "a dog barks", -1.0)
        }
    }

    #[test]
    fn windows_merge_only_with_the_same_tags_keeping_each_tags_best_score() {
        let mut m = EventMerger::default();
        m.captioned(tagged(0.0, &[("dog barking", 0.6), ("speech", 0.9)]));
        assert!(m
            .captioned(tagged(2.0, &[("speech", 0.7), ("dog barking", 0.95)]))
            .is_empty());
        let next = m.captioned(tagged(4.0, &[("dog barking", 0.8)]));
        assert_eq!(next.len(), 2, "a tag that stops ends the event");
        let closed = &next[0];
        assert_eq!(closed.windows, 2);
        assert_eq!(
            closed.tags,
            vec![
                Tag {
                    label: "dog barking".into(),
                    score: 0.95
                },
                Tag {
                    label: "speech".into(),
                    score: 0.9
                },
            ],
            "best score of each, best first"
        );
        assert_eq!(next[1].tags.len(), 1);
    }

    #[test]
    fn text_lines_show_tags_after_the_caption() {
        let mut out = Vec::new();
        TextLines(&mut out)
            .event(&tagged(0.0, &[("dog barking", 0.913), ("rain", 0.5)]))
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[    0.00 -    10.00 s] a dog barks [dog barking 0.91, rain 0.50]\n"
        );
    }

    #[test]
    fn text_lines_show_announcements_and_long_events() {
        let mut out = Vec::new();
        let mut sink = TextLines(&mut out);
        let mut e = window(0.0, "a dog barks", -1.0);
        sink.event(&e).unwrap();
        e.is_final = true;
        sink.event(&e).unwrap();
        e.windows = 3;
        e.end = 14.0;
        sink.event(&e).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[    0.00 -    10.00 s] a dog barks\n\
             [    0.00 -    14.00 s] a dog barks (lasted 3 windows)\n"
        );
    }
}
