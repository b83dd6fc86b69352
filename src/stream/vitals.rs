//! Signs of life for a device nobody watches: `listen` says when its audio stops arriving and
//! when it comes back, and beats a heartbeat with its counters, so a monitor can tell a quiet
//! room from a dead microphone or a stuck pipeline.

use std::time::{Duration, Instant};

use super::events::Status;

/// When the signs are given.
#[derive(Clone, Debug, PartialEq)]
pub struct VitalsConfig {
    /// Seconds without a single sample from the source before a `no-audio` status; `None`:
    /// never.
    pub stall_s: Option<f64>,
    /// Seconds between heartbeats; `None`: none.
    pub heartbeat_s: Option<f64>,
}

impl Default for VitalsConfig {
    fn default() -> Self {
        VitalsConfig {
            stall_s: Some(5.0),
            heartbeat_s: Some(60.0),
        }
    }
}

/// The longest gap a heartbeat or stall report may be set to: a day.
pub const MAX_VITALS_S: f64 = 86_400.0;

impl VitalsConfig {
    /// Each period is above 0 and at most a day, and finite.
    pub fn check(&self) -> Result<(), String> {
        for (flag, value) in [("--stall", self.stall_s), ("--heartbeat", self.heartbeat_s)] {
            if let Some(s) = value {
                if !(s > 0.0 && s <= MAX_VITALS_S) {
                    return Err(format!(
                        "{flag} {s} s: expected above 0 and at most {MAX_VITALS_S} s (a day), or \
                         0 for never"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Watches the source's deliveries and the clock.
pub(super) struct Vitals {
    stall: Option<Duration>,
    heartbeat: Option<Duration>,
    started: Instant,
    last_audio: Instant,
    last_beat: Instant,
    stalled: bool,
    /// Times the audio stopped for longer than the stall period.
    pub stalls: u64,
}

impl Vitals {
    pub(super) fn new(config: &VitalsConfig, now: Instant) -> Vitals {
        Vitals {
            stall: config.stall_s.map(Duration::from_secs_f64),
            heartbeat: config.heartbeat_s.map(Duration::from_secs_f64),
            started: now,
            last_audio: now,
            last_beat: now,
            stalled: false,
            stalls: 0,
        }
    }

    /// After a read that delivered `samples` samples, with `audio_s` seconds heard so far: a
    /// status when the audio has just stopped for the stall period, or has just come back.
    pub(super) fn after_read(
        &mut self,
        samples: usize,
        audio_s: f64,
        now: Instant,
    ) -> Option<Status> {
        let silent_for = now.duration_since(self.last_audio);
        if samples > 0 {
            self.last_audio = now;
            if self.stalled {
                self.stalled = false;
                log::info!(
                    "audio is back after {:.1} s without any",
                    silent_for.as_secs_f64()
                );
                return Some(Status::AudioResumed {
                    at_s: audio_s,
                    after_s: silent_for.as_secs_f64(),
                });
            }
            return None;
        }
        match self.stall {
            Some(stall) if !self.stalled && silent_for >= stall => {
                self.stalled = true;
                self.stalls += 1;
                log::warn!(
                    "no audio has arrived for {:.1} s (after {audio_s:.2} s of audio): is the \
                     source still there?",
                    silent_for.as_secs_f64()
                );
                Some(Status::NoAudio {
                    at_s: audio_s,
                    for_s: silent_for.as_secs_f64(),
                })
            }
            _ => None,
        }
    }

    /// Whether a heartbeat is due; if so the clock restarts.
    pub(super) fn beat_due(&mut self, now: Instant) -> bool {
        match self.heartbeat {
            Some(period) if now.duration_since(self.last_beat) >= period => {
                self.last_beat = now;
                true
            }
            _ => false,
        }
    }

    /// Seconds since listening began.
    pub(super) fn uptime_s(&self, now: Instant) -> f64 {
        now.duration_since(self.started).as_secs_f64()
    }

    /// Seconds since the last sample arrived.
    pub(super) fn since_audio_s(&self, now: Instant) -> f64 {
        now.duration_since(self.last_audio).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_reported_once_and_its_end_once() {
        let t0 = Instant::now();
        let s = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut v = Vitals::new(&VitalsConfig::default(), t0);
        assert_eq!(v.after_read(100, 0.1, s(0.1)), None);
        assert_eq!(v.after_read(0, 0.1, s(4.0)), None);
        assert_eq!(
            v.after_read(0, 0.1, s(5.2)).map(round),
            Some(Status::NoAudio {
                at_s: 0.1,
                for_s: 5.1
            })
        );
        assert_eq!(v.after_read(0, 0.1, s(9.0)), None, "reported once");
        let back = v.after_read(50, 0.1, s(12.1)).map(round);
        assert_eq!(
            back,
            Some(Status::AudioResumed {
                at_s: 0.1,
                after_s: 12.0
            })
        );
        assert_eq!(v.stalls, 1);
    }

    fn round(s: Status) -> Status {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        match s {
            Status::NoAudio { at_s, for_s } => Status::NoAudio {
                at_s: r(at_s),
                for_s: r(for_s),
            },
            Status::AudioResumed { at_s, after_s } => Status::AudioResumed {
                at_s: r(at_s),
                after_s: r(after_s),
            },
            other => other,
        }
    }

    #[test]
    fn heartbeats_come_at_their_period_and_periods_are_checked() {
        let t0 = Instant::now();
        let mut v = Vitals::new(&VitalsConfig::default(), t0);
        assert!(!v.beat_due(t0 + Duration::from_secs(59)));
        assert!(v.beat_due(t0 + Duration::from_secs(60)));
        assert!(!v.beat_due(t0 + Duration::from_secs(61)));
        let bad = VitalsConfig {
            stall_s: Some(f64::NAN),
            heartbeat_s: None,
        };
        assert!(bad.check().unwrap_err().contains("--stall NaN s"));
    }
}
