//! Sounds that are exact by nature and matter to earsight's users, synthesized from their
//! specifications: the smoke-alarm temporal-3 pattern, a two-tone doorbell, a phone ring,
//! microwave beeps, a kettle whistle, a car horn. Each variant (a seed) shifts pitch, timing and
//! timbre a little, so that a variant plays the role of one recording.

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The synthesized source classes.
pub const CLASSES: [&str; 6] = [
    "smoke_alarm",
    "doorbell",
    "phone_ring",
    "microwave_beeps",
    "kettle_whistle",
    "car_horn",
];

/// A tone burst: `partials` as (frequency multiple, amplitude), with attack and release ramps
/// of `ramp` seconds and an exponential decay rate (0 = sustained).
fn burst(
    out: &mut [f32],
    rate: f32,
    start: f32,
    length: f32,
    hz: f32,
    partials: &[(f32, f32)],
    decay: f32,
) {
    let ramp = 0.005;
    let first = (start * rate) as usize;
    let n = (length * rate) as usize;
    for i in 0..n.min(out.len().saturating_sub(first)) {
        let t = i as f32 / rate;
        let envelope =
            (t / ramp).min(1.0) * ((length - t) / ramp).clamp(0.0, 1.0) * (-decay * t).exp();
        let s: f32 = partials
            .iter()
            .map(|&(k, a)| a * (2.0 * PI * hz * k * t).sin())
            .sum();
        out[first + i] += envelope * s;
    }
}

/// `seconds` of the class's sound at `rate` Hz, peak-normalised to 0.5. `variant` picks the
/// pitch, timing and timbre deviations deterministically.
pub fn render(class: &str, variant: u64, rate: u32, seconds: f32) -> Option<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(variant ^ 0x5eed_0f50_u64);
    let r = rate as f32;
    let mut out = vec![0.0f32; (seconds * r) as usize];
    let detune: f32 = rng.random_range(0.97..1.03);
    let pace: f32 = rng.random_range(0.95..1.05);
    match class {
        // NFPA 72 temporal-3: three 0.5 s beeps 0.5 s apart, then 1.5 s off; piezo near 3 kHz.
        "smoke_alarm" => {
            let hz = 3100.0 * detune;
            let mut t = rng.random_range(0.0..0.5);
            while t < seconds {
                for k in 0..3 {
                    burst(
                        &mut out,
                        r,
                        t + k as f32 * pace,
                        0.5 * pace,
                        hz,
                        &[(1.0, 1.0), (3.0, 0.2)],
                        0.0,
                    );
                }
                t += 4.0 * pace;
            }
        }
        // Ding-dong: a struck bar at about E5, then C5, each ringing down.
        "doorbell" => {
            let t = rng.random_range(0.2..1.0);
            let bar = [(1.0, 1.0), (2.76, 0.4), (5.4, 0.15)];
            burst(&mut out, r, t, 1.2, 659.0 * detune, &bar, 2.5);
            burst(&mut out, r, t + 0.6 * pace, 2.0, 523.0 * detune, &bar, 2.0);
        }
        // North American ring: 440 + 480 Hz, 2 s on, 4 s off.
        "phone_ring" => {
            let mut t = rng.random_range(0.0..1.0);
            while t < seconds {
                burst(
                    &mut out,
                    r,
                    t,
                    2.0 * pace,
                    440.0 * detune,
                    &[(1.0, 1.0), (480.0 / 440.0, 1.0)],
                    0.0,
                );
                t += 6.0 * pace;
            }
        }
        // Three short beeps near 2 kHz.
        "microwave_beeps" => {
            let t = rng.random_range(0.2..2.0);
            for k in 0..3 {
                burst(
                    &mut out,
                    r,
                    t + k as f32 * 0.6 * pace,
                    0.3 * pace,
                    2000.0 * detune,
                    &[(1.0, 1.0), (3.0, 0.3)],
                    0.0,
                );
            }
        }
        // A whistle rising in pitch and loudness, with breath noise.
        "kettle_whistle" => {
            let (f0, f1) = (1700.0 * detune, 2300.0 * detune);
            let mut phase = 0.0f32;
            for (i, x) in out.iter_mut().enumerate() {
                let t = i as f32 / r;
                let progress = (t / seconds).min(1.0);
                phase += 2.0 * PI * (f0 + (f1 - f0) * progress) / r;
                let noise: f32 = rng.random_range(-1.0..1.0);
                *x = (0.2 + 0.8 * progress) * (phase.sin() + 0.15 * noise);
            }
        }
        // Two reed tones a third apart, rich in harmonics, in one or two blasts.
        "car_horn" => {
            let t = rng.random_range(0.2..2.0);
            let reed = [(1.0, 1.0), (2.0, 0.5), (3.0, 0.33), (4.0, 0.25), (5.0, 0.2)];
            let blasts = rng.random_range(1..=2);
            for k in 0..blasts {
                let at = t + k as f32 * 1.0 * pace;
                burst(&mut out, r, at, 0.7 * pace, 420.0 * detune, &reed, 0.0);
                burst(&mut out, r, at, 0.7 * pace, 525.0 * detune, &reed, 0.0);
            }
        }
        _ => return None,
    }
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 0.0 {
        out.iter_mut().for_each(|x| *x *= 0.5 / peak);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frequency with the most energy, by a coarse DFT scan.
    fn dominant_hz(x: &[f32], rate: f32, lo: f32, hi: f32) -> f32 {
        let mut best = (0.0, lo);
        let mut hz = lo;
        while hz < hi {
            let (mut re, mut im) = (0.0f32, 0.0f32);
            for (i, &s) in x.iter().enumerate() {
                let w = 2.0 * PI * hz * i as f32 / rate;
                re += s * w.cos();
                im += s * w.sin();
            }
            let p = re * re + im * im;
            if p > best.0 {
                best = (p, hz);
            }
            hz += 10.0;
        }
        best.1
    }

    #[test]
    fn every_class_renders_deterministically_at_its_pitch() {
        for class in CLASSES {
            let a = render(class, 3, 16_000, 6.0).unwrap();
            assert_eq!(a, render(class, 3, 16_000, 6.0).unwrap(), "{class}");
            assert_ne!(a, render(class, 4, 16_000, 6.0).unwrap(), "{class}");
            let peak = a.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!((peak - 0.5).abs() < 1e-6, "{class}");
        }
        let alarm = render("smoke_alarm", 1, 16_000, 4.0).unwrap();
        let hz = dominant_hz(&alarm[..16_000], 16_000.0, 2500.0, 3500.0);
        assert!((hz - 3100.0).abs() < 120.0, "smoke alarm at {hz} Hz");
        assert!(render("unicorn", 1, 16_000, 1.0).is_none());
    }
}
