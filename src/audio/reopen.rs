//! When to look again for a capture device that went away (a USB microphone unplugged, a
//! Bluetooth headset out of range): soon at first, then less often, and never giving up, since
//! a device that runs for months must hear again whenever the microphone is back. `listen`'s
//! signs of life (`stream::vitals`) say meanwhile that no audio arrives.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;

/// The first pause before looking again, and the longest pause it grows to.
pub const FIRST_PAUSE: Duration = Duration::from_millis(250);
pub const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// The attempts to reopen one lost device.
#[derive(Debug)]
pub struct Reopening {
    next_try: Instant,
    backoff: Backoff,
    attempts: u64,
}

impl Reopening {
    /// The device was found lost at `now`; the first attempt is due after [`FIRST_PAUSE`].
    pub fn new(now: Instant) -> Reopening {
        let mut backoff = Backoff::new(FIRST_PAUSE, LONGEST_PAUSE);
        Reopening {
            next_try: now + backoff.next_pause(),
            backoff,
            attempts: 0,
        }
    }

    /// Runs `open` if an attempt is due at `now`: `Some` with its result, `None` when it is
    /// not yet time. A failed attempt doubles the pause, up to [`LONGEST_PAUSE`].
    pub fn attempt<T, E>(
        &mut self,
        now: Instant,
        open: impl FnOnce() -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        if now < self.next_try {
            return None;
        }
        self.attempts += 1;
        let result = open();
        if result.is_err() {
            self.next_try = now + self.backoff.next_pause();
        }
        Some(result)
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that is gone for its first `absent` attempts and then back, driven on a clock
    /// stepped by hand.
    #[test]
    fn a_device_gone_for_a_long_time_is_tried_at_growing_pauses_and_found_when_back() {
        let t0 = Instant::now();
        let mut r = Reopening::new(t0);
        let absent = 1_000;
        let mut tries = Vec::new();
        let mut now = t0;
        let found = loop {
            now += Duration::from_millis(50);
            let result = r.attempt(now, || {
                tries.push(now - t0);
                if tries.len() > absent {
                    Ok("device")
                } else {
                    Err("no such device")
                }
            });
            if let Some(Ok(device)) = result {
                break device;
            }
        };
        assert_eq!(found, "device");
        assert_eq!(r.attempts(), absent as u64 + 1);
        let gaps: Vec<Duration> = tries.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps[0] >= FIRST_PAUSE * 2 && gaps[0] < FIRST_PAUSE * 3,
            "{gaps:?}"
        );
        assert!(gaps
            .windows(2)
            .all(|g| g[1] >= g[0] || g[1] >= LONGEST_PAUSE));
        let longest = *gaps.iter().max().unwrap();
        assert!(longest >= LONGEST_PAUSE && longest < LONGEST_PAUSE + Duration::from_millis(100));
        assert!(tries[0] >= FIRST_PAUSE, "not before the first pause");
    }

    #[test]
    fn no_attempt_is_made_before_it_is_due() {
        let t0 = Instant::now();
        let mut r = Reopening::new(t0);
        let mut called = false;
        assert!(r
            .attempt(t0, || -> Result<(), ()> {
                called = true;
                Ok(())
            })
            .is_none());
        assert!(!called);
    }
}
