//! The capture ring: a lock-free single-producer single-consumer queue of mono samples between
//! the audio callback and the rest of the pipeline.
//!
//! The producer side is what an audio callback may touch: pushing never blocks, allocates or
//! locks. When the consumer falls behind and the ring is full, the samples that do not fit are
//! dropped and counted, so that an overrun is reported instead of silently stretching time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use heapless::spsc::{Consumer, Producer, Queue};

/// Slots in the ring: 2.7 s of mono audio at 48 kHz, enough to ride out a consumer that is
/// descheduled for a while on a busy board.
pub const RING_SLOTS: usize = 1 << 17;

type SampleQueue = Queue<f32, RING_SLOTS>;

/// Counters shared by both ends.
#[derive(Default)]
struct Counters {
    pushed: AtomicU64,
    dropped: AtomicU64,
}

/// The callback's end of the ring.
pub struct RingProducer {
    queue: Producer<'static, f32>,
    counters: Arc<Counters>,
}

/// The pipeline's end of the ring.
pub struct RingConsumer {
    queue: Consumer<'static, f32>,
    counters: Arc<Counters>,
}

/// Makes a ring. heapless splits a queue by borrowing it, and the callback needs `'static`
/// ends, so the queue is leaked: one fixed allocation per capture stream, made before the
/// stream starts.
pub fn capture_ring() -> (RingProducer, RingConsumer) {
    let queue: &'static mut SampleQueue = Box::leak(Box::new(SampleQueue::new()));
    let (producer, consumer) = queue.split();
    let counters = Arc::new(Counters::default());
    (
        RingProducer {
            queue: producer,
            counters: counters.clone(),
        },
        RingConsumer {
            queue: consumer,
            counters,
        },
    )
}

impl RingProducer {
    /// Pushes interleaved frames of `channels` samples, averaged to mono after `to_f32`.
    /// Whatever does not fit is dropped and counted. Never blocks, allocates or locks.
    pub fn push_interleaved<T: Copy>(
        &mut self,
        data: &[T],
        channels: usize,
        to_f32: impl Fn(T) -> f32,
    ) {
        let channels = channels.max(1);
        let scale = 1.0 / channels as f32;
        let mut pushed = 0u64;
        let mut dropped = 0u64;
        for frame in data.chunks_exact(channels) {
            let mono = if channels == 1 {
                to_f32(frame[0])
            } else {
                frame.iter().map(|&s| to_f32(s)).sum::<f32>() * scale
            };
            match self.queue.enqueue(mono) {
                Ok(()) => pushed += 1,
                Err(_) => dropped += 1,
            }
        }
        self.counters.pushed.fetch_add(pushed, Ordering::Relaxed);
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

impl RingConsumer {
    /// Moves every sample now in the ring to the end of `out`; returns how many.
    pub fn drain_into(&mut self, out: &mut Vec<f32>) -> usize {
        let before = out.len();
        out.reserve(self.queue.len());
        while let Some(x) = self.queue.dequeue() {
            out.push(x);
        }
        out.len() - before
    }

    /// Samples waiting in the ring.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the ring holds no samples.
    pub fn is_empty(&self) -> bool {
        self.queue.len() == 0
    }

    /// Samples that entered the ring since it was made.
    pub fn pushed(&self) -> u64 {
        self.counters.pushed.load(Ordering::Relaxed)
    }

    /// Samples lost because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// A tiny deterministic generator for chunk sizes.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Sample `i` carries the value `i` (exact in f32 below 2^24), so losses are visible.
    fn produce(mut producer: RingProducer, total: u64, seed: u64, pause_when_full: bool) {
        let mut state = seed;
        let mut i = 0u64;
        let mut chunk = Vec::with_capacity(1024);
        while i < total {
            let n = (next(&mut state) % 1024 + 1).min(total - i);
            chunk.clear();
            chunk.extend((i..i + n).map(|v| v as f32));
            if pause_when_full {
                while RING_SLOTS - 1 - producer.queue.len() < n as usize {
                    std::thread::yield_now();
                }
            }
            producer.push_interleaved(&chunk, 1, |x| x);
            i += n;
        }
    }

    #[test]
    fn a_consumer_that_keeps_up_loses_nothing() {
        let (producer, mut consumer) = capture_ring();
        let total = 3 * RING_SLOTS as u64;
        let handle = std::thread::spawn(move || produce(producer, total, 0x9e37_79b9, true));
        let mut got = Vec::new();
        while (got.len() as u64) < total {
            if consumer.drain_into(&mut got) == 0 {
                std::thread::yield_now();
            }
        }
        handle.join().unwrap();
        assert_eq!(consumer.dropped(), 0);
        assert_eq!(consumer.pushed(), total);
        assert!(got.iter().enumerate().all(|(i, &v)| v == i as f32));
    }

    #[test]
    fn drops_counted_equal_samples_lost_when_the_consumer_stalls() {
        let (producer, mut consumer) = capture_ring();
        let total = 4 * RING_SLOTS as u64;
        let stalled = Arc::new(AtomicBool::new(true));
        let flag = stalled.clone();
        let handle = std::thread::spawn(move || {
            produce(producer, total, 0x1234_5678, false);
            flag.store(false, Ordering::Release);
        });
        // Stall until the producer is done, then drain what survived.
        while stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        handle.join().unwrap();
        let mut got = Vec::new();
        consumer.drain_into(&mut got);
        let dropped = consumer.dropped();
        assert!(dropped > 0, "the stalled consumer must have lost samples");
        assert_eq!(got.len() as u64 + dropped, total);
        assert_eq!(consumer.pushed(), got.len() as u64);
        // What arrived is in order and none of it is invented.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert!(got.iter().all(|&v| v < total as f32));
    }

    #[test]
    fn frames_are_downmixed_and_converted() {
        let (mut producer, mut consumer) = capture_ring();
        let stereo: [i16; 6] = [i16::MAX, 0, -16384, -16384, 100, 100];
        producer.push_interleaved(&stereo, 2, |s| s as f32 / 32768.0);
        let mut got = Vec::new();
        consumer.drain_into(&mut got);
        assert_eq!(got.len(), 3);
        assert!((got[0] - 0.5).abs() < 1e-4);
        assert_eq!(got[1], -0.5);
        assert_eq!(got[2], 100.0 / 32768.0);
    }
}
