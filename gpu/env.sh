# Sourced by the GPU scripts (run_all.sh, session.sh) on the GPU host, from the repo root:
# puts textual & co. (wheels in .whl/, see ../shared/gpu-host/wheels.sh) on PYTHONPATH, tmux
# (.debs in .whl/debs/, unpacked under /tmp, never over /) on PATH when the host has none, and
# an `autoglm-console` wrapper for the e2e tests on PATH. This wave also needs the wheels in
# gpu/extra-wheels.txt (fingerprint, /metrics, transformers serve).
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
mkdir -p /tmp/gpubin
printf '#!/bin/sh\nexec python3 -m console.cli "$@"\n' > /tmp/gpubin/autoglm-console
chmod +x /tmp/gpubin/autoglm-console
export PATH="/tmp/gpubin:$PATH"
