#!/usr/bin/env bash
# Runs every GPU check on a host with a real NVIDIA GPU, results under $OUT (default ./gpu-out).
# Usage (from the repo root, on the GPU host):
#   gpu/run_all.sh [CHECK ...]      CHECK = telemetry doctor engine estimate guard loader ui tmux
# The host needs torch (CUDA), transformers, safetensors, psutil, pynvml. textual and
# platformdirs come as wheels in .whl/ (see ../shared/gpu-host/wheels.sh); tmux as .debs in
# .whl/debs/ when the host has none (unpacked under /tmp, never over /).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>&1 | tail -2
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! command -v tmux >/dev/null 2>&1 && ls .whl/debs/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/tmuxroot
  for f in .whl/debs/*.deb; do dpkg -x "$f" /tmp/tmuxroot; done
  export PATH="/tmp/tmuxroot/usr/bin:$PATH"
  export LD_LIBRARY_PATH="/tmp/tmuxroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# A console script for the e2e tests: the checkout is on PYTHONPATH, so a tiny wrapper will do.
mkdir -p /tmp/gpubin
printf '#!/bin/sh\nexec python3 -m console.cli "$@"\n' > /tmp/gpubin/autoglm-console
chmod +x /tmp/gpubin/autoglm-console
export PATH="/tmp/gpubin:$PATH"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(telemetry doctor engine estimate guard loader ui tmux)
status=0
for c in "${checks[@]}"; do
  start=$(date +%s)
  echo "=== $c"
  case "$c" in
    ui) timeout 300 python3 -m pytest -q -p no:cacheprovider tests/ui -m "not snapshot" -k "not snapshot" \
          --real-nvml 2>&1 | tee "$OUT/ui.txt" | tail -5 ;;
    tmux) timeout 200 python3 -m pytest -q -p no:cacheprovider tests/e2e 2>&1 | tee "$OUT/tmux.txt" | tail -5 ;;
    *) if [ -f "gpu/check_$c.py" ]; then
         timeout 900 python3 "gpu/check_$c.py" --out "$OUT" 2>&1 | tee "$OUT/$c.log" | tail -25
       else echo "no gpu/check_$c.py"; false; fi ;;
  esac
  rc=${PIPESTATUS[0]}
  echo "=== $c: rc=$rc in $(( $(date +%s) - start )) s"
  [ "$rc" = 0 ] || status=1
done
exit $status
