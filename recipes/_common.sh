# Shared by the launch scripts: paths and cluster shape from the environment, then fadtq.train.
# Every variable has a default; anything after the script name is passed through as Hydra overrides
# (or --dry-run to print and validate the config without starting Ray).
#   MODEL_PATH        policy (default Qwen/Qwen2.5-VL-3B-Instruct)
#   TRAIN_FILES / VAL_FILES   Pair3C parquet (default data/pair3c/{train,test}.parquet)
#   JUDGE_MODEL_PATH  judge served by verl on its own pool (default Qwen/Qwen3-8B)
#   NNODES, GPUS_PER_NODE     actor + rollout GPUs (default 1 × 4)
#   JUDGE_GPUS        GPUs of the judge pool (default 1)
#   PYTHON            interpreter with fadtq installed (default python)
# Multi-node: `ray start --head` on one node and `ray start --address=HEAD:6379` on the others (with
# fadtq installed on every node), then run the script on the head node with NNODES set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}"
TRAIN_FILES="${TRAIN_FILES:-data/pair3c/train.parquet}"
VAL_FILES="${VAL_FILES:-data/pair3c/test.parquet}"
JUDGE_MODEL_PATH="${JUDGE_MODEL_PATH:-Qwen/Qwen3-8B}"
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
JUDGE_GPUS="${JUDGE_GPUS:-1}"
PYTHON="${PYTHON:-python}"

run_experiment() {
    local experiment="$1"
    shift
    exec "$PYTHON" -m fadtq.train "+experiment=${experiment}" \
        actor_rollout_ref.model.path="$MODEL_PATH" \
        data.train_files="$TRAIN_FILES" \
        data.val_files="$VAL_FILES" \
        reward.reward_model.model_path="$JUDGE_MODEL_PATH" \
        reward.reward_model.n_gpus_per_node="$JUDGE_GPUS" \
        trainer.nnodes="$NNODES" \
        trainer.n_gpus_per_node="$GPUS_PER_NODE" \
        "$@"
}
