//! MQTT for home automation (cargo feature `mqtt`): every event to `earsight/<name>/event`,
//! alerts to `earsight/<name>/alert` and, as `ON`, to `earsight/<name>/alert/<label>`, a
//! retained `earsight/<name>/status` (`online`, and `offline` through the broker's last will),
//! and Home Assistant discovery configs (a binary sensor per alert label, a sensor holding the
//! last caption), so the device shows up in Home Assistant by itself.
//!
//! The connection runs on a thread of its own and reconnects whenever the broker comes back;
//! events wait in a bounded queue meanwhile, and those that do not fit are dropped and counted.
//! Publishing never blocks the pipeline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Client, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS};
use serde::Serialize;

use super::events::{Event, Sink, Status};
use crate::backoff::Backoff;

/// Where and as whom to publish.
#[derive(Clone, Debug)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]` (port 1883 by default).
    pub url: String,
    /// The device's name in topics and in Home Assistant.
    pub name: String,
    pub credentials: Option<(String, String)>,
    /// The alert labels, each announced to Home Assistant as a binary sensor.
    pub alert_labels: Vec<String>,
    /// Seconds Home Assistant shows an alert's sensor as on.
    pub alert_on_s: u32,
}

/// Messages that may wait for the broker; more are dropped and counted.
pub const QUEUE: usize = 256;

/// What became of the messages.
#[derive(Debug, Default, Serialize)]
pub struct MqttCounts {
    /// Handed to the connection (sent, or waiting for the broker).
    pub queued: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Connections made (the first one included).
    pub connections: AtomicU64,
    /// Failed attempts and lost connections.
    pub connection_errors: AtomicU64,
}

/// A topic-safe form of a name: letters, digits, `_` and `-`.
pub fn slug(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Splits `mqtt://HOST[:PORT]`; credentials in the URL are refused (they would show in `ps`).
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
        format!("--mqtt {url}: expected mqtt://HOST[:PORT] (TLS is not supported yet)")
    })?;
    if rest.contains('@') {
        return Err(format!(
            "--mqtt {url}: credentials do not belong on the command line, where every user \
             can read them: put them in a file (--mqtt-credentials) or in \
             EARSIGHT_MQTT_USERNAME and EARSIGHT_MQTT_PASSWORD"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("--mqtt {url}: the port is 1 to 65535"))?;
            (host, port)
        }
        None => (rest, 1883),
    };
    if host.is_empty() {
        return Err(format!("--mqtt {url}: no host"));
    }
    Ok((host.to_string(), port))
}

/// A sink that publishes every event and status to the broker.
pub struct MqttSink {
    client: Client,
    topics: Topics,
    counts: Arc<MqttCounts>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct Topics {
    base: String,
    status: String,
}

impl MqttSink {
    /// Starts the connection; it comes up in the background, and reconnects by itself.
    pub fn connect(config: &MqttConfig) -> Result<MqttSink, String> {
        let (host, port) = parse_url(&config.url)?;
        let name = slug(&config.name);
        if name.is_empty() {
            return Err("--mqtt-name: an empty name".into());
        }
        let base = format!("earsight/{name}");
        let topics = Topics {
            status: format!("{base}/status"),
            base,
        };
        let mut options = MqttOptions::new(format!("earsight-{name}"), host, port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_request_channel_capacity(QUEUE)
            .set_last_will(LastWill::new(
                &topics.status,
                "offline",
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((user, password)) = &config.credentials {
            options.set_credentials(user, password);
        }
        let (client, mut connection) = Client::new(options, QUEUE);
        let counts = Arc::new(MqttCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let announce = announcements(config, &name, &topics);
        let (publisher, seen, stopping) = (client.clone(), counts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("earsight-mqtt".into())
            .spawn(move || {
                let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
                for event in connection.iter() {
                    match event {
                        Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                            seen.connections.fetch_add(1, Ordering::Relaxed);
                            log::info!("MQTT: connected");
                            backoff.reset();
                            for (topic, payload) in &announce {
                                let _ = publisher.try_publish(
                                    topic,
                                    QoS::AtLeastOnce,
                                    true,
                                    payload.clone(),
                                );
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if stopping.load(Ordering::Relaxed) {
                                break;
                            }
                            seen.connection_errors.fetch_add(1, Ordering::Relaxed);
                            let pause = backoff.next_pause();
                            log::warn!("MQTT: {e}; trying again in {pause:?}");
                            // In slices, so that the end of listening is not held up.
                            let until = std::time::Instant::now() + pause;
                            while std::time::Instant::now() < until
                                && !stopping.load(Ordering::Relaxed)
                            {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
            .map_err(|e| format!("--mqtt: cannot start its thread: {e}"))?;
        Ok(MqttSink {
            client,
            topics,
            counts,
            stop,
            thread: Some(thread),
        })
    }

    pub fn counts(&self) -> &MqttCounts {
        &self.counts
    }

    fn publish(&self, topic: &str, retain: bool, payload: Vec<u8>) {
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => self.counts.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counts.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// At the end of listening: says `offline`, gives the queue a moment to reach the broker,
    /// and disconnects.
    pub fn finish(&mut self, wait: Duration) {
        self.publish(&self.topics.status, true, b"offline".to_vec());
        std::thread::sleep(wait);
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.client.try_disconnect();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The retained messages sent on every connection: `online`, and Home Assistant's discovery
/// configs.
fn announcements(config: &MqttConfig, name: &str, topics: &Topics) -> Vec<(String, Vec<u8>)> {
    let device = serde_json::json!({
        "identifiers": [format!("earsight_{name}")],
        "name": format!("earsight {name}"),
        "manufacturer": "earsight",
    });
    let mut out = vec![(topics.status.clone(), b"online".to_vec())];
    for label in &config.alert_labels {
        let id = slug(label);
        let mut title = label.clone();
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let sensor = serde_json::json!({
            "name": format!("{title} heard"),
            "unique_id": format!("earsight_{name}_{id}"),
            "state_topic": format!("{}/alert/{id}", topics.base),
            "payload_on": "ON",
            "payload_off": "OFF",
            "off_delay": config.alert_on_s,
            "device_class": "sound",
            "availability_topic": topics.status,
            "device": device,
        });
        out.push((
            format!("homeassistant/binary_sensor/earsight_{name}/{id}/config"),
            sensor.to_string().into_bytes(),
        ));
    }
    let caption = serde_json::json!({
        "name": "Last sound",
        "unique_id": format!("earsight_{name}_caption"),
        "state_topic": format!("{}/event", topics.base),
        "value_template": "{{ value_json.caption }}",
        "availability_topic": topics.status,
        "icon": "mdi:ear-hearing",
        "device": device,
    });
    out.push((
        format!("homeassistant/sensor/earsight_{name}/caption/config"),
        caption.to_string().into_bytes(),
    ));
    out
}

impl Sink for MqttSink {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let json = serde_json::to_vec(event).expect("events serialise");
        self.publish(&format!("{}/event", self.topics.base), false, json.clone());
        if event.alert {
            self.publish(&format!("{}/alert", self.topics.base), false, json);
            for label in &event.alerts {
                let topic = format!("{}/alert/{}", self.topics.base, slug(label));
                self.publish(&topic, false, b"ON".to_vec());
            }
        }
        Ok(())
    }

    /// Heartbeats and the signs that audio stopped or came back, to `earsight/<name>/vitals`.
    fn status(&mut self, status: &Status) -> std::io::Result<()> {
        let json = serde_json::to_vec(status).expect("statuses serialise");
        self.publish(&format!("{}/vitals", self.topics.base), false, json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_credentials_kept_off_the_command_line() {
        assert_eq!(
            parse_url("mqtt://pi.local").unwrap(),
            ("pi.local".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://10.0.0.2:1884/").unwrap(),
            ("10.0.0.2".into(), 1884)
        );
        for (url, wanted) in [
            ("http://x", "expected mqtt://HOST[:PORT]"),
            (
                "mqtt://me:secret@x",
                "credentials do not belong on the command line",
            ),
            ("mqtt://x:0", "the port is 1 to 65535"),
            ("mqtt://:1883", "no host"),
        ] {
            let e = parse_url(url).unwrap_err();
            assert!(e.contains(wanted), "{url}: {e}");
        }
        assert_eq!(slug("Smoke or fire alarm"), "smoke_or_fire_alarm");
    }
}
