//! `earsight caption`: files in, one caption per model window out.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use earsight::engine::Backend;
use earsight::stream::{self, with_tags, GateConfig};

use super::{open_captioner, DecodingArgs};

pub(super) fn caption(
    dir: &Path,
    backend: Backend,
    json: bool,
    decoding: &DecodingArgs,
    gate: GateConfig,
    files: &[PathBuf],
) -> Result<()> {
    let mut captioner = open_captioner(dir, backend)?;
    decoding.apply(&mut captioner)?;
    let frontend = &captioner.bundle().manifest().model.frontend;
    let window_s =
        frontend.clip_frames as f64 * frontend.hop_length as f64 / frontend.sample_rate as f64;
    gate.check(window_s).map_err(anyhow::Error::msg)?;
    let mut failures = 0;
    let mut out = std::io::stdout().lock();
    for file in files {
        // The first failed write ends the batch: a closed pipe quietly (whoever read the
        // captions has what it wanted), anything else (a full disk) as an error.
        let mut written = Ok(());
        let result = stream::caption_file(&mut captioner, file, &gate, |c| {
            if written.is_err() {
                return;
            }
            written = if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&c).expect("captions serialise")
                )
            } else if files.len() > 1 || c.start > 0.0 {
                writeln!(
                    out,
                    "{} [{:.2}-{:.2}s] {}",
                    c.file.display(),
                    c.start,
                    c.end,
                    with_tags(&c.caption, &c.tags)
                )
            } else {
                writeln!(out, "{}", with_tags(&c.caption, &c.tags))
            };
        });
        match written.and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => bail!("cannot write captions to stdout: {e}"),
            Ok(()) => {}
        }
        match result {
            Ok(captioned) => {
                if captioned.refused_samples > 0 {
                    eprintln!(
                        "earsight: {}: {} samples were not audio (NaN, infinite, or beyond \
                         [-16, 16]): heard as silence; the file is damaged",
                        file.display(),
                        captioned.refused_samples
                    );
                }
                if captioned.captions == 0 {
                    eprintln!(
                        "{}: silence (no {} s above {} dBFS in any window), no caption",
                        file.display(),
                        gate.min_active_s,
                        gate.threshold_db
                    );
                }
            }
            Err(e) => {
                eprintln!("earsight: {e}");
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} files could not be captioned", files.len());
    }
    Ok(())
}
