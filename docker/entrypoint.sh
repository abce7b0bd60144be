#!/usr/bin/env bash
# Entry point of the s2s image (see docs/deploy.md).
#
#   (no arguments)         -> the dashboard: streamlit on $S2S_ADDRESS:$S2S_PORT (default 0.0.0.0:8501)
#   s2s ARGS...            -> the s2s command
#   SUBCOMMAND ARGS...     -> s2s SUBCOMMAND ARGS... (finetune, pretrain, evaluate, ...; also -h/--help/--version)
#   PROGRAM ARGS...        -> PROGRAM itself (torchrun, python, bash, streamlit, nvidia-smi, ...)
#
# Every branch ends in `exec`, so the program replaces this shell and receives SIGTERM from `docker stop`
# (tini, the image's PID 1, forwards it). Arguments are passed on as "$@" and never re-parsed by the shell.
set -euo pipefail

# The documented sub-commands go to s2s even if a program of the same name happens to be on PATH.
S2S_SUBCOMMANDS=(pretrain finetune evaluate reconstruct signal-order demo import-pth jobs)

if [[ $# -eq 0 ]]; then
    app="${S2S_APP:-/app/app.py}"
    if [[ ! -f "$app" ]]; then
        echo "s2s-entrypoint: dashboard script not found: $app (set S2S_APP to the path of app.py)" >&2
        exit 2
    fi
    exec streamlit run "$app" \
        --server.address "${S2S_ADDRESS:-0.0.0.0}" \
        --server.port "${S2S_PORT:-8501}" \
        --server.headless true \
        --server.fileWatcherType none \
        --browser.gatherUsageStats false
fi

first="$1"
if [[ "$first" == "s2s" ]]; then
    shift
    exec s2s "$@"
fi
if [[ "$first" == -* ]]; then
    exec s2s "$@"
fi
for name in "${S2S_SUBCOMMANDS[@]}"; do
    if [[ "$first" == "$name" ]]; then
        exec s2s "$@"
    fi
done
# A program on PATH (or a path to one) runs as given; anything else is left to s2s, which names the
# valid sub-commands if it is not one of them (new sub-commands therefore work without editing this list).
if [[ "$first" == */* ]] || type -P -- "$first" >/dev/null; then
    exec "$@"
fi
exec s2s "$@"
