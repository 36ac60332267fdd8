# Shared by baseline_*.sh: zero-shot evaluation of a Hugging Face VLM on the Pair3C test set with
# vLLM (greedy, the prompt and image grid recorded in the parquet), then its report.
# Environment:
#   FADTQ_BASELINE_MODEL  local folder or hub id (default: the script's hub id)
#   FADTQ_VAL_FILES       test parquet (default: data/pair3c/test.parquet, from `fadtq build-data pair3c`;
#                         the same file training validates on)
#   FADTQ_BASELINE_OUT    where predictions and reports go (default: runs/baselines)
#   FADTQ_BASELINE_TP     GPUs per model, vLLM tensor parallelism (default: the script's, usually 1)
# Paths are relative to where you run the script. Extra arguments go to `fadtq eval` after the
# script's defaults, so they override them. Re-running resumes: rows already in
# $FADTQ_BASELINE_OUT/<name>.jsonl are skipped.
set -euo pipefail
TEST_FILES="${FADTQ_VAL_FILES:-data/pair3c/test.parquet}"
OUT_DIR="${FADTQ_BASELINE_OUT:-runs/baselines}"

# run_baseline NAME HUB_ID DEFAULT_TP [user options…]
run_baseline() {
    local name="$1" hub_id="$2" default_tp="$3"
    shift 3
    local model="${FADTQ_BASELINE_MODEL:-$hub_id}"
    if [[ ! -f "$TEST_FILES" ]]; then
        echo "$(basename "$0"): $TEST_FILES not found — build it with \`fadtq build-data pair3c\` or set FADTQ_VAL_FILES" >&2
        exit 2
    fi
    mkdir -p "$OUT_DIR"
    fadtq eval --backend vllm --model "$model" --name "$name" --data "$TEST_FILES" \
        --out "$OUT_DIR/$name.jsonl" --tensor-parallel-size "${FADTQ_BASELINE_TP:-$default_tp}" "$@"
    fadtq report "$OUT_DIR/$name.jsonl" --data "$TEST_FILES" --out "$OUT_DIR/report_$name"
}
