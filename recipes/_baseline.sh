# Shared by baseline_*.sh: zero-shot evaluation of a Hugging Face VLM on the Pair3C test set with vLLM.
#   MODEL_PATH (default: the script's hub id), TEST_FILES (default data/pair3c/test.parquet),
#   OUT_DIR (default runs/baselines), PYTHON (default python); extra args go to `fadtq eval`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
TEST_FILES="${TEST_FILES:-data/pair3c/test.parquet}"
OUT_DIR="${OUT_DIR:-runs/baselines}"

run_baseline() {
    local name="$1" default_model="$2"
    shift 2
    local model="${MODEL_PATH:-$default_model}"
    mkdir -p "$OUT_DIR"
    "$PYTHON" -m fadtq eval --backend vllm --model "$model" --data "$TEST_FILES" --out "$OUT_DIR/$name.jsonl" "$@"
    "$PYTHON" -m fadtq report "$OUT_DIR/$name.jsonl" --data "$TEST_FILES" --out "$OUT_DIR/report_$name"
}
