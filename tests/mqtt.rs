//! `listen --mqtt` against a real broker: Debian's mosquitto on a loopback port, watched with
//! mosquitto_sub. CI runs these (`.ci/run` installs mosquitto); the README's test command leaves
//! them out.
#![cfg(feature = "mqtt")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

mod common;
use common::{bundle, listen_on_a_pipe, repo, stderr};

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Broker(Child);

impl Broker {
    fn start(port: u16) -> Broker {
        let child = Command::new("mosquitto")
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (Debian's package mosquitto) is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every message on the broker, as `topic payload` lines, from the moment it has subscribed.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    fn start(port: u16) -> Watcher {
        // stdbuf: mosquitto_sub buffers its output when it is not a terminal.
        let mut child = Command::new("stdbuf")
            .args([
                "-oL",
                "mosquitto_sub",
                "-p",
                &port.to_string(),
                "-v",
                "-d",
                "-t",
                "#",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub (Debian's package mosquitto-clients) is installed");
        let (tx, lines) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut w = Watcher {
            child,
            lines,
            seen: Vec::new(),
        };
        w.wait_for(|l| l.contains("received SUBACK"));
        w
    }

    /// Waits (at most 30 s) for a line that `wanted` accepts, and returns it.
    fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("not seen; seen so far: {:#?}", self.seen));
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A recording as raw 16 kHz s16le.
fn pcm(path: &str) -> Vec<u8> {
    earsight::audio::read_all(&repo().join(path), 16_000)
        .unwrap()
        .iter()
        .flat_map(|x| ((x * 32767.0) as i16).to_le_bytes())
        .collect()
}

fn summary_line(err: &str, key: &str) -> serde_json::Value {
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("{{\"{key}\"")))
        .unwrap_or_else(|| panic!("no {key} line in {err}"));
    serde_json::from_str::<serde_json::Value>(line).unwrap()[key].clone()
}

#[test]
#[ignore = "ci: needs Debian's mosquitto"]
fn events_alerts_status_and_discovery_reach_the_broker_and_survive_its_restart() {
    let port = free_port();
    let broker = Broker::start(port);
    let mut watcher = Watcher::start(port);
    let url = format!("mqtt://127.0.0.1:{port}");
    let args = [
        "--window",
        "2",
        "--hop",
        "2",
        "--alert",
        "dog_barking",
        "--mqtt",
        &url,
        "--mqtt-name",
        "Hall",
    ];
    let mut listen = listen_on_a_pipe(&repo().join("models/mini"), &args, Stdio::null());
    let mut stdin = listen.stdin.take().unwrap();
    let dog = pcm("models/samples/dog.ogg");
    stdin.write_all(&dog).unwrap();
    stdin.flush().unwrap();

    watcher.wait_for(|l| l == "earsight/hall/status online");
    let config = watcher.wait_for(|l| {
        l.starts_with("homeassistant/binary_sensor/earsight_hall/dog_barking/config ")
    });
    let config: serde_json::Value =
        serde_json::from_str(config.split_once(' ').unwrap().1).unwrap();
    assert_eq!(config["name"], "Dog barking heard");
    assert_eq!(config["state_topic"], "earsight/hall/alert/dog_barking");
    assert_eq!(config["availability_topic"], "earsight/hall/status");
    watcher.wait_for(|l| l.starts_with("homeassistant/sensor/earsight_hall/caption/config "));
    let event = watcher.wait_for(|l| l.starts_with("earsight/hall/event "));
    let event: serde_json::Value = serde_json::from_str(event.split_once(' ').unwrap().1).unwrap();
    assert!(event["caption"].is_string(), "{event}");
    watcher.wait_for(|l| l == "earsight/hall/alert/dog_barking ON");
    watcher.wait_for(|l| l.starts_with("earsight/hall/alert {"));

    // The broker goes away while sounds go on: the bark ends (a silence closes its event) and
    // a new one begins. Then the broker comes back on the same port.
    drop(watcher);
    drop(broker);
    stdin.write_all(&vec![0u8; 16_000 * 2 * 4]).unwrap();
    stdin.write_all(&dog).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _broker = Broker::start(port);
    let mut watcher = Watcher::start(port);
    watcher.wait_for(|l| l == "earsight/hall/status online");
    // What was heard while it was away was kept and arrives now: the first bark's whole span,
    // and the start of the second.
    let event_json = |l: &str| -> Option<serde_json::Value> {
        let json = l.strip_prefix("earsight/hall/event ")?;
        Some(serde_json::from_str(json).unwrap())
    };
    watcher.wait_for(|l| event_json(l).is_some_and(|e| e["final"] == true && e["start"] == 0.0));
    watcher.wait_for(|l| event_json(l).is_some_and(|e| e["start"].as_f64().unwrap() >= 10.0));
    drop(stdin);
    let out = listen.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    watcher.wait_for(|l| l == "earsight/hall/status offline");
    let mqtt = summary_line(&err, "mqtt");
    assert_eq!(mqtt["connections"], 2, "{mqtt}");
    assert!(mqtt["connection_errors"].as_u64().unwrap() >= 1, "{mqtt}");
    assert_eq!(mqtt["dropped"], 0, "{mqtt}");
}

#[test]
#[ignore = "ci: needs Debian's mosquitto"]
fn with_no_broker_for_long_the_queue_is_bounded_and_drops_are_counted() {
    let port = free_port();
    // Many short windows of the test bundle (random words: most captions differ), no broker.
    let noise: Vec<u8> = (0u32..16_000 * 120)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 16) as i16 / 4).to_le_bytes())
        .flat_map(|b| b.into_iter())
        .collect();
    let url = format!("mqtt://127.0.0.1:{port}");
    let args = [
        "--window",
        "1",
        "--hop",
        "0.1",
        "--gate-db",
        "-200",
        "--mqtt",
        &url,
    ];
    let mut listen = listen_on_a_pipe(&bundle(), &args, Stdio::null());
    let mut stdin = listen.stdin.take().unwrap();
    stdin.write_all(&noise).unwrap();
    drop(stdin);
    let out = listen.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let mqtt = summary_line(&err, "mqtt");
    let summary = summary_line(&err, "summary");
    let events = summary["events"].as_u64().unwrap();
    assert!(events > 200, "{summary}");
    assert_eq!(mqtt["connections"], 0, "{mqtt}");
    assert!(mqtt["dropped"].as_u64().unwrap() > 0, "{mqtt}");
    assert!(mqtt["queued"].as_u64().unwrap() <= 2 * 256 + 10, "{mqtt}");
}
