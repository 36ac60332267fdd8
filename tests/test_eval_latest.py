"""`fadtq eval --model <root>/latest` (or `<root>`): the step named by verl's checkpoint tracker, on
fake checkpoint trees in verl's layout (folders and the tracker file; no model is loaded)."""

from pathlib import Path

import pandas as pd
import pytest

from fadtq.cli import main
from fadtq.eval import runner
from fadtq.eval.runner import VERL_CHECKPOINT_TRACKER, EvalInputError, resolve_latest_checkpoint, resolve_model


def checkpoint_root(tmp_path: Path, steps=(20, 40, 60), tracker: str | None = "60") -> Path:
    """trainer.default_local_dir as verl leaves it: global_step_N/actor per kept save, plus the tracker,
    which verl writes as the bare step number."""
    root = tmp_path / "checkpoints" / "fadtq" / "fadtq_qwen2_5_vl_3b"
    for step in steps:
        actor = root / f"global_step_{step}" / "actor"
        (actor / "huggingface").mkdir(parents=True)
        (actor / "model_world_size_1_rank_0.pt").write_bytes(b"")
        (root / f"global_step_{step}" / "data.pt").write_bytes(b"")
    root.mkdir(parents=True, exist_ok=True)
    if tracker is not None:
        (root / VERL_CHECKPOINT_TRACKER).write_text(tracker)
    return root


def one_line_error(model) -> str:
    with pytest.raises(EvalInputError) as error:
        resolve_latest_checkpoint(model)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    return message


def test_tracker_file_name_is_the_one_verl_writes():
    from verl.utils.checkpoint.checkpoint_manager import get_checkpoint_tracker_filename

    assert Path(get_checkpoint_tracker_filename("root")) == Path("root") / VERL_CHECKPOINT_TRACKER


@pytest.mark.parametrize("tracker", ["60", "60\n", " 60 \n"])
def test_latest_and_root_resolve_to_the_tracked_steps_actor(tmp_path, tracker):
    root = checkpoint_root(tmp_path, tracker=tracker)
    expected = root / "global_step_60" / "actor"
    assert resolve_latest_checkpoint(root / "latest") == expected
    assert resolve_latest_checkpoint(str(root / "latest")) == expected
    assert resolve_latest_checkpoint(root) == expected


def test_the_tracker_not_the_highest_folder_decides(tmp_path):
    # e.g. a save of step 60 that died before verl rewrote the tracker
    root = checkpoint_root(tmp_path, tracker="40")
    assert resolve_latest_checkpoint(root / "latest") == root / "global_step_40" / "actor"


def test_other_models_are_left_alone(tmp_path):
    root = checkpoint_root(tmp_path)
    hf = tmp_path / "hf_model"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    for model in (root / "global_step_40" / "actor", root / "global_step_40", hf, tmp_path / "absent",
                  "Qwen/Qwen2.5-VL-3B-Instruct", "someorg/latest"):
        assert resolve_latest_checkpoint(model) is None


def test_an_existing_folder_named_latest_is_taken_as_given(tmp_path):
    root = checkpoint_root(tmp_path)
    (root / "latest").symlink_to(root / "global_step_20", target_is_directory=True)
    assert resolve_latest_checkpoint(root / "latest") is None


def test_no_tracker_file_is_one_line_naming_it(tmp_path):
    root = checkpoint_root(tmp_path, tracker=None)
    message = one_line_error(root / "latest")
    assert f"{root / VERL_CHECKPOINT_TRACKER}: not found" in message and "global_step_N/actor" in message


def test_missing_step_folder_is_one_line_listing_the_saved_steps(tmp_path):
    root = checkpoint_root(tmp_path, steps=(20, 100, 40), tracker="180")
    message = one_line_error(root / "latest")
    assert f"{root / 'global_step_180' / 'actor'}: missing" in message and "20, 40, 100" in message
    assert one_line_error(root) == message


def test_unreadable_tracker_is_one_line(tmp_path):
    root = checkpoint_root(tmp_path, tracker="global_step_60")
    assert "not a step number" in one_line_error(root / "latest")


def test_latest_under_a_missing_folder_is_one_line(tmp_path):
    assert "no folder" in one_line_error(tmp_path / "nowhere" / "run" / "latest")


def test_resolve_model_merges_the_tracked_step(tmp_path, monkeypatch):
    root = checkpoint_root(tmp_path)
    merged = []

    def fake_merge(checkpoint, target, trust_remote_code=False):
        merged.append(checkpoint)
        return target

    monkeypatch.setattr(runner, "merge_checkpoint", fake_merge)
    for model in (root / "latest", root):
        path, name = resolve_model(model, tmp_path / "merged")
        assert name == "fadtq_qwen2_5_vl_3b/global_step_60"
    assert merged == [root / "global_step_60" / "actor"] * 2


def test_cli_reports_a_missing_tracker_in_one_line(tmp_path, capsys):
    root = checkpoint_root(tmp_path, tracker=None)
    data = tmp_path / "test.parquet"
    pd.DataFrame({"prompt": [[{"role": "user", "content": "<image><image>?"}]], "images": [[{"image": "x"}]],
                  "reward_model": [{"ground_truth": "normal"}], "extra_info": [{"index": 0}],
                  "data_source": ["fadtq"]}).to_parquet(data)
    code = main(["eval", "--model", str(root / "latest"), "--data", str(data), "--out", str(tmp_path / "o.jsonl"),
                 "--backend", "hf"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and VERL_CHECKPOINT_TRACKER in err
