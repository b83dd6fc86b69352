#!/usr/bin/env python3
"""A soak of `earsight listen`: hours of raw f32le audio on stdin at full speed, with silence,
noise, clipping, NaN and infinity bursts, stretches where the writer switches to s16le, and
stalls mixed in; the listener's resident memory sampled all along.

  soak.py OUT_DIR [--hours 24] [--earsight target/release/earsight] [--model models/mini]
          [--seed 1]

Writes OUT_DIR/rss.csv (wall seconds, audio hours written, RSS and peak RSS in MB),
OUT_DIR/rss.png, the listener's events and log, and OUT_DIR/soak.json with what was fed against
what the summary counted. Exits non-zero when the listener fails, a count disagrees, or after
the first hour of audio the peak RSS grows by more than 1 MB or the RSS of the last hour is
more than 1 MB above that of the second. Needs matplotlib for the plot.
"""
import argparse
import array
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import wave

RATE = 16_000
BLOCK_S = 10
BLOCK = RATE * BLOCK_S
STALL_S = 7.0
STALL_LIMIT_S = 5
WARM_UP_HOURS = 1.0


def f32(samples):
    return array.array("f", samples).tobytes()


def tone(rng, n, level):
    a, b = rng.uniform(200, 900), rng.uniform(900, 3000)
    return [level * (math.sin(2 * math.pi * a * i / RATE) + 0.5 * math.sin(2 * math.pi * b * i / RATE))
            for i in range(n)]


def recording():
    """The fixture recording of a factory whistle (44.1 kHz), linearly resampled to 16 kHz and
    looped to a block."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "fixtures", "audio", "factory_whistle.wav")
    with wave.open(path) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    x = array.array("h", frames)
    out = []
    step = rate / RATE
    for i in range(int(len(x) / step) - 1):
        t = i * step
        j = int(t)
        out.append(((x[j] * (1 - (t - j))) + x[j + 1] * (t - j)) / 32768.0)
    return (out * (BLOCK // len(out) + 1))[:BLOCK]


def blocks(rng):
    """Each kind of 10 s block as bytes, with the non-audio samples it holds."""
    noise = [rng.gauss(0, 0.03) for _ in range(BLOCK)]
    quiet = [rng.gauss(0, 0.0003) for _ in range(BLOCK)]
    clipped = [max(-1.0, min(1.0, 3 * s)) for s in tone(rng, BLOCK, 0.6)]
    square = [1.0 if (i // 40) % 2 else -1.0 for i in range(BLOCK)]
    with_nan = tone(rng, BLOCK, 0.3)
    with_nan[RATE:RATE + RATE // 2] = [float("nan")] * (RATE // 2)
    with_nan[5 * RATE:5 * RATE + 100] = [float("inf")] * 50 + [float("-inf")] * 50
    s16_tone = array.array("h", (int(20000 * s) for s in tone(rng, BLOCK, 0.5))).tobytes()
    return {
        "silence": (f32([0.0] * BLOCK), 0),
        "noise": (f32(noise), 0),
        "quiet noise (-70 dBFS)": (f32(quiet), 0),
        "tones": (f32(tone(rng, BLOCK, 0.3)), 0),
        "clipping": (f32(clipped), 0),
        "square at full scale": (f32(square), 0),
        "recording": (f32(recording()), 0),
        "NaN and infinity burst": (f32(with_nan), RATE // 2 + 100),
        "s16le written into the f32le stream": (s16_tone, 0),
    }


WEIGHTS = {
    "silence": 3,
    "noise": 2,
    "quiet noise (-70 dBFS)": 2,
    "tones": 2,
    "clipping": 1,
    "square at full scale": 1,
    "recording": 3,
    "NaN and infinity burst": 1,
    "s16le written into the f32le stream": 1,
}


def memory_mb(pid):
    """The process's resident memory now and its peak so far (VmRSS, VmHWM), in MB."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(line.split()[1]) / 1024.0
    except OSError:
        return None
    if len(found) < 2:
        return None
    return found["VmRSS"], found["VmHWM"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--earsight", default="target/release/earsight")
    p.add_argument("--model", default="models/mini")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    kinds = blocks(rng)
    # The stream's first block is a recording: the format settles on real audio, as a capture
    # tool's stream would.
    names = list(WEIGHTS)
    total_blocks = int(args.hours * 3600 / BLOCK_S)
    stalls = sorted(rng.sample(range(total_blocks // 10, total_blocks), min(10, total_blocks // 20)))

    listener = subprocess.Popen(
        [args.earsight, "listen", "--input", "-", "--rate", str(RATE), "--format", "f32le",
         "--json", "--model", args.model, "--stall", str(STALL_LIMIT_S), "--heartbeat", "60"],
        stdin=subprocess.PIPE,
        stdout=open(os.path.join(args.out, "events.jsonl"), "w"),
        stderr=open(os.path.join(args.out, "listen.log"), "w"),
    )
    written_s = [0.0]
    samples = []
    done = threading.Event()
    started = time.time()

    def sample():
        while not done.is_set():
            mb = memory_mb(listener.pid)
            if mb is not None:
                samples.append((time.time() - started, written_s[0] / 3600.0) + mb)
            done.wait(2.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    fed = {n: 0 for n in names}
    non_audio = 0
    s16_bytes = 0
    last_report = 0.0
    # Blocks until the hours are fed: an s16le stretch is half as long as f32le audio.
    i = 0
    while written_s[0] < args.hours * 3600:
        name = "recording" if i == 0 else rng.choices(names, [WEIGHTS[n] for n in names])[0]
        data, bad = kinds[name]
        listener.stdin.write(data)
        fed[name] += 1
        non_audio += bad
        if name.startswith("s16le"):
            s16_bytes += len(data)
        written_s[0] += len(data) / 4 / RATE
        if i in stalls:
            listener.stdin.flush()
            time.sleep(STALL_S)
        if time.time() - last_report > 10:
            last_report = time.time()
            rss, peak = samples[-1][2:] if samples else (float("nan"), float("nan"))
            print(f"\r{written_s[0] / 3600:6.2f} of {args.hours} h of audio, "
                  f"{time.time() - started:7.0f} s, RSS {rss:.1f} MB, peak {peak:.1f} MB",
                  end="", file=sys.stderr)
        i += 1
    listener.stdin.close()
    code = listener.wait()
    done.set()
    sampler.join()
    print(file=sys.stderr)

    with open(os.path.join(args.out, "rss.csv"), "w") as f:
        f.write("wall_s,audio_h,rss_mb,peak_rss_mb\n")
        for row in samples:
            f.write("%.1f,%.4f,%.2f,%.2f\n" % row)
    summary = None
    with open(os.path.join(args.out, "listen.log")) as f:
        for line in f:
            if line.startswith('{"summary"'):
                summary = json.loads(line)["summary"]
    warm_up = min(WARM_UP_HOURS, args.hours / 4)
    warm = [row for row in samples if row[1] >= warm_up]
    hour = max(1.0, args.hours / 24) if args.hours >= 2 else args.hours / 4
    second_hour = [row[2] for row in warm if row[1] < warm_up + hour]
    last_hour = [row[2] for row in warm if row[1] >= args.hours - hour]
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    result = {
        "hours_of_audio": written_s[0] / 3600.0,
        "wall_s": time.time() - started,
        "exit_code": code,
        "blocks_fed": fed,
        "stalls_fed": len(stalls),
        "non_audio_samples_fed": non_audio,
        "s16le_samples_fed_as_f32le": s16_bytes // 4,
        "warm_up_hours": warm_up,
        "peak_rss_mb": {"after_warm_up": warm[0][3], "at_end": warm[-1][3]} if warm else None,
        "rss_mb": {
            "min_after_warm_up": min(r[2] for r in warm),
            "max_after_warm_up": max(r[2] for r in warm),
            "mean_hour_after_warm_up": mean(second_hour),
            "mean_last_hour": mean(last_hour),
        } if warm else None,
        "summary": summary,
    }
    problems = []
    if code != 0:
        problems.append(f"listen exited {code}")
    if summary is None:
        problems.append("no summary")
    else:
        if abs(summary["audio_s"] - written_s[0]) > 1.0:
            problems.append(f"audio_s {summary['audio_s']} against {written_s[0]:.1f} fed")
        if summary["stalls"] != len(stalls):
            problems.append(f"{summary['stalls']} stalls counted, {len(stalls)} fed")
        # Every NaN and infinity is refused; garbage floats from the s16le stretches as well,
        # so the count is at least the NaNs and at most all of those stretches besides.
        refused = summary["refused_samples"]
        if not non_audio <= refused <= non_audio + s16_bytes // 4:
            problems.append(f"{refused} refused samples, {non_audio} NaN/inf fed")
    if warm and warm[-1][3] - warm[0][3] > 1.0:
        problems.append(f"peak RSS grew by {warm[-1][3] - warm[0][3]:.2f} MB after warm-up")
    if warm and mean(last_hour) - mean(second_hour) > 1.0:
        problems.append(f"RSS of the last hour {mean(last_hour):.1f} MB against "
                        f"{mean(second_hour):.1f} MB after warm-up")
    result["problems"] = problems
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    plot(samples, os.path.join(args.out, "rss.png"), args.hours)
    sys.exit(1 if problems else 0)


def plot(samples, path, hours):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    hours_fed = [row[1] for row in samples]
    ax.plot(hours_fed, [row[2] for row in samples], lw=0.8, label="resident (VmRSS)")
    ax.plot(hours_fed, [row[3] for row in samples], lw=1.5, label="peak (VmHWM)")
    ax.legend(loc="lower right")
    ax.set_xlabel("hours of audio through listen (full speed)")
    ax.set_ylabel("resident memory (MB)")
    ax.set_title(f"earsight listen, {hours:g} h soak: RSS")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
