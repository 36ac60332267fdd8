# Shared by the launch scripts: paths and cluster shape from the environment, then fadtq.train.
# Every variable has a default; anything after the script name is passed through as Hydra overrides
# (or --dry-run to print and validate the config without starting Ray, or --doctor to run
# `fadtq doctor` on this node with the same experiment and overrides instead of training).
#   MODEL_PATH        policy: hub id or local folder (default Qwen/Qwen2.5-VL-3B-Instruct)
#   TRAIN_FILES / VAL_FILES   Pair3C parquet (default data/pair3c/{train,test}.parquet of this checkout)
#   JUDGE_MODEL_PATH  judge served by verl on its own pool: hub id or local folder (default Qwen/Qwen3-8B)
#   NNODES, GPUS_PER_NODE     actor + rollout GPUs (default 1 × 4)
#   JUDGE_GPUS        GPUs of the judge pool (default 1)
#   PYTHON            interpreter with fadtq installed (default python)
# Relative paths are taken relative to the directory you run the script from; the script then runs
# from the checkout's root, so checkpoints and logs land there (override trainer.default_local_dir).
# Multi-node: see recipes/README.md ("Multi-node").
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# An existing relative path becomes absolute (relative to the caller); hub ids and URLs stay as they are.
absolute_if_local() {
    case "$1" in
        /* | *://*) printf '%s' "$1" ;;
        *) if [ -e "$1" ]; then printf '%s/%s' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"; else printf '%s' "$1"; fi ;;
    esac
}

# Quoted for Hydra, so that spaces, commas or brackets in a path are not read as syntax; a value
# written as a Hydra list ("[a.parquet,b.parquet]") is passed through unchanged.
hydra_value() {
    case "$1" in
        \[*) printf '%s' "$1" ;;
        *\'*) printf '"%s"' "$1" ;;
        *) printf "'%s'" "$1" ;;
    esac
}

MODEL_PATH="$(absolute_if_local "${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}")"
TRAIN_FILES="$(absolute_if_local "${TRAIN_FILES:-$repo_root/data/pair3c/train.parquet}")"
VAL_FILES="$(absolute_if_local "${VAL_FILES:-$repo_root/data/pair3c/test.parquet}")"
JUDGE_MODEL_PATH="$(absolute_if_local "${JUDGE_MODEL_PATH:-Qwen/Qwen3-8B}")"
NNODES="${NNODES:-1}"
GPUS_PER_NODE="${GPUS_PER_NODE:-4}"
JUDGE_GPUS="${JUDGE_GPUS:-1}"
PYTHON="${PYTHON:-python}"
cd "$repo_root"

run_experiment() {
    local experiment="$1"
    shift
    # --doctor checks this node against exactly the config training would get: same overrides, other entry point.
    local entry=(-m fadtq.train) overrides=() arg
    for arg in "$@"; do
        if [ "$arg" = "--doctor" ]; then entry=(-m fadtq doctor); fi
    done
    for arg in "$@"; do
        case "$arg" in
            --doctor) ;;
            --dry-run) if [ "${entry[1]}" = fadtq.train ]; then overrides+=("$arg"); fi ;;  # doctor starts no Ray anyway
            *) overrides+=("$arg") ;;
        esac
    done
    exec "$PYTHON" "${entry[@]}" "+experiment=${experiment}" \
        actor_rollout_ref.model.path="$(hydra_value "$MODEL_PATH")" \
        data.train_files="$(hydra_value "$TRAIN_FILES")" \
        data.val_files="$(hydra_value "$VAL_FILES")" \
        reward.reward_model.model_path="$(hydra_value "$JUDGE_MODEL_PATH")" \
        reward.reward_model.n_gpus_per_node="$JUDGE_GPUS" \
        trainer.nnodes="$NNODES" \
        trainer.n_gpus_per_node="$GPUS_PER_NODE" \
        ${overrides[@]+"${overrides[@]}"}
}
