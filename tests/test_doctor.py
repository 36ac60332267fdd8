"""`fadtq doctor`: the preflight report on this GPU-less node, each check against real failing conditions,
the checkpoint-size arithmetic by hand, and the recipes' --doctor and GPU pinning."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from fadtq.commands import doctor
from fadtq.data.build import DATA_SOURCE, PAPER_TABLE1_TEST, PAPER_TABLE1_TRAIN
from fadtq.train import compose_config

REPO = Path(__file__).resolve().parents[1]


def gpu_less() -> bool:
    import torch

    return not torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pair3c(small_pair3c):
    """A small Pair3C (30 train / 30 test pairs) from synthetic images in LOCO's layout."""
    return small_pair3c.out_dir


@pytest.fixture(scope="module")
def base_config(pair3c, tiny_model_dir, tmp_path_factory):
    """The paper's config, composed as training composes it, pointed at the small data and the tiny model."""
    return compose_config([f"data.train_files={pair3c / 'train.parquet'}", f"data.val_files={pair3c / 'test.parquet'}",
                           f"actor_rollout_ref.model.path={tiny_model_dir}",
                           f"reward.reward_model.model_path={tiny_model_dir}",
                           f"trainer.default_local_dir={tmp_path_factory.mktemp('checkpoints')}"])


def with_overrides(config, **dotted):
    return OmegaConf.merge(config, OmegaConf.from_dotlist([f"{k.replace('__', '.')}={v}" for k, v in dotted.items()]))


def line_of(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line[2:].startswith(f"{name}: "))


# --- the command on this node -------------------------------------------------------------------------

@pytest.mark.skipif(not gpu_less(), reason="asserts the report of a node without CUDA and flash-attn")
def test_cli_reports_each_missing_gpu_piece_and_passes_the_rest(pair3c, tiny_model_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fadtq", "doctor", f"data.train_files={pair3c / 'train.parquet'}",
         f"data.val_files={pair3c / 'test.parquet'}", f"actor_rollout_ref.model.path={tiny_model_dir}",
         f"reward.reward_model.model_path={tiny_model_dir}", f"trainer.default_local_dir={tmp_path / 'ckpt'}"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr[-2000:]
    assert out.splitlines()[0].startswith("fadtq doctor: experiment=fadtq_qwen2_5_vl_3b backend=gpu")
    failures = {
        "gpus": "torch.cuda.is_available() is False: no CUDA device visible",
        "gpu memory": "no CUDA device visible",
        "cuda driver": "the driver's CUDA version is unknown",
        "flash_attn": "import flash_attn failed",
    }
    for name, reason in failures.items():
        line = line_of(out, name)
        assert line.startswith("✗ ") and reason in line and " — " in line, line
    assert "needs 4 (actor, trainer.n_gpus_per_node) + 1 (judge pool)" in line_of(out, "gpus")
    assert "use_remove_padding=true" in line_of(out, "flash_attn")
    for name in ("config", "verl", "actor model", "judge model", "train data", "val data", "disk", "judge",
                 "judge address"):
        assert line_of(out, name).startswith("✓ "), line_of(out, name)
    assert "30 rows" in line_of(out, "train data")
    assert line_of(out, "pair3c table 1").startswith("✗ ")  # 30 pairs are not the paper's 600
    assert out.rstrip().endswith("checks failed")
    checks = out.splitlines()[1:-1]
    assert len(checks) == 17 and all(line[:2] in ("✓ ", "✗ ") for line in checks), checks  # one line per check


def test_help_lists_the_checks(capsys):
    from fadtq.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["doctor", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name in ("gpu memory", "cuda driver", "flash_attn", "pair3c table 1", "judge address", "+experiment=NAME"):
        assert name in text


def test_bad_override_is_one_line(capsys):
    from fadtq.cli import main

    assert main(["doctor", "trainer.total_epoch=3"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fadtq doctor: error:")]
    assert len(err) == 1 and "trainer.total_epochs" in err[0]


# --- data ---------------------------------------------------------------------------------------------

def test_data_files_decode(base_config, pair3c):
    result = doctor.check_data_files(base_config, "data.val_files")
    assert result.ok and "30 rows" in result.detail and str(pair3c / "test.parquet") in result.detail


def test_missing_data_file_is_named(base_config, tmp_path):
    missing = tmp_path / "nowhere" / "train.parquet"
    result = doctor.check_data_files(with_overrides(base_config, data__train_files=missing), "data.train_files")
    assert not result.ok and f"data.train_files: {missing} does not exist" in result.line()
    assert "fadtq build-data" in result.fix


def test_corrupt_image_fails(base_config, pair3c, tmp_path):
    table = pq.read_table(pair3c / "train.parquet")
    rows = table.to_pylist()
    png = rows[0]["images"][1]["bytes"]
    rows[0]["images"][1]["bytes"] = png[: len(png) // 2]  # the header still opens; decoding the pixels fails
    corrupt = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), corrupt)
    result = doctor.check_data_files(with_overrides(base_config, data__train_files=corrupt), "data.train_files")
    assert not result.ok and "row 0 image 1" in result.detail and str(corrupt) in result.detail


def test_small_pair3c_is_not_table1(base_config):
    result = doctor.check_pair3c_table1(base_config)
    assert not result.ok and "train 30/600" in result.detail and "test 30/968" in result.detail
    assert "--manifest data/pair3c_seed42_manifest.csv" in result.fix


def test_cpu_backend_runs_are_exempt_from_table1(base_config):
    assert doctor.check_pair3c_table1(with_overrides(base_config, fadtq__backend="cpu")).ok


def table1_parquet(path: Path, split: str, table: dict, data_source: str = DATA_SOURCE) -> Path:
    """Label columns only: exactly what the Table 1 check reads."""
    rows = [{"data_source": data_source, "reward_model": {"style": "rule", "ground_truth": label},
             "extra_info": {"split": split, "category": category}}
            for category, per_label in table.items() for label, n in per_label.items() for _ in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_table1_counts_pass_and_a_missing_pair_fails(base_config, tmp_path):
    train = table1_parquet(tmp_path / "train.parquet", "train", PAPER_TABLE1_TRAIN)
    test = table1_parquet(tmp_path / "test.parquet", "test", PAPER_TABLE1_TEST)
    config = with_overrides(base_config, data__train_files=train, data__val_files=test)
    assert doctor.check_pair3c_table1(config).ok

    short = {c: dict(per) for c, per in PAPER_TABLE1_TEST.items()}
    short["pushpins"]["logical"] -= 1
    table1_parquet(test, "test", short)
    result = doctor.check_pair3c_table1(config)
    assert not result.ok and "test pushpins logical 50 (Table 1: 51)" in result.detail

    swapped = with_overrides(config, data__train_files=test, data__val_files=train)  # train on the test split
    assert "data.train_files holds 967 'test' rows" in doctor.check_pair3c_table1(swapped).detail


def test_table1_is_only_for_pair3c(base_config, tmp_path):
    other = table1_parquet(tmp_path / "other.parquet", "train", {"bottle": {"normal": 3}}, data_source="mvtec_ad")
    config = with_overrides(base_config, data__train_files=other, data__val_files=other)
    assert doctor.check_pair3c_table1(config).ok


# --- disk ---------------------------------------------------------------------------------------------

def test_checkpoint_bytes_by_hand():
    # model fp32 4 B + Adam m, v 8 B = 12 B/parameter; 3.75e9 × 12 = 45e9
    assert doctor.checkpoint_bytes(3.75e9) == pytest.approx(45e9)
    # + a bf16 Hugging Face copy, 2 B/parameter: 3.75e9 × 14 = 52.5e9
    assert doctor.checkpoint_bytes(3.75e9, ["model", "optimizer", "extra", "hf_model"]) == pytest.approx(52.5e9)
    assert doctor.checkpoint_bytes(1e9, ["model"]) == pytest.approx(4e9)
    assert doctor.checkpoint_bytes(1e9, ["extra"]) == 0


def test_checkpoints_kept_by_hand():
    assert doctor.checkpoints_kept(180, 20, 3) == 3
    assert doctor.checkpoints_kept(180, 20, None) == 9  # steps 20, 40, …, 180
    assert doctor.checkpoints_kept(190, 20, None) == 10  # … and the last step, 190
    assert doctor.checkpoints_kept(190, 20, 0) == 10  # 0 keeps all, as in verl
    assert doctor.checkpoints_kept(190, -1, 3) == 0


def test_disk_space_against_the_real_disk(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    huge = doctor.check_disk_space(tmp_path / "not" / "yet", 3, free)  # 3 × all the free space
    assert not huge.ok and f"free at {tmp_path}" in huge.detail and "max_actor_ckpt_to_keep" in huge.fix
    assert doctor.check_disk_space(tmp_path / "not" / "yet", 3, 1024).ok


def test_disk_check_reads_the_config(base_config, tiny_model_dir):
    config = with_overrides(base_config, trainer__total_training_steps=100, trainer__save_freq=10,
                            trainer__max_actor_ckpt_to_keep=2)
    result = doctor.check_disk(config)
    params = doctor._safetensors_parameters(Path(tiny_model_dir).glob("*.safetensors"))
    assert result.ok and f"2 checkpoint(s) × {params * 12 / 1e9:.1f} GB" in result.detail
    assert "counted from the safetensors headers" in result.detail


# --- models -------------------------------------------------------------------------------------------

def test_local_model_folder_passes_and_a_folder_without_config_fails(tiny_model_dir, tmp_path):
    result = doctor.check_model_path("actor model", "actor_rollout_ref.model.path", tiny_model_dir, offline=True)
    assert result.ok and "local folder with config.json" in result.detail
    result = doctor.check_model_path("actor model", "actor_rollout_ref.model.path", str(tmp_path), offline=True)
    assert not result.ok and "no config.json" in result.detail


def test_hub_id_offline_and_not_cached_fails(tmp_path):
    empty_cache = str(tmp_path / "hub")
    result = doctor.check_model_path("judge model", "reward.reward_model.model_path", "Qwen/Qwen3-8B", offline=True,
                                     cache_dir=empty_cache)
    assert not result.ok and "not in the Hugging Face cache" in result.detail and "HF_HUB_OFFLINE" in result.detail
    assert "hf download Qwen/Qwen3-8B" in result.fix
    online = doctor.check_model_path("judge model", "reward.reward_model.model_path", "Qwen/Qwen3-8B", offline=False,
                                     cache_dir=empty_cache)
    assert online.ok and "will download" in online.detail


def test_hub_id_in_the_cache_passes(tiny_model_dir, tmp_path):
    """A Hugging Face cache laid out as the hub library writes it: refs/main → snapshots/<revision>/."""
    repo = tmp_path / "hub" / "models--fadtq-tests--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    shutil.copytree(tiny_model_dir, repo / "snapshots" / ("0" * 40))
    result = doctor.check_model_path("actor model", "actor_rollout_ref.model.path", "fadtq-tests/tiny", offline=True,
                                     cache_dir=str(tmp_path / "hub"))
    assert result.ok and "in the Hugging Face cache" in result.detail
    count, how = doctor.model_parameter_count("fadtq-tests/tiny", cache_dir=str(tmp_path / "hub"))
    assert count == doctor._safetensors_parameters(Path(tiny_model_dir).glob("*.safetensors")) and "headers" in how
    (repo / "snapshots" / ("0" * 40) / "model.safetensors").unlink()
    result = doctor.check_model_path("actor model", "actor_rollout_ref.model.path", "fadtq-tests/tiny", offline=True,
                                     cache_dir=str(tmp_path / "hub"))
    assert not result.ok and "partly cached (missing model.safetensors)" in result.detail


def test_unknown_weights_fall_back_to_3b(tmp_path):
    count, how = doctor.model_parameter_count(str(tmp_path / "nothing"))
    assert count == doctor.FALLBACK_PARAMETERS and "assumed" in how


# --- packages and flash-attention ---------------------------------------------------------------------

def test_verl_requirements_come_from_its_metadata():
    base = doctor.verl_requirements()
    with_vllm = doctor.verl_requirements(["vllm"])
    assert "vllm" not in base and str(with_vllm["vllm"]).startswith("==")
    base_transformers = set(str(base["transformers"]).split(","))
    assert base_transformers and set(str(with_vllm["transformers"]).split(",")) > base_transformers


def test_cuda_versions_parse():
    assert doctor._cuda_version_tuple(12040) == (12, 4)  # the CUDA driver API's encoding
    assert doctor._cuda_version_tuple("13.0") == (13, 0)
    assert doctor._cuda_version_tuple(None) is None and doctor._cuda_version_tuple("") is None


def test_verl_version_is_the_supported_one():
    from importlib.metadata import version

    from fadtq.verl_ext.version import SUPPORTED_VERL

    assert doctor.check_verl_version().ok == (version("verl") == SUPPORTED_VERL)


def test_flash_attention_needed_only_where_the_config_uses_it(base_config):
    assert len(doctor.flash_attention_reasons(base_config)) == 2  # padding-free + verl's default attention
    cpu = compose_config(["+backend=cpu"])  # sdpa, no padding-free path
    assert doctor.flash_attention_reasons(cpu) == []
    assert doctor.check_flash_attn(cpu).ok
    assert doctor.check_package_version(cpu, "vllm").ok  # the hf rollout needs no vLLM, and verl bounds none


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_missing_vllm_fails_for_a_vllm_rollout(base_config):
    result = doctor.check_package_version(base_config, "vllm")
    assert not result.ok and "not installed, but verl[vllm] needs vllm==" in result.detail


# --- judge --------------------------------------------------------------------------------------------

def test_unreachable_judge_fails(base_config):
    url = f"http://127.0.0.1:{closed_port()}"
    config = with_overrides(base_config, reward__custom_reward_function__reward_kwargs__judge_url=url,
                            reward__custom_reward_function__reward_kwargs__judge_timeout_s=5,
                            reward__reward_model__enable=False, reward__reward_model__enable_resource_pool=False)
    result = doctor.check_judge(config)
    assert not result.ok and url in result.detail and "3 of 3 requests failed" in result.detail


def test_no_judge_is_the_config_rule_itself(base_config, monkeypatch):
    from fadtq.config_checks import ConfigError, check_reward_kwargs

    monkeypatch.delenv("FADTQ_JUDGE_URL", raising=False)
    config = with_overrides(base_config, reward__reward_model__enable=False, reward__reward_model__enable_resource_pool=False)
    with pytest.raises(ConfigError) as rule:
        check_reward_kwargs(config)
    result = doctor.check_judge(config)
    assert not result.ok and result.detail == str(rule.value) and "no judge is configured" in result.detail


@pytest.mark.parametrize("url,nnodes,ok", [
    ("http://127.0.0.1:8901", 2, False),
    ("localhost:8901", 3, False),
    ("http://[::1]:8901", 2, False),
    ("http://127.0.0.1:8901", 1, True),
    ("http://judge-node:8901", 2, True),
])
def test_loopback_judge_on_several_nodes_fails(base_config, url, nnodes, ok):
    config = with_overrides(base_config, reward__custom_reward_function__reward_kwargs__judge_url=url,
                            trainer__nnodes=nnodes, reward__reward_model__enable=False,
                            reward__reward_model__enable_resource_pool=False)
    result = doctor.check_judge_address(config)
    assert result.ok == ok, result.line()
    if not ok:
        assert "loopback" in result.detail and f"trainer.nnodes={nnodes}" in result.detail
        assert "FADTQ_JUDGE_URL" in result.fix


def test_external_judge_only_without_the_verl_judge(base_config):
    env = {"FADTQ_JUDGE_URL": "http://judge:8901"}
    assert doctor.external_judge_url(base_config, env) is None  # verl hosts the judge in the paper config
    external = with_overrides(base_config, reward__reward_model__enable=False)
    assert doctor.external_judge_url(external, env) == "http://judge:8901"
    configured = with_overrides(external, reward__custom_reward_function__reward_kwargs__judge_url="http://other:1")
    assert doctor.external_judge_url(configured, env) == "http://other:1"  # the config's URL before the export
    assert doctor.external_judge_url(external, {}) is None


# --- recipes ------------------------------------------------------------------------------------------

#: The recipes call `fadtq`: the one installed next to this interpreter.
WITH_FADTQ_ON_PATH = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture()
def argv_printer(tmp_path):
    """A stand-in `fadtq` first on PATH: prints what it would have been started with."""
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "fadtq"
    script.write_text('#!/usr/bin/env bash\necho "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"\n'
                      'printf "%s\\n" "$@"\n')
    script.chmod(0o755)
    return script


def launch(script: str, printer: Path, *args: str, **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "FADTQ_ACTOR_GPUS")}
    environment["PATH"] = f"{printer.parent}{os.pathsep}{environment.get('PATH', '')}"
    result = subprocess.run(["bash", str(REPO / "recipes" / script), *args], capture_output=True, text=True,
                            env={**environment, **env}, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("env,visible", [
    ({}, "0,1,2,3"),
    ({"FADTQ_ACTOR_GPUS": "1,2"}, "1,2"),
    ({"CUDA_VISIBLE_DEVICES": "5,6,7,8", "FADTQ_ACTOR_GPUS": "1,2"}, "5,6,7,8"),  # a scheduler's choice is kept
])
def test_external_judge_recipe_keeps_the_trainer_off_the_judge_gpu(argv_printer, env, visible):
    lines = launch("train_fadtq_external_judge.sh", argv_printer, "--dry-run", **env)
    assert lines[0] == f"CUDA_VISIBLE_DEVICES={visible}"
    assert lines[1:3] == ["train", "+experiment=external_judge"] and "--dry-run" in lines


def test_recipe_passes_its_flags_and_overrides_to_fadtq_train(argv_printer):
    doctor_args = launch("train_fadtq_qwen2_5_vl_3b.sh", argv_printer, "--doctor", "trainer.total_epochs=2", "--dry-run")
    train_args = launch("train_fadtq_qwen2_5_vl_3b.sh", argv_printer, "trainer.total_epochs=2")
    assert doctor_args[1:] == ["train", "+experiment=fadtq", "--doctor", "trainer.total_epochs=2", "--dry-run"]
    assert train_args[1:] == ["train", "+experiment=fadtq", "trainer.total_epochs=2"]


def test_train_doctor_flag_switches_the_entry_point_only(capsys):
    """`fadtq train --doctor` is `fadtq doctor` on the same overrides (--dry-run aside): its own error line."""
    from fadtq.cli import main

    def error(prefix, *args):
        assert main(list(args)) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(prefix)]
        assert len(lines) == 1, lines
        return lines[0].removeprefix(prefix)

    doctor_error = error("fadtq doctor: error:", "train", "+experiment=fadtq", "--doctor", "trainer.total_epoch=3",
                         "--dry-run")
    assert doctor_error == error("fadtq.train: error:", "train", "+experiment=fadtq", "trainer.total_epoch=3", "--dry-run")
    assert "did you mean trainer.total_epochs" in doctor_error


def test_serve_judge_pins_gpu_4_by_default(tmp_path):
    """The judge launcher exports its GPU before it looks for vllm; a stand-in `vllm` on PATH shows what it got."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "vllm").write_text('#!/usr/bin/env bash\necho "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"\n')
    (fake_bin / "vllm").chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "FADTQ_JUDGE_GPU")}
    environment["PATH"] = f"{fake_bin}:{environment['PATH']}"
    for extra, visible in (({}, "4"), ({"FADTQ_JUDGE_GPU": "0"}, "0"), ({"CUDA_VISIBLE_DEVICES": "7"}, "7")):
        result = subprocess.run([sys.executable, "-m", "fadtq", "serve-judge", "--vllm"], capture_output=True,
                                text=True, env={**environment, **extra}, timeout=60)
        assert result.returncode == 0 and result.stdout.strip() == f"CUDA_VISIBLE_DEVICES={visible}", result.stderr


@pytest.mark.skipif(not gpu_less(), reason="asserts the report of a node without CUDA")
def test_external_judge_recipe_doctor_runs_on_its_config(pair3c, tiny_model_dir, tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    result = subprocess.run(
        ["bash", str(REPO / "recipes" / "train_fadtq_external_judge.sh"), "--doctor",
         f"trainer.default_local_dir={tmp_path / 'ckpt'}"],
        capture_output=True, text=True, timeout=600,
        env={**environment, "PATH": WITH_FADTQ_ON_PATH["PATH"], "FADTQ_TRAIN_FILES": str(pair3c / "train.parquet"),
             "FADTQ_VAL_FILES": str(pair3c / "test.parquet"), "FADTQ_MODEL_PATH": tiny_model_dir,
             "FADTQ_ACTOR_GPUS": "0,1", "FADTQ_NNODES": "2", "FADTQ_JUDGE_URL": f"http://127.0.0.1:{closed_port()}"})
    out = result.stdout
    assert result.returncode == 1, out + result.stderr[-2000:]
    assert out.splitlines()[0].startswith("fadtq doctor: experiment=fadtq_external_judge_qwen2_5_vl_3b")
    assert "CUDA_VISIBLE_DEVICES=0,1" in line_of(out, "gpus")
    assert line_of(out, "judge model").startswith("✓ ")  # the external judge is not verl's to load
    assert line_of(out, "judge").startswith("✗ ") and "requests failed" in line_of(out, "judge")
    assert line_of(out, "judge address").startswith("✗ ") and "trainer.nnodes=2" in line_of(out, "judge address")
