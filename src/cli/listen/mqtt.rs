//! `listen --mqtt`: the connection to the broker from the flags, and its counts at the end.

use anyhow::{bail, Result};

#[cfg(not(feature = "mqtt"))]
use earsight::stream::Sink;

use super::ListenArgs;
#[cfg(feature = "mqtt")]
use {super::count, anyhow::Context, std::time::Duration};

#[cfg(feature = "mqtt")]
pub(super) type Publisher = earsight::stream::mqtt::MqttSink;

#[cfg(feature = "mqtt")]
pub(super) fn connect(args: &ListenArgs, alert_labels: Vec<String>) -> Result<Option<Publisher>> {
    use earsight::stream::mqtt::{MqttConfig, MqttSink};
    let Some(url) = &args.mqtt else {
        return Ok(None);
    };
    let name = match &args.mqtt_name {
        Some(name) => name.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "earsight".into()),
    };
    let credentials = match &args.mqtt_credentials {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--mqtt-credentials {}", path.display()))?;
            let mut lines = text.lines();
            match (lines.next(), lines.next()) {
                (Some(user), Some(password)) => Some((user.to_string(), password.to_string())),
                _ => bail!(
                    "--mqtt-credentials {}: expected the user name on the first line and the \
                     password on the second",
                    path.display()
                ),
            }
        }
        None => std::env::var("EARSIGHT_MQTT_USERNAME").ok().map(|user| {
            (
                user,
                std::env::var("EARSIGHT_MQTT_PASSWORD").unwrap_or_default(),
            )
        }),
    };
    let config = MqttConfig {
        url: url.clone(),
        name,
        credentials,
        alert_labels,
        alert_on_s: args.alert_cooldown.max(1.0) as u32,
    };
    MqttSink::connect(&config)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

#[cfg(feature = "mqtt")]
pub(super) fn finish(publisher: Option<Publisher>, json: bool) {
    let Some(mut publisher) = publisher else {
        return;
    };
    publisher.finish(Duration::from_millis(500));
    let c = publisher.counts();
    let n = count;
    if json {
        eprintln!("{}", serde_json::json!({ "mqtt": c }));
    } else {
        eprintln!(
            "  MQTT             {} messages queued, {} dropped; {} connections, {} errors",
            n(&c.queued),
            n(&c.dropped),
            n(&c.connections),
            n(&c.connection_errors)
        );
    }
}

/// A build without MQTT: `--mqtt` says how to get one.
#[cfg(not(feature = "mqtt"))]
pub(super) enum Publisher {}

#[cfg(not(feature = "mqtt"))]
impl Sink for Publisher {
    fn event(&mut self, _: &earsight::stream::Event) -> std::io::Result<()> {
        match *self {}
    }
}

#[cfg(not(feature = "mqtt"))]
pub(super) fn connect(args: &ListenArgs, _alert_labels: Vec<String>) -> Result<Option<Publisher>> {
    if args.mqtt.is_some() {
        bail!(
            "this earsight was built without MQTT: build it with the `mqtt` feature (`cargo \
             install --path . --features mqtt`)"
        );
    }
    Ok(None)
}

#[cfg(not(feature = "mqtt"))]
pub(super) fn finish(_: Option<Publisher>, _: bool) {}
