"""Every experiment and every recipe composes and passes verl's own validate_config; bad input fails in one line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fadtq.train import (
    TrainConfigError,
    absolutise_local_paths,
    compose_config,
    config_dir,
    describe_judge,
    forward_environment,
    main,
    metrics_file,
)

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))
#: Experiments trained with GRPO (ratio loss, reference model, KL): the paper's GRPO row and LR-IAD's setup.
GRPO_EXPERIMENTS = {"grpo", "lr_iad_mvtec_ad", "lr_iad_visa"}
RECIPES = sorted(p.name for p in (REPO / "recipes").glob("*.sh") if not p.name.startswith(("_", "baseline_")))


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for name in ("train.parquet", "test.parquet"):
        (folder / name).write_bytes(b"placeholder: only existence is checked before training")
    return folder


def overrides(data_files):
    return [f"data.train_files={data_files / 'train.parquet'}", f"data.val_files={data_files / 'test.parquet'}"]


def test_all_paper_experiments_exist():
    assert {"fadtq", "grpo", "gpg", "no_efficiency", "no_relevance", "eta_0_25", "eta_0_75", "focal", "gpg_alpha",
            "external_judge"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_verl_validates(experiment, data_files):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy

    from fadtq.config_checks import validate

    config = compose_config([f"+experiment={experiment}", *overrides(data_files)])
    validate(config)  # ours + verl's validate_config
    assert not need_critic(config), "no critic anywhere"
    assert need_reference_policy(config) == (experiment in GRPO_EXPERIMENTS), "a reference model only for GRPO runs"
    if config.reward.reward_model.enable:
        assert config.reward.reward_model.enable_resource_pool and not config.reward.reward_model.rollout.free_cache_engine
        assert config.reward.reward_model.n_gpus_per_node == 1 and config.reward.reward_model.nnodes == 1
    if config.actor_rollout_ref.actor.policy_loss.loss_mode == "gpg":
        assert config.algorithm.adv_estimator == "fadtq_gpg"
        assert config.actor_rollout_ref.actor.ppo_epochs == 1
        assert config.actor_rollout_ref.actor.ppo_mini_batch_size == config.data.train_batch_size
    else:
        assert experiment in GRPO_EXPERIMENTS and config.algorithm.adv_estimator == "grpo"
        assert config.actor_rollout_ref.actor.use_kl_loss and config.actor_rollout_ref.actor.policy_loss.loss_mode == "vanilla"
    assert config.fadtq.backend == "gpu" and config.fadtq.allow_off_policy is False


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_same_tree_drives_the_cpu_backend(experiment, data_files):
    """One config tree: +backend=cpu changes the backend settings only, never the experiment's own choices."""
    from fadtq.config_checks import validate

    gpu = compose_config([f"+experiment={experiment}", *overrides(data_files)])
    cpu = compose_config(["+backend=cpu", f"+experiment={experiment}", *overrides(data_files)])  # backend composes last
    validate(cpu)  # ours + verl's, without prepare_run, which exports the backend's environment
    assert cpu.fadtq.backend == "cpu"
    for key in ("algorithm", "actor_rollout_ref.actor.policy_loss", "actor_rollout_ref.actor.use_kl_loss",
                "actor_rollout_ref.actor.ppo_epochs", "reward.custom_reward_function.path",
                "reward.custom_reward_function.reward_kwargs.eta",
                "reward.custom_reward_function.reward_kwargs.thinking_quality", "fadtq.focal", "trainer.v1"):
        assert OmegaConf.select(cpu, key) == OmegaConf.select(gpu, key), key
    assert cpu.actor_rollout_ref.actor.ppo_mini_batch_size == cpu.data.train_batch_size  # still on-policy


def test_paper_setup():
    config = compose_config([])
    assert config.data.train_batch_size == 32 and config.actor_rollout_ref.rollout.n == 8
    assert config.actor_rollout_ref.actor.ppo_mini_batch_size == 32 and config.actor_rollout_ref.actor.ppo_epochs == 1
    assert config.trainer.total_epochs == 10 and config.trainer.n_gpus_per_node == 4
    assert config.reward.reward_model.n_gpus_per_node == 1 and config.reward.reward_model.rollout.name == "vllm"
    assert config.algorithm.adv_estimator == "fadtq_gpg" and config.trainer.v1.trainer_mode == "fadtq_sync"
    assert config.actor_rollout_ref.actor.policy_loss.loss_mode == "gpg" and not config.critic.enable
    assert config.reward.custom_reward_function.path == "pkg://fadtq.verl_ext.reward"
    assert config.reward.custom_reward_function.name == "compute_score"
    assert config.actor_rollout_ref.rollout.limit_images == 2
    assert {"console", "file"} <= set(config.trainer.logger)
    assert config.trainer.save_freq > 0 and config.trainer.test_freq > 0


def flat(config) -> dict:
    """A resolved config as {dotted key: leaf value}."""
    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{prefix}{key}.")
        else:
            yield prefix[:-1], node
    return dict(walk(OmegaConf.to_container(config, resolve=True), ""))


def changed_keys(before: str, after: str) -> set[str]:
    """Keys whose resolved values differ; the name (and paths derived from it) and the disabled critic aside."""
    a, b = (flat(compose_config([f"+experiment={name}", "trainer.experiment_name=row"])) for name in (before, after))
    assert a["critic.enable"] is False and b["critic.enable"] is False
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key) and not key.startswith("critic.")}


def test_table3_grpo_to_gpg_changes_the_algorithm_only():
    """Table 3 adds one change per row: +GRPO → +GPG swaps the estimator, the loss, KL + reference and the
    mini-batches; the reward (format + accuracy) is the same."""
    changed = changed_keys("grpo", "gpg")
    assert {"algorithm.adv_estimator", "actor_rollout_ref.actor.policy_loss.loss_mode",
            "actor_rollout_ref.actor.use_kl_loss", "actor_rollout_ref.actor.ppo_mini_batch_size"} <= changed
    allowed_prefixes = ("algorithm.adv_estimator", "actor_rollout_ref.actor.policy_loss.", "actor_rollout_ref.actor.kl_",
                        "actor_rollout_ref.actor.use_kl_loss", "actor_rollout_ref.actor.ppo_mini_batch_size",
                        "actor_rollout_ref.ref.")
    assert {key for key in changed if not key.startswith(allowed_prefixes)} == set()
    assert not any(key.startswith("reward.") for key in changed)


def test_table3_gpg_to_fadtq_adds_thinking_quality_and_its_judge_only():
    changed = changed_keys("gpg", "fadtq")
    assert {"reward.custom_reward_function.reward_kwargs.thinking_quality", "reward.reward_model.enable",
            "reward.reward_model.enable_resource_pool"} == changed


def test_grpo_row_acts_as_grpo():
    config = compose_config(["+experiment=grpo"])
    actor = config.actor_rollout_ref.actor
    assert config.data.train_batch_size // actor.ppo_mini_batch_size == 4  # the ratio and its clip act
    assert actor.clip_ratio == 0.2 and actor.kl_loss_coef == 0.01 and actor.use_kl_loss
    assert not config.reward.custom_reward_function.reward_kwargs.thinking_quality and not config.reward.reward_model.enable


def test_paper_epsilon_and_image_budget():
    from fadtq.data.images import DEFAULT_MAX_PIXELS

    config = compose_config([])
    assert config.algorithm.epsilon == 1e-12
    assert config.actor_rollout_ref.rollout.engine_kwargs.vllm.mm_processor_kwargs.max_pixels == DEFAULT_MAX_PIXELS
    assert config.actor_rollout_ref.rollout.max_model_len == config.data.max_prompt_length + config.data.max_response_length


def test_declared_keys_take_plain_overrides():
    config = compose_config(["reward.custom_reward_function.reward_kwargs.eta=0.3", "algorithm.gpg_alpha_correction=true",
                             "fadtq.allow_off_policy=true"])
    assert config.reward.custom_reward_function.reward_kwargs.eta == 0.3
    assert config.algorithm.gpg_alpha_correction is True and config.fadtq.allow_off_policy is True


# --- our checks, in process --------------------------------------------------------------------------

def _error(capsys, *args):
    code = main(list(args))
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("fadtq.train: error:")]
    assert code == 2 and len(errors) == 1, lines
    return errors[0]


def test_misspelled_key_names_the_closest_key(capsys, data_files):
    error = _error(capsys, "--dry-run", "actor_rollout_ref.actor.ppo_epoch=1", *overrides(data_files))
    assert "ppo_epoch" in error and "did you mean actor_rollout_ref.actor.ppo_epochs" in error
    assert "not a section" in _error(capsys, "--dry-run", "trainr.total_epochs=1")
    assert "experiment/nope" in _error(capsys, "--dry-run", "+experiment=nope")


@pytest.mark.parametrize("args,fragment", [
    (["trainer.n_gpus_per_node=5"], "cannot be split over 5"),
    (["actor_rollout_ref.actor.ppo_mini_batch_size=8"], "on-policy"),
    (["actor_rollout_ref.actor.ppo_epochs=2"], "on-policy"),
    (["trainer.v1.trainer_mode=separate_async"], "older policy"),
    (["reward.reward_model.rollout.free_cache_engine=true"], "free_cache_engine"),
    (["reward.reward_model.enable_resource_pool=false"], "own pool"),
    (["reward.reward_model.n_gpus_per_node=1", "reward.reward_model.rollout.tensor_model_parallel_size=2"],
     "tensor_model_parallel_size=2"),
    (["actor_rollout_ref.rollout.tensor_model_parallel_size=3"], "does not divide"),
    (["reward.custom_reward_function.reward_kwargs.eta=1.5"], "[0, 1]"),
    (["reward.reward_model.enable=false", "reward.reward_model.enable_resource_pool=false"], "no judge"),
    (["fadtq.backend=tpu"], "unknown backend"),
    (["actor_rollout_ref.model.path=/nonexistent/model"], "/nonexistent/model"),
    (["data.val_files=/nonexistent/test.parquet"], "/nonexistent/test.parquet"),
])
def test_bad_config_fails_in_one_line(capsys, data_files, monkeypatch, args, fragment):
    monkeypatch.delenv("FADTQ_JUDGE_URL", raising=False)
    assert fragment in _error(capsys, "--dry-run", *overrides(data_files), *args)


def test_off_policy_gpg_allowed_deliberately(data_files):
    from fadtq.config_checks import validate

    validate(compose_config([*overrides(data_files), "actor_rollout_ref.actor.ppo_mini_batch_size=8",
                             "fadtq.allow_off_policy=true"]))


def test_external_judge_from_environment_satisfies_the_judge_check(data_files, monkeypatch):
    from fadtq.config_checks import check_reward_kwargs

    config = compose_config([*overrides(data_files), "reward.reward_model.enable=false",
                             "reward.reward_model.enable_resource_pool=false"])
    check_reward_kwargs(config, environ={"FADTQ_JUDGE_URL": "http://judge:8901"})
    check_reward_kwargs(compose_config(["+experiment=gpg"]), environ={})  # no TQ term: no judge needed


def test_relative_paths_become_absolute_and_hub_ids_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.parquet").write_bytes(b"x")
    config = compose_config(["data.train_files=d/train.parquet", "data.val_files=[d/train.parquet,missing.parquet]",
                             "actor_rollout_ref.model.path=Qwen/Qwen2.5-VL-3B-Instruct"])
    assert config.data.train_files == str(tmp_path / "d" / "train.parquet")
    assert list(config.data.val_files) == [str(tmp_path / "d" / "train.parquet"), "missing.parquet"]
    assert config.actor_rollout_ref.model.path == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert config.trainer.default_local_dir == str(tmp_path / "checkpoints" / "fadtq" / "fadtq_qwen2_5_vl_3b")
    absolutise_local_paths(config)  # idempotent
    assert config.data.train_files == str(tmp_path / "d" / "train.parquet")


def test_environment_is_resolved_on_the_launching_side(monkeypatch, tmp_path):
    monkeypatch.setenv("FADTQ_TRAIN_FILES", "/data/elsewhere/train.parquet")
    config = compose_config([])
    assert OmegaConf.to_container(config)["data"]["train_files"] == "/data/elsewhere/train.parquet"  # no ${oc.env:…}


def test_cluster_shape_and_paths_come_from_the_fadtq_variables(monkeypatch, tmp_path):
    """One set of names, read by the config itself: the recipes pass nothing but the experiment."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    for name, value in {"FADTQ_GPUS_PER_NODE": "8", "FADTQ_NNODES": "2", "FADTQ_JUDGE_GPUS": "2",
                        "FADTQ_MODEL_PATH": "model", "FADTQ_JUDGE_MODEL_PATH": "/models/judge"}.items():
        monkeypatch.setenv(name, value)
    config = compose_config(["+experiment=fadtq"])
    assert (config.trainer.n_gpus_per_node, config.trainer.nnodes, config.reward.reward_model.n_gpus_per_node) == (8, 2, 2)
    assert config.actor_rollout_ref.model.path == str(tmp_path / "model")  # relative to where it runs
    assert config.reward.reward_model.model_path == "/models/judge"
    assert compose_config(["trainer.nnodes=1"]).trainer.nnodes == 1  # an override wins over the environment


def test_validate_changes_nothing_and_prepare_run_makes_the_changes(data_files, monkeypatch, tmp_path):
    from fadtq.config_checks import METRICS_FILE_ENV, validate
    from fadtq.train import prepare_run

    monkeypatch.delenv(METRICS_FILE_ENV, raising=False)
    config = compose_config([*overrides(data_files), f"trainer.default_local_dir={tmp_path / 'ckpt'}"])
    before, environment = OmegaConf.to_container(config), dict(os.environ)
    validate(config)
    assert OmegaConf.to_container(config) == before and dict(os.environ) == environment
    prepare_run(config)
    metrics = str(tmp_path / "ckpt" / "metrics.jsonl")
    assert os.environ[METRICS_FILE_ENV] == metrics
    assert config.ray_kwargs.ray_init.runtime_env.env_vars[METRICS_FILE_ENV] == metrics


def test_forward_environment_copies_listed_names_but_never_secrets():
    config = compose_config(["+experiment=external_judge", "fadtq.forward_env=[FADTQ_JUDGE_URL,HF_HOME,WANDB_API_KEY]",
                             "+ray_kwargs.ray_init.runtime_env.env_vars.HF_HOME=/set/by/user"])
    added = forward_environment(config, environ={"FADTQ_JUDGE_URL": "http://judge:8901", "HF_HOME": "/mine",
                                                 "WANDB_API_KEY": "secret"})
    assert added == {"FADTQ_JUDGE_URL": "http://judge:8901"}
    assert OmegaConf.to_container(config.ray_kwargs.ray_init.runtime_env.env_vars) == {
        "HF_HOME": "/set/by/user", "FADTQ_JUDGE_URL": "http://judge:8901"}


def test_exported_judge_url_is_not_forwarded_when_verl_hosts_the_judge():
    config = compose_config(["fadtq.forward_env=[FADTQ_JUDGE_URL,HF_HOME]"])
    assert config.reward.reward_model.enable
    added = forward_environment(config, environ={"FADTQ_JUDGE_URL": "http://leftover:8901", "HF_HOME": "/mine"})
    assert added == {"HF_HOME": "/mine"}
    assert "FADTQ_JUDGE_URL is ignored" in describe_judge(config, environ={"FADTQ_JUDGE_URL": "http://leftover:8901"})


def test_judge_url_next_to_the_hosted_judge_is_refused(data_files):
    from fadtq.config_checks import ConfigError, check_reward_kwargs

    config = compose_config(["reward.custom_reward_function.reward_kwargs.judge_url=http://elsewhere:8901"])
    with pytest.raises(ConfigError, match="pick one"):
        check_reward_kwargs(config, environ={})


def test_metrics_go_to_the_run_directory_unless_exported(tmp_path):
    config = compose_config([f"trainer.default_local_dir={tmp_path / 'ckpt'}"])
    environ = {}
    assert metrics_file(config, environ) == str(tmp_path / "ckpt" / "metrics.jsonl") == environ["VERL_FILE_LOGGER_PATH"]
    assert metrics_file(config, {"VERL_FILE_LOGGER_PATH": "/mine.jsonl"}) == "/mine.jsonl"


def test_bad_override_is_a_train_config_error():
    with pytest.raises(TrainConfigError, match="did you mean trainer.total_epochs"):
        compose_config(["trainer.total_epoch=3"])


# --- the launch scripts, as users run them ------------------------------------------------------------

#: The recipes call `fadtq`: the one installed next to this interpreter.
WITH_FADTQ_ON_PATH = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_script(script, data_files, *extra, **env):
    environment = {**WITH_FADTQ_ON_PATH, "FADTQ_TRAIN_FILES": str(data_files / "train.parquet"),
                   "FADTQ_VAL_FILES": str(data_files / "test.parquet"), **env}
    return subprocess.run(["bash", str(REPO / "recipes" / script), "--dry-run", *extra], capture_output=True,
                          text=True, env=environment, timeout=900)


def script_experiments(script):
    text = (REPO / "recipes" / script).read_text()
    return re.findall(r"\+experiment=(\w+)", text) or re.findall(r"for experiment in ([\w ]+);", text)[0].split()


@pytest.mark.slow  # one verl import per experiment in a subprocess (~20 s each on 2 cores)
@pytest.mark.parametrize("script", RECIPES)
def test_recipe_dry_run(script, data_files):
    result = run_script(script, data_files)
    assert result.returncode == 0, result.stderr[-2000:]
    valid = [line for line in result.stderr.splitlines() if line.startswith("fadtq.train: config valid")]
    composed = {compose_config([f"+experiment={e}"]).trainer.experiment_name for e in script_experiments(script)}
    assert len(valid) == len(composed) and {line.rsplit("experiment=", 1)[1] for line in valid} == composed


@pytest.mark.slow
def test_recipe_environment_reaches_the_config(data_files, tmp_path):
    """FADTQ_GPUS_PER_NODE=5 with 32 × 8 is refused in one line by the real script; relative paths are the caller's."""
    result = run_script("train_fadtq_qwen2_5_vl_3b.sh", data_files, FADTQ_GPUS_PER_NODE="5")
    errors = [line for line in result.stderr.splitlines() if line.startswith("fadtq.train: error:")]
    assert result.returncode == 2 and len(errors) == 1 and "cannot be split over 5" in errors[0], result.stderr[-1500:]

    (tmp_path / "my data").mkdir()
    for name in ("train.parquet", "test.parquet"):
        (tmp_path / "my data" / name).write_bytes(b"x")
    result = subprocess.run(["bash", str(REPO / "recipes" / "ablation_gpg_no_tq.sh"), "--dry-run", "trainer.nnodes=1"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=900,
                            env={**WITH_FADTQ_ON_PATH, "FADTQ_TRAIN_FILES": "my data/train.parquet",
                                 "FADTQ_VAL_FILES": "my data/test.parquet", "FADTQ_MODEL_PATH": str(tmp_path / "my data"),
                                 "FADTQ_GPUS_PER_NODE": "8", "FADTQ_NNODES": "2"})
    assert result.returncode == 0, result.stderr[-1500:]
    resolved = OmegaConf.create(result.stdout)  # stdout is the resolved config alone
    assert resolved.data.train_files == str(tmp_path / "my data" / "train.parquet")
    assert resolved.actor_rollout_ref.model.path == str(tmp_path / "my data")
    assert resolved.trainer.n_gpus_per_node == 8 and resolved.trainer.nnodes == 1  # extra overrides come last
