# Shared by baseline_*.sh: zero-shot evaluation of a Hugging Face VLM on the Pair3C test set with
# vLLM (greedy, the prompt and image grid recorded in the parquet), then its report.
# Environment:
#   MODEL_PATH  local folder or hub id (default: the script's hub id)
#   TEST_FILES  test parquet (default: data/pair3c/test.parquet, from `fadtq build-data pair3c`)
#   OUT_DIR     where predictions and reports go (default: runs/baselines)
#   TP          GPUs per model, vLLM tensor parallelism (default: the script's, usually 1)
#   PYTHON      interpreter with fadtq[gpu] installed (default: python)
# Extra arguments go to `fadtq eval` after the script's defaults, so they override them.
# Re-running resumes: rows already in $OUT_DIR/<name>.jsonl are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
TEST_FILES="${TEST_FILES:-data/pair3c/test.parquet}"
OUT_DIR="${OUT_DIR:-runs/baselines}"

# run_baseline NAME HUB_ID DEFAULT_TP [default fadtq eval options…] -- [user options…]
run_baseline() {
    local name="$1" hub_id="$2" default_tp="$3"
    shift 3
    local model="${MODEL_PATH:-$hub_id}"
    if [[ ! -f "$TEST_FILES" ]]; then
        echo "$(basename "$0"): $TEST_FILES not found — build it with \`fadtq build-data pair3c\` or set TEST_FILES" >&2
        exit 2
    fi
    mkdir -p "$OUT_DIR"
    "$PYTHON" -m fadtq eval --backend vllm --model "$model" --name "$name" --data "$TEST_FILES" \
        --out "$OUT_DIR/$name.jsonl" --tensor-parallel-size "${TP:-$default_tp}" "$@"
    "$PYTHON" -m fadtq report "$OUT_DIR/$name.jsonl" --data "$TEST_FILES" --out "$OUT_DIR/report_$name"
}
