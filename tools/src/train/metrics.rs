//! What a run reports as it goes: the JSON-lines metrics log, which a resume trims back to its
//! checkpoint, and the progress bar.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::State;

/// The metrics log: one JSON object a line, flushed as written so a crash keeps what was done.
pub struct MetricsLog(BufWriter<File>);

impl MetricsLog {
    /// The log of a run resumed at `state`: the lines written after that checkpoint (by a run
    /// killed before its next one) are dropped, so the resumed log reads as an uninterrupted
    /// run's. A last line cut short by the kill is dropped too; any other line that is not
    /// JSON is an error.
    pub fn resume(path: &Path, state: &State) -> Result<MetricsLog> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut kept = String::with_capacity(text.len());
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(value) => value,
                Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => break,
                Err(e) => bail!("{}: line {}: not JSON: {e}", path.display(), i + 1),
            };
            let number = |key: &str| value.get(key).and_then(serde_json::Value::as_u64);
            let done = match (number("step"), number("epoch")) {
                (Some(step), _) => step as usize <= state.step,
                (None, Some(epoch)) => epoch as usize <= state.epoch,
                (None, None) => true,
            };
            if done {
                kept.push_str(line);
            }
        }
        if kept.len() != text.len() {
            let tmp = path.with_extension("jsonl.partial");
            std::fs::write(&tmp, &kept).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        }
        MetricsLog::open(path, true)
    }

    pub fn open(path: &Path, append: bool) -> Result<MetricsLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(MetricsLog(BufWriter::new(file)))
    }

    pub fn write(&mut self, line: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.0, line)?;
        self.0.write_all(b"\n")?;
        self.0.flush()?;
        Ok(())
    }
}

/// A progress bar on stderr, or nothing (tests, `--quiet`).
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(show: bool, total: u64, done: u64, stage: &str) -> Progress {
        let bar = if show {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{stage} {{bar:30}} {{pos}}/{{len}} steps {{elapsed}}<{{eta}} {{msg}}"
            ))
            .expect("a valid template"),
        );
        bar.set_position(done);
        Progress(bar)
    }

    pub fn step(&self, loss: f64) {
        self.0.inc(1);
        self.0.set_message(format!("loss {loss:.4}"));
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_log_drops_what_came_after_its_checkpoint_and_refuses_a_broken_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let state = State {
            step: 3,
            epoch: 1,
            ..State::default()
        };
        let written = [
            r#"{"epoch":0,"val_loss":2.0}"#,
            r#"{"step":1,"epoch":1,"loss":1.5}"#,
            r#"{"step":2,"epoch":1,"loss":1.4}"#,
            r#"{"epoch":1,"val_loss":1.3,"best":true}"#,
            r#"{"step":3,"epoch":2,"loss":1.2}"#,
            r#"{"step":4,"epoch":2,"loss":1.1}"#,
            r#"{"epoch":2,"val_loss":1.0,"best":true}"#,
        ];
        std::fs::write(&path, written.join("\n") + "\n{\"step\":5,\"ep").unwrap();
        let mut log = MetricsLog::resume(&path, &state).unwrap();
        log.write(&serde_json::json!({"step": 4})).unwrap();
        drop(log);
        let kept = std::fs::read_to_string(&path).unwrap();
        assert_eq!(kept, written[..5].join("\n") + "\n{\"step\":4}\n");

        std::fs::write(&path, "{\"epoch\":0}\nnot json\n{\"step\":1}\n").unwrap();
        let err = format!("{:#}", MetricsLog::resume(&path, &state).err().unwrap());
        assert!(err.contains("metrics.jsonl: line 2: not JSON"), "{err}");
    }
}
