#!/usr/bin/env bash
# Gathers recorded household, animal, vehicle and speech sounds from Debian packages, and makes
# the beeps of smoke and carbon monoxide alarms, as extra foreground for `train teach`
# (tools/configs/teach-conv-home.json). Everything is written as 32 kHz mono 16-bit WAV, the
# teacher's rate, which also checks that every file decodes.
#
#     tools/fetch/home-sounds.sh DATA OUT
#
# OUT becomes a data directory for `train teach --data OUT`: a link to each folder of DATA
# (here ../shared/data), and home-sounds/ with tuxpaint/ (Debian tuxpaint-stamps-default: the
# stamps' sound effects, and every 20th of their spoken descriptions, voices in many languages;
# GPL-2+), freedesktop/ (Debian sound-theme-freedesktop: phone, alarm clock and desktop sounds;
# GPL-2+ / CC BY-SA 3.0), lincity/ (Debian lincity-ng-data: a city's sounds; GPL-2+), alarms/
# (made here with sox) and CREDITS.md. Needs apt-get (to download, not to install), dpkg-deb and
# sox.
set -euo pipefail
data=${1:?usage: home-sounds.sh DATA OUT}
out=${2:?usage: home-sounds.sh DATA OUT}
data=$(cd "$data" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
for folder in "$data"/*/; do
    ln -sfn "${folder%/}" "$out/$(basename "$folder")"
done
dest=$out/home-sounds
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download -q tuxpaint-stamps-default sound-theme-freedesktop lincity-ng-data
for deb in *.deb; do dpkg-deb -x "$deb" root; done

# Re-encodes $1 as $dest/$2; a file sox cannot read is left out and named.
wav() {
    mkdir -p "$(dirname "$dest/$2")"
    sox -q "$1" -r 32000 -c 1 -b 16 "$dest/$2" 2>/dev/null || {
        echo "left out (sox cannot read it): $1" >&2
        rm -f "$dest/$2"
    }
}

stamps=root/usr/share/tuxpaint/stamps
find "$stamps" -type f \( -name '*.ogg' -o -name '*.wav' \) | LC_ALL=C sort > stamps.txt
grep -v '_desc' stamps.txt | grep -vE '/symbols/(alphabets|math)/' > effects.txt
grep '_desc' stamps.txt | awk 'NR % 20 == 1' > speech.txt
while read -r f; do
    rel=${f#"$stamps"/}
    wav "$f" "tuxpaint/effects/${rel%.*}.wav"
done < effects.txt
while read -r f; do
    rel=${f#"$stamps"/}
    wav "$f" "tuxpaint/speech/${rel%.*}.wav"
done < speech.txt
for f in root/usr/share/sounds/freedesktop/stereo/*.oga; do
    wav "$f" "freedesktop/$(basename "${f%.*}").wav"
done
for f in root/usr/share/games/lincity-ng/sounds/*.wav; do
    wav "$f" "lincity/$(basename "$f")"
done

# Smoke alarms sound the temporal-three pattern (ISO 8201: three 0.5 s beeps 0.5 s apart, then
# 1.5 s of quiet), carbon monoxide alarms the temporal-four (four 0.1 s beeps 0.1 s apart, then
# 5 s), both from piezo sounders near 3 kHz; each at five pitches, dry and in a room.
mkdir -p "$dest/alarms"
for hz in 2800 3000 3100 3250 3400; do
    sox -n -r 32000 -c 1 beep3.wav synth 0.5 square "$hz" vol 0.4
    sox -n -r 32000 -c 1 beep4.wav synth 0.1 square "$hz" vol 0.4
    sox -n -r 32000 -c 1 gap05.wav trim 0 0.5
    sox -n -r 32000 -c 1 gap01.wav trim 0 0.1
    sox -n -r 32000 -c 1 gap15.wav trim 0 1.5
    sox beep3.wav gap05.wav beep3.wav gap05.wav beep3.wav gap15.wav \
        beep3.wav gap05.wav beep3.wav gap05.wav beep3.wav gap15.wav -b 16 t3.wav
    sox beep4.wav gap01.wav beep4.wav gap01.wav beep4.wav gap01.wav beep4.wav \
        gap15.wav gap15.wav -b 16 t4.wav
    for p in t3 t4; do
        cp "$p.wav" "$dest/alarms/${p}_${hz}.wav"
        sox "$p.wav" "$dest/alarms/${p}_${hz}_room.wav" reverb 50 vol 0.7
    done
done

cat > "$dest/CREDITS.md" <<'CREDITS'
# Home sounds for distillation

Made by `tools/fetch/home-sounds.sh` from Debian packages (re-encoded to 32 kHz mono WAV):
- tuxpaint/: `tuxpaint-stamps-default` (Tux Paint stamps, GPL-2+; per-stamp credits in the
  package's /usr/share/doc/tuxpaint-stamps-default/): its sound effects, and every 20th of its
  spoken stamp descriptions.
- freedesktop/: `sound-theme-freedesktop` (GPL-2+, CC BY-SA 3.0 and CC BY 3.0 per file; see the
  package's copyright file).
- lincity/: `lincity-ng-data` (GPL-2+).
- alarms/: made by the project with sox (temporal-three and temporal-four beeps).
CREDITS
find "$dest" -name '*.wav' | wc -l | xargs echo "wav files in $dest:"
