#!/usr/bin/env bash
# Runs every GPU check on a host with a real NVIDIA GPU, results under $OUT (default ./gpu-out).
# Usage (from the repo root, on the GPU host):
#   gpu/run_all.sh [CHECK ...]      CHECK = telemetry doctor engine estimate guard loader ui tmux
#                                   (the default set), or a benchmark: generate keys speed
#                                   overhead, press (press-to-ready, prestart on/off),
#                                   fingerprint (GPU vs CPU), vision,
#                                   probe (gpu/probe_transport.py), build8b (the 8B
#                                   checkpoint only), or free-9b / free-glm4v (deletes the GLM-4-9B checkpoint: disk room)
#                                   serve (gpu/check_serve.py: transformers serve on the GPU,
#                                   its timeline, a guard pause by SIGSTOP, stop, memory back;
#                                   SERVE_MODEL=DIR, default the 8B),
#                                   servebench (benchmarks/serve_engines.py --device cuda)
# The benchmarks use the 8B that `engine` builds in $WORK (default /tmp/autoglm-check).
# The host needs torch (CUDA), transformers, safetensors, psutil, pynvml; gpu/env.sh adds
# textual (wheels) and tmux (debs) from .whl/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
WORK="${WORK:-/tmp/autoglm-check}"
mkdir -p "$OUT"
source gpu/env.sh

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(telemetry doctor engine estimate guard loader ui tmux)
status=0
for c in "${checks[@]}"; do
  start=$(date +%s)
  echo "=== $c"
  case "$c" in
    vision) timeout 580 python3 benchmarks/vision_estimate.py --model glm4v-9b --device cuda:0 \
              --workdir "$WORK" --out "$OUT/vision_9b.json" ${VISION_ARGS:-} 2>&1 \
              | tee "$OUT/vision_9b.log" | tail -30 ;;
    press) timeout 600 python3 benchmarks/press_to_ready.py --model "$WORK/llama-8b" \
             --device cuda:0 --runs "${PRESS_RUNS:-2}" --wait-s "${PRESS_WAIT_S:-12}" \
             --out "$OUT/press.json" 2>&1 | tee "$OUT/press.log" | tail -12 ;;
    ui) timeout 420 python3 -m pytest -q -p no:cacheprovider ${UI_XDIST:--n 4} tests/ui \
          -m "not snapshot" \
          -k "${UI_K:-not snapshot}" \
          --real-nvml 2>&1 | tee "$OUT/ui.txt" | tail -5 ;;
    tmux) timeout 200 python3 -m pytest -q -p no:cacheprovider tests/e2e 2>&1 | tee "$OUT/tmux.txt" | tail -5 ;;
    engine) timeout 900 python3 gpu/check_engine.py --out "$OUT" --workdir "$WORK" \
              --budget-s "${ENGINE_BUDGET_S:-390}" 2>&1 | tee "$OUT/engine.log" | tail -25 ;;
    generate) timeout 900 python3 benchmarks/load_generate.py --device cuda:0 --dtype bf16 \
                --model "$WORK/llama-8b" --runs "${GENERATE_RUNS:-3}" --max-new-tokens 64 \
                --out "$OUT/load_generate.json" ${GENERATE_ARGS:-} 2>&1 \
                | tee "$OUT/generate.log" | tail -16 ;;
    keys) { timeout 300 python3 benchmarks/key_latency.py --model "$WORK/llama-8b" \
              --device cuda:0 --slow-load-s 0 --presses 100 --out "$OUT/keys.json" \
            && if [ "${KEYS_COLD:-1}" = 1 ]; then timeout 300 python3 benchmarks/key_latency.py \
              --model "$WORK/llama-8b" --device cuda:0 --slow-load-s 0 --presses 50 --cold; fi
          } 2>&1 | tee "$OUT/keys.log" | grep -v "running:" ;;
    speed) timeout 900 python3 benchmarks/load_speed.py --workdir "$WORK" --out "$OUT" \
             ${SPEED_ARGS:-} 2>&1 | tee "$OUT/speed.log" | tail -40 ;;
    build8b) timeout 300 python3 -c "import sys; sys.path.insert(0, 'benchmarks'); import load_speed as ls
from pathlib import Path
print(ls.build('llama-8b', 'llama', ls.LLAMA_8B, Path('$WORK/llama-8b'), device='cuda:0', small=False))" ;;
    probe) timeout 600 python3 gpu/probe_transport.py --model "$WORK/llama-8b" --out "$OUT" \
             ${PROBE_ARGS:-} 2>&1 | tee "$OUT/probe.log" | tail -32 ;;
    overhead) timeout 600 python3 benchmarks/generate_overhead.py --device cuda:0 \
                --model "$WORK/llama-8b" --rounds "${OVERHEAD_ROUNDS:-5}" --stock-model \
                --out "$OUT/generate_overhead.json" 2>&1 | tee "$OUT/overhead.log" | tail -16 ;;
    estimate) timeout "${ESTIMATE_TIMEOUT_S:-330}" python3 gpu/check_estimate.py --out "$OUT" \
                --budget-s "${ESTIMATE_BUDGET_S:-240}" ${ESTIMATE_ARGS:-} 2>&1 \
                | tee "$OUT/estimate.log" | tail -75 ;;
    serve) timeout 900 python3 gpu/check_serve.py --out "$OUT" --device cuda:0 \
             --model "${SERVE_MODEL:-$WORK/llama-8b}" 2>&1 | tee "$OUT/serve.log" | tail -25 ;;
    servebench) model_arg=(); m="${SERVE_MODEL:-$WORK/llama-8b}"
                [ -f "$m/config.json" ] && model_arg=(--model "$m")
                timeout 900 python3 benchmarks/serve_engines.py --device cuda \
                  --engines "${SERVE_ENGINES:-transformers}" "${model_arg[@]}" \
                  --blocks "${SERVE_BLOCKS:-6}" 2>&1 | tee "$OUT/serve_engines.log" | tail -30 ;;
    free-9b) rm -rf "$WORK/glm4-9b"; df -h /tmp | tail -1 ;;
    free-glm4v) rm -rf "$WORK/glm4v-9b"; df -h /tmp | tail -1 ;;
    *) if [ -f "gpu/check_$c.py" ]; then
         timeout 900 python3 "gpu/check_$c.py" --out "$OUT" 2>&1 | tee "$OUT/$c.log" | tail -25
       else echo "no gpu/check_$c.py"; false; fi ;;
  esac
  rc=${PIPESTATUS[0]}
  echo "=== $c: rc=$rc in $(( $(date +%s) - start )) s"
  [ "$rc" = 0 ] || status=1
done
exit $status
