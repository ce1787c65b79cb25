#!/usr/bin/env bash
# A run of GPU checks longer than one device call (10 minutes): gpu/run_all.sh runs in the
# background in its own process session (setsid), so it goes on between consecutive calls on
# the same warm machine; results collect in /tmp/gpu-session.
#   gpu/session.sh start SECONDS CHECK...   start run_all.sh CHECK..., then wait as below
#   gpu/session.sh wait SECONDS             wait until it is done or SECONDS pass, then copy
#                                           the results to $OUT/session.tgz and print the log's end
set -uo pipefail
cd "$(dirname "$0")/.."
R=/tmp/gpu-session
verb="$1"; seconds="$2"; shift 2
if [ "$verb" = start ]; then
  rm -rf "$R"; mkdir -p "$R"
  OUT="$R" setsid nohup bash -c 'gpu/run_all.sh "$@"; echo "run_all rc=$?" > '"$R"'/DONE' \
    run_all "$@" > "$R/run.log" 2>&1 < /dev/null &
fi
end=$(( $(date +%s) + seconds ))
while [ ! -f "$R/DONE" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 3; done
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/session.tgz" -C "$R" . 2>/dev/null
fi
grep -E "^===|passed|failed|FAIL|ratio|target|x  |met|Error|error" "$R/run.log" | tail -80
[ -f "$R/DONE" ] && cat "$R/DONE" || echo "still running"
