#!/usr/bin/env bash
# bash benchmarks/gpu-session.sh PART...       (on the GPU machine, through the device tool)
# bash benchmarks/gpu-session.sh -- COMMAND... one command in the machine's environment (below), e.g.
#                                             -- make test-gpu PYTHON=python3
#
# That machine has no package index and no network: its own Python with the .site bundle (`make site`) on
# PYTHONPATH, and the Hugging Face cache only (HF_HUB_OFFLINE=1: a limit of the machine, not a product default).
# Each device call runs PARTs in order until its time budget (DEADLINE_S from the call's start, default
# 560 s) is spent; a sweep cut short resumes in the next call. Results come back as $OUT/results.tgz and
# travel into the next call unpacked in `results-carry/` (git ignores it).
#   check   GPU tests (1,000 MiB tracker accuracy, 50 ms spike) and the harness self-benchmark
#   r16     make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS=16 (the core's GPU check)
#   cancel  the same run stopped (SIGTERM, as Ctrl-C) mid fine-tune: its finished phases must be kept
#   fail3   llama1B at ranks 16/32/64 with the middle run made to fail (injected OOM at step 3)
#   first-calls  benchmarks/first-calls.py: where the first train steps' and first generate()'s seconds go
#   study   benchmarks/seed-study.yaml (resumes)
#   repeats 3 repeats of the study's deciding configurations (`lora-harness deciding`), added to its folder
#   fresh   the study's gemma-2-2b-it r16 with --start fresh (each run a new interpreter), in results/start-fresh
#   startab the same cell 3 times each way, fresh and forked alternating (ABBA), in results/start-ab/{fresh,fork};
#           then benchmarks/start-ab.py compares them (about 7 minutes)
#   samplerab the sampler's cost where it matters (issue 28): one study cell (SAMPLERAB_ARGS, default
#           --model gemma-2-2b-it --ranks 16) 3 times with the sampler every 5 ms and every 50 ms (the default since
#           measurement version 5; HARNESS_SAMPLER_MS sets both), alternating (ABBAAB), in
#           results/sampler-ab/{ms5,ms50}; then benchmarks/start-ab.py --sides ms5 ms50 compares the answers (one
#           at a time, launch-bound) and steps (reports/sampler-ab-h200/: 5 ms cost 14-16%, so 50 ms is the default)
#   ohlora  benchmarks/ohlora.yaml (gemma-2-2b-it r64, plain vs Unsloth)
#   backends benchmarks/unsloth-vs-plain.yaml: hf / unsloth / liger x none / nf4 (resumes)
#   unsloth-default  benchmarks/unsloth-default-compile.yaml: Unsloth's shipped compile setting, once
#   decide-study  the study's deciding configurations as interleaved repeats on one machine: one sweep of the cells
#           (bench --cells, --repeats 3: every cell once, then again, A B C A B C), then the cells named in REDO
#           (one line of bench options each; default: none).
#           The cells: lines of bench options in the file DECIDING (default: `lora-harness deciding` on the study's
#           folder). Carry the study's folder without those cells' run files, so that all 3 repeats run here.
#   decide-backends  the backends grid's deciding comparisons as interleaved repeats: benchmarks/unsloth-vs-plain.yaml
#           narrowed by BACKENDS_ARGS (default: --model llama1B --backends hf unsloth), --repeats 3; the sweep's
#           order is round by round (every cell once, then again), so each side's 3 runs interleave. Carry the grid's
#           folder without those cells' run files (resumes). BACKENDS_ROOT (a folder under results/) keeps them apart
#           from the grid's folder instead: a comparison whose other side is already published from another machine
#   teamgpus benchmarks/team-gpus.yaml (7 candidates x r16/r64 emulated on a T4 and an M6000, fp16), the M6000 in
#           fp32, then the team's recipe (benchmarks/ohlora.yaml, plain) the same ways, in results/ohlora (resumes)
# Before the first call, here: `make site` (.site, ~60 MiB), and copy the team's CSV (kept outside this repo)
#   mkdir -p .shared-carry && cp PATH/TO/OhLoRA_fine_tuning.csv .shared-carry/
# (git ignores .shared-carry, so the team's data never enters the repo).
# To resume or add repeats to a published study on a fresh machine, carry its result files in, logs too
# (a cancelled run that is redone takes its log into attempts/ with it, numbered after the earlier ones):
#   mkdir -p results-carry/seed-study && cp -r reports/seed-study-h200/{runs,logs,attempts,manifest.json} results-carry/seed-study/
#   mkdir -p results-carry/unsloth-vs-plain && cp -r reports/backends-h200/{runs,logs,attempts,manifest.json} results-carry/unsloth-vs-plain/
# and afterwards copy results/NAME/{runs,logs,attempts,manifest.json} back over the published folder.
# Only runs of the same measurement version (harness/versions.py) resume or pool: reports/backends-h200 and
# team-gpus-h200 are version 4 (sampler every 5 ms); with version 5 every key is new, so a campaign at version 5
# starts those folders afresh (carry nothing for them) and replaces the published one whole. seed-study-h200 is
# version 5 (session 10): carry it to add repeats (decide-study: without the cells to be repeated).
# carry: [".site", ".shared-carry", "results-carry"]
# The GPU machine's copy of the tree may carry no .git, or a stale one: start the command with the commit
# written out, HARNESS_GIT_SHA=<the sha of `git rev-parse HEAD` here> (it wins over any .git there). Not
# $(git rev-parse HEAD) inside the command: that runs there and reads the stale .git (it recorded cdb53d2
# for runs of 03eaab4 once). The script refuses to start without it.
set -uo pipefail
[[ ${HARNESS_GIT_SHA:-} =~ ^[0-9a-f]{7,40}$ ]] || { echo "set HARNESS_GIT_SHA=<commit sha> (see the top of this file)" >&2; exit 2; }
t0=$SECONDS
deadline=${DEADLINE_S:-560}
left() { echo $((deadline - (SECONDS - t0))); }
export PYTHONPATH=$PWD:$PWD/.site HF_HUB_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1 PYTHONUNBUFFERED=1
export HARNESS_CACHE=${HARNESS_CACHE:-/tmp/harness-cache} COLUMNS=160
if [[ ${1:-} == -- ]]; then shift; exec "$@"; fi
out=${OUT:-/tmp/out}
mkdir -p "$out" results
[ -d results-carry ] && cp -rn results-carry/. results/
team_data=${TEAM_DATA:-.shared-carry/OhLoRA_fine_tuning.csv}  # the shipped specs default to the sample data
[ -f "$team_data" ] || { echo "no team data at $team_data: copy it to .shared-carry/ (see above) or set TEAM_DATA" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv | tee "$out/gpu.txt"

sweep() {  # sweep NAME ARGS...: stops cleanly (SIGINT -> cancelled rows, resumable) before the deadline
  local name=$1; shift
  local t=$(( $(left) - 20 ))
  if (( t < 60 )); then echo "skip $name: $(left) s left"; return; fi
  # a harness sweep also starts no run that would not end in time (--time-budget), so that SIGINT seldom
  # has to cancel one: a cancelled run's seconds are lost
  local budget=()
  [[ " $* " == *" -m harness "* ]] && budget=(--time-budget $((t - 10)))
  timeout -s INT -k 30 "$t" "$@" "${budget[@]}" 2>&1 | tee -a "$out/$name.log"
}

for part in "$@"; do
  echo "=== $part ($(left) s left)"
  case "$part" in
    check)
      python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_monitor.py 2>&1 | tee "$out/test-gpu.log"
      python3 -m harness selfbench --out results/selfbench 2>&1 | tee "$out/selfbench.log" ;;
    r16)   sweep r16 make bench PYTHON=python3 MODEL=gemma-2-2b-it WEIGHTS=shape RANKS=16 DATA=$team_data ;;
    cancel)  # stopped a few seconds into the measured run's fine-tune (not the warm-up run's)
      python3 -m harness bench --model gemma-2-2b-it --weights shape --ranks 16 --data $team_data \
        --results-root results/cancel-check >"$out/cancel.log" 2>&1 &
      pid=$!
      for _ in $(seq 360); do
        sleep 0.5
        # the child's partial result (scratch/<stem>/result.json) lists each phase as it ends
        ls results/cancel-check/*/scratch/*/result.json 2>/dev/null | grep -v warmup |
          xargs -r grep -l '"train_setup"' | grep -q . && break
      done
      # SIGTERM, which the sweep takes as Ctrl-C: a background job of a script ignores SIGINT
      sleep 5; kill -TERM $pid; wait $pid; echo "exit $?" >>"$out/cancel.log"; cat "$out/cancel.log" ;;
    fail3) HARNESS_TEST_HOOKS=1 HARNESS_FAULTS="r32 ~oom@step:3" \
             sweep fail3 python3 -m harness bench --model llama1B --weights shape --ranks 16 32 64 --data $team_data ;;
    first-calls)  # twice: CUDA's default lazy kernel loading, then every kernel loaded at start-up
      python3 benchmarks/first-calls.py --model gemma-2-2b-it --out results/first-calls/lazy 2>&1 |
        tee "$out/first-calls.log"
      CUDA_MODULE_LOADING=EAGER python3 benchmarks/first-calls.py --model gemma-2-2b-it \
        --out results/first-calls/eager 2>&1 | tee -a "$out/first-calls.log" ;;
    study)   sweep study python3 -m harness sweep benchmarks/seed-study.yaml --data $team_data ;;
    repeats)  # 3 repeats of the configurations that may decide it (lora-harness deciding), in the study's folder
      python3 -m harness deciding results/seed-study --top 2 | tee "$out/deciding.txt"
      while read -r cell; do
        # shellcheck disable=SC2086  # one option per word
        sweep repeats python3 -m harness bench --spec benchmarks/seed-study.yaml $cell --repeats 3 --data $team_data
      done <"$out/deciding.txt" ;;
    fresh)  # the study's gemma-2-2b-it r16 again, each run a fresh interpreter: the fork server's A/B
      sweep fresh python3 -m harness bench --spec benchmarks/seed-study.yaml --model gemma-2-2b-it --ranks 16 \
        --start fresh --data $team_data --results-root results/start-fresh ;;
    startab)  # does the fork server change a run's figures? the CPU probe, then one cell, both starts, alternating
      (( ${STARTAB_PROBE:-6} > 0 )) && python3 benchmarks/start-ab.py --probe "${STARTAB_PROBE:-6}" 2>&1 | tee "$out/start-ab-probe.txt"
      for order in "fresh fork" "fork fresh" "fresh fork"; do
        n=$(( ${n:-0} + 1 ))
        for start in $order; do
          sweep startab python3 -m harness bench --spec benchmarks/seed-study.yaml --model gemma-2-2b-it --ranks 16 \
            --repeats $n --start $start --data $team_data --results-root results/start-ab/$start
        done
      done
      python3 benchmarks/start-ab.py results/start-ab 2>&1 | tee "$out/start-ab.txt" ;;
    decide-study)
      if [[ -n ${DECIDING:-} ]]; then cp "$DECIDING" "$out/deciding.txt"
      else python3 -m harness deciding results/seed-study --top 2 | tee "$out/deciding.txt"; fi
      # one sweep over the file's cells, round by round (A B C A B C ...), under one fork server
      sweep decide-study python3 -m harness bench --spec benchmarks/seed-study.yaml --cells "$out/deciding.txt" \
        --repeats 3 --data $team_data
      if [[ -n ${REDO:-} ]]; then
        while read -r cell; do
          # shellcheck disable=SC2086
          sweep decide-study python3 -m harness bench --spec benchmarks/seed-study.yaml $cell --data $team_data
        done <"$REDO"
      fi ;;
    decide-backends)
      # shellcheck disable=SC2086
      sweep decide-backends python3 -m harness bench --spec benchmarks/unsloth-vs-plain.yaml \
        ${BACKENDS_ARGS:---model llama1B --backends hf unsloth} --repeats 3 --data $team_data \
        ${BACKENDS_ROOT:+--results-root "$BACKENDS_ROOT"} ;;
    samplerab)
      n=0
      for order in "5 50" "50 5" "5 50"; do
        n=$((n + 1))
        for ms in $order; do
          # shellcheck disable=SC2086  # one option per word
          HARNESS_SAMPLER_MS=$ms sweep samplerab python3 -m harness bench --spec benchmarks/seed-study.yaml \
            ${SAMPLERAB_ARGS:---model gemma-2-2b-it --ranks 16} --repeats $n --data $team_data \
            --results-root results/sampler-ab/ms$ms
        done
      done
      python3 benchmarks/start-ab.py results/sampler-ab --sides ms5 ms50 2>&1 | tee "$out/sampler-ab.txt" ;;
    ohlora)  sweep ohlora python3 -m harness sweep benchmarks/ohlora.yaml --data $team_data ;;
    backends) sweep backends python3 -m harness sweep benchmarks/unsloth-vs-plain.yaml --data $team_data ;;
    teamgpus)
      sweep teamgpus python3 -m harness sweep benchmarks/team-gpus.yaml --data $team_data
      sweep teamgpus python3 -m harness bench --spec benchmarks/team-gpus.yaml --emulate M6000 --dtypes fp32 --data $team_data
      sweep teamgpus python3 -m harness bench --spec benchmarks/ohlora.yaml --backends hf --emulate T4 M6000 --data $team_data
      sweep teamgpus python3 -m harness bench --spec benchmarks/ohlora.yaml --backends hf --emulate M6000 --dtypes fp32 \
        --data $team_data ;;
    unsloth-default) sweep unsloth-default python3 -m harness sweep benchmarks/unsloth-default-compile.yaml --data $team_data ;;
    *) echo "unknown part $part" >&2 ;;
  esac
done
# result files, logs and reports only (no weights, scratch folders or compile caches): small enough to come back
tar -czf "$out/results.tgz" --exclude='scratch' --exclude='results/*/cache' results
echo "done in $((SECONDS - t0)) s"; ls -la "$out"
