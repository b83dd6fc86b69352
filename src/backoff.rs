//! How long to wait before trying again after a failure (a capture device gone, a broker
//! unreachable): soon at first, then twice as long each time up to a ceiling, and never giving
//! up, since a device that runs for months must come back whenever what it lost does.

use std::time::Duration;

/// The pauses between tries: `first`, doubling up to `longest`.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
    pause: Duration,
}

impl Backoff {
    pub fn new(first: Duration, longest: Duration) -> Backoff {
        Backoff {
            first,
            longest,
            pause: first,
        }
    }

    /// The pause before the next try; the one after it will be twice as long (up to the
    /// ceiling).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(self.longest);
        pause
    }

    /// After a success: the next failure starts again from the first pause.
    pub fn reset(&mut self) {
        self.pause = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling_and_start_over_after_a_success() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(250), ms(1000));
        let pauses: Vec<_> = (0..5).map(|_| b.next_pause()).collect();
        assert_eq!(pauses, [ms(250), ms(500), ms(1000), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.next_pause(), ms(250));
    }
}
