//! CI's short seeded pass over every fuzz target: no panic, no slow input, bounded memory. The
//! long runs are `earsight-fuzz` (tools/bench/FINDINGS.md, "Fuzzing").

use std::time::Duration;

use earsight_fuzz::{fuzz, targets, Budget};

#[test]
fn every_target_survives_a_short_seeded_pass() {
    for target in targets::all() {
        // Audio files decode real recordings: fewer of them in the same time.
        let inputs = if target.name == "audio-file" {
            600
        } else {
            20_000
        };
        let budget = Budget {
            inputs,
            time: Duration::from_secs(120),
            slow: Duration::from_secs(2),
            hang: Duration::from_secs(60),
        };
        let report = fuzz(&target, 1, &budget, None, |_| {});
        println!("{report:?}");
        assert_eq!(
            report.panics, 0,
            "{}: {:?}",
            target.name, report.first_panic
        );
        assert_eq!(
            report.slow, 0,
            "{}: slowest {} ms",
            target.name, report.slowest_ms
        );
        assert_eq!(report.inputs, inputs, "{}: ran out of time", target.name);
        assert!(
            report.outcomes > 1,
            "{}: every input went the same way",
            target.name
        );
        assert!(report.peak_rss_mb.unwrap_or(0.0) < 1024.0, "{report:?}");
    }
}
