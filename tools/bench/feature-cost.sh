#!/usr/bin/env bash
# What the web page (cargo feature `http`) costs the runtime: the same commit built in release
# without and with it, side by side in one run, on this machine. For each build: the stripped
# binary's size; `listen`'s peak RSS on a recording (median of seven runs, the two builds taking
# turns, as the figure varies by some 10 MB from run to run); and, on a stdin that
# never sends a sample, peak RSS and CPU over IDLE seconds (the build with the feature serves
# `--http` with one page connected, as a phone would be).
#
# usage: tools/bench/feature-cost.sh [IDLE_SECONDS]   (default 20; needs curl and python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
idle=${1:-20}
clip=models/samples/dog.ogg
out=target/feature-cost
mkdir -p "$out"

# One `listen --json` run's summary field, from its stderr.
field() { python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: v = json.loads(line)
    except ValueError: continue
    if "summary" in v: print(v["summary"][sys.argv[2]])' "$1" "$2"; }

median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

# The build with the feature serves the page; the other cannot.
serving() { if [ "$1" = http ]; then echo --http 127.0.0.1:0; fi; }

for features in default http; do
    if [ "$features" = default ]; then
        cargo build --release --locked -q -p earsight
    else
        cargo build --release --locked -q -p earsight --features "$features"
    fi
    cp target/release/earsight "$out/earsight-$features"
    strip "$out/earsight-$features"
done

declare -A rss
for _ in 1 2 3 4 5 6 7; do
    for features in default http; do
        # shellcheck disable=SC2046 # the flags split on purpose
        "$out/earsight-$features" listen --json --model models/mini --input "$clip" \
            $(serving "$features") >/dev/null 2>"$out/file.err"
        rss[$features]+=" $(field "$out/file.err" peak_rss_mb)"
    done
done

printf '| build | binary, stripped (bytes) | peak RSS, listen of %s (MB, median of 7) | peak RSS, idle %s s (MB) | CPU, idle (%% of a core) |\n' "$clip" "$idle"
printf '|---|---|---|---|---|\n'
for features in default http; do
    exe=$out/earsight-$features
    size=$(stat -c %s "$exe")
    read -r -a serve <<<"$(serving "$features")"

    # Idle: stdin open and silent; SIGTERM after IDLE seconds ends it with its summary.
    sleep $((idle + 30)) | "$exe" listen --json --model models/mini --input - --rate 16000 \
        "${serve[@]}" >/dev/null 2>"$out/idle.err" &
    listener=$!
    page=
    if [ ${#serve[@]} -gt 0 ]; then
        until addr=$(sed -n 's|^live captions at http://\(.*\)/$|\1|p' "$out/idle.err") && [ -n "$addr" ]; do
            sleep 0.1
        done
        curl -s -N "http://$addr/events" >/dev/null &
        page=$!
    fi
    sleep "$idle"
    # $! of a background pipeline is its last command: earsight.
    kill -TERM "$listener"
    wait "$listener" || true
    if [ -n "$page" ]; then kill "$page" 2>/dev/null || true; fi
    pkill -f "^sleep $((idle + 30))$" || true
    # shellcheck disable=SC2086 # the runs' figures split on purpose
    printf '| %s | %s | %s | %s | %s |\n' "$features" "$size" "$(median ${rss[$features]})" \
        "$(field "$out/idle.err" peak_rss_mb)" "$(field "$out/idle.err" cpu_percent)"
done
