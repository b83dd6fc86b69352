//! The gate: a window is captioned only when enough of it is louder than a threshold, so that a
//! quiet room produces no captions (and costs no model time).

use serde::Serialize;

/// The gate levels accepted: from far below any recording's noise floor (-200 dBFS lets every
/// window through) to full scale.
pub const LEVELS_DB: std::ops::RangeInclusive<f32> = -200.0..=0.0;

/// When a window counts as silent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateConfig {
    /// A frame is active when its RMS level reaches this many dB relative to full scale.
    pub threshold_db: f32,
    /// A window is captioned when its active frames add up to at least this many seconds.
    pub min_active_s: f64,
}

impl Default for GateConfig {
    /// -50 dBFS sits above the self-noise of typical MEMS microphones in a quiet room and far
    /// below speech or a dog bark at a few metres; 0.2 s catches a single knock or beep.
    fn default() -> Self {
        GateConfig {
            threshold_db: -50.0,
            min_active_s: 0.2,
        }
    }
}

impl GateConfig {
    /// A gate that lets every window through, silence included.
    pub fn open() -> GateConfig {
        GateConfig {
            threshold_db: f32::NEG_INFINITY,
            min_active_s: 0.0,
        }
    }

    /// Whether this gate can be used on windows of `window_s` seconds: a level within
    /// [`LEVELS_DB`] (or -inf, the [`GateConfig::open`] gate) and at most the whole window to be
    /// active; the refusal names the flag.
    pub fn check(&self, window_s: f64) -> Result<(), String> {
        let level = self.threshold_db;
        if !(LEVELS_DB.contains(&level) || level == f32::NEG_INFINITY) {
            return Err(format!(
                "--gate-db {}: expected a level from {} to {} dBFS, or -inf (no gate)",
                self.threshold_db,
                LEVELS_DB.start(),
                LEVELS_DB.end()
            ));
        }
        if !(0.0..=window_s).contains(&self.min_active_s) {
            return Err(format!(
                "--gate-active {} s: expected from 0 s to the window ({window_s:.2} s)",
                self.min_active_s
            ));
        }
        Ok(())
    }

    /// Decides on a window from its frames' levels (dBFS); `frame_s` is the frame hop in
    /// seconds.
    pub fn is_open(&self, levels: impl IntoIterator<Item = f32>, frame_s: f64) -> bool {
        let active = levels
            .into_iter()
            .filter(|&db| db >= self.threshold_db)
            .count();
        active as f64 * frame_s >= self.min_active_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_needs_enough_loud_frames() {
        let gate = GateConfig::default();
        let frame_s = 0.01;
        assert!(!gate.is_open(vec![f32::NEG_INFINITY; 1000], frame_s));
        assert!(!gate.is_open(vec![-70.0; 1000], frame_s));
        let mut levels = vec![-70.0; 1000];
        levels[..19].fill(-20.0);
        assert!(
            !gate.is_open(levels.clone(), frame_s),
            "0.19 s is too short"
        );
        levels[19] = -50.0;
        assert!(
            gate.is_open(levels, frame_s),
            "0.2 s at the threshold opens"
        );
    }
}
