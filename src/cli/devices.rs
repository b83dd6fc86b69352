//! `earsight devices`: the input devices `listen --device` can name.

use anyhow::Result;

#[cfg(not(feature = "mic"))]
use super::MIC_HINT;

#[cfg(feature = "mic")]
pub(super) fn devices(json: bool) -> Result<()> {
    let devices = earsight::audio::mic::list_input_devices()?;
    if json {
        println!("{}", serde_json::to_string(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        println!("no audio input devices found");
    }
    for d in &devices {
        println!(
            "{:>3}: {}{}",
            d.index,
            d.name,
            if d.is_default { "  (default)" } else { "" }
        );
        println!("     id       {}", d.id);
        if let Some(c) = &d.default_config {
            println!("     default  {c}");
        }
        if !d.rates.is_empty() {
            let rates: Vec<String> = d
                .rates
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        format!("{lo}")
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            println!("     rates    {} Hz", rates.join(", "));
        }
    }
    Ok(())
}

#[cfg(not(feature = "mic"))]
pub(super) fn devices(_json: bool) -> Result<()> {
    anyhow::bail!("this earsight was built without microphone support; {MIC_HINT}")
}
