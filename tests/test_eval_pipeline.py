"""End to end on CPU: the HF backend runs the tiny offline Qwen2.5-VL on synthetic pairs (its
answers are noise; the pipeline, parsing, resumability and files must hold), verl checkpoints are
merged by verl's own merger, and `fadtq report` writes every file."""

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from fadtq.eval.runner import EvalInputError, SamplingOptions, merged_model_dir, resolve_model, run_eval

LABELS = (None, "normal", "structural", "logical")


@pytest.fixture(scope="module")
def test_parquet(small_pair3c):
    return small_pair3c.files["test"]


@pytest.fixture(scope="module")
def mixed_parquet(test_parquet, tmp_path_factory):
    """Two rows of each of three categories: prompts of different lengths, so batches are padded."""
    frame = pd.read_parquet(test_parquet)
    categories = frame["extra_info"].map(lambda e: e["category"])
    picked = frame[categories.isin(["breakfast_box", "splicing_connectors", "pushpins"])]
    picked = picked.groupby(categories[picked.index]).head(2)
    path = tmp_path_factory.mktemp("mixed") / "mixed.parquet"
    picked.to_parquet(path)
    return path


@pytest.fixture(scope="session")
def jsdom(request):
    """A headless DOM (jsdom, from the npm registry) when node and npm are installed; else None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        return None
    folder = Path(request.config.cache.mkdir("fadtq-jsdom"))
    if not (folder / "node_modules" / "jsdom").is_dir():
        installed = subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--silent",
                                    "jsdom@26"], capture_output=True, text=True, timeout=300)
        if installed.returncode != 0:
            return None
    return node, folder


BROWSE_JS = """
const { JSDOM } = require("jsdom");
const dom = new JSDOM(require("fs").readFileSync(process.argv[2], "utf8"), { runScripts: "dangerously" });
const doc = dom.window.document;
const visible = () => [...doc.querySelectorAll("#samples tbody tr")].filter(r => r.style.display !== "none");
const images = [...doc.querySelectorAll("img")].filter(i => i.src.startsWith("data:image/"));
const result = { rows: visible().length, images: images.length };
for (const id of ["category", "label", "pred"]) {
  const select = doc.getElementById(id);
  select.value = select.options[1].value;
  select.dispatchEvent(new dom.window.Event("change"));
  result[id] = { value: select.value, shown: visible().map(r => r.dataset[id]) };
  select.value = "";
  select.dispatchEvent(new dom.window.Event("change"));
}
result.counter = doc.getElementById("shown").textContent;
console.log(JSON.stringify(result));
"""


def fadtq(*args):
    return subprocess.run([sys.executable, "-m", "fadtq", *args], capture_output=True, text=True, timeout=900)


class SampleRows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.images = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-category" in attrs:
            self.rows.append(attrs)
        self.images += tag == "img" and attrs.get("src", "").startswith("data:image/")


@pytest.mark.slow
def test_hf_eval_resumes_and_report_writes_every_file(tiny_model_dir, test_parquet, tmp_path, jsdom):
    preds = tmp_path / "preds.jsonl"
    common = ["eval", "--model", tiny_model_dir, "--data", str(test_parquet), "--backend", "hf", "--out", str(preds),
              "--batch-size", "3", "--max-new-tokens", "16"]
    first = fadtq(*common, "--limit", "4")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "4 pairs generated, 0 already done" in first.stdout and "accuracy" in first.stdout
    with open(preds, "a") as fh:
        fh.write('{"index": 4, "category": "breakf')  # an interrupted write
    again = fadtq(*common, "--limit", "6")
    assert again.returncode == 0 and "2 pairs generated, 4 already done" in again.stdout, again.stderr[-2000:]

    lines = preds.read_text().splitlines()
    assert len(lines) == 7 and lines[4] == '{"index": 4, "category": "breakf'  # kept on its own line
    records = [json.loads(x) for i, x in enumerate(lines) if i != 4]
    assert [r["index"] for r in records] == list(range(6))
    truth = pd.read_parquet(test_parquet).head(6)
    assert [r["label"] for r in records] == [t["ground_truth"] for t in truth["reward_model"]]
    for r in records:
        assert r["pred"] in LABELS and isinstance(r["response"], str) and r["model"] == Path(tiny_model_dir).name
        assert r["prompt_version"] == "pair3c-paper-v1" and r["options"] == {"A": "normal", "B": "structural", "C": "logical"}
        assert r["sampling"]["temperature"] == 0.0 and r["truncated"] in (True, False)

    out = tmp_path / "report"
    report = fadtq("report", str(preds), "--data", str(test_parquet), "--out", str(out))
    assert report.returncode == 0, report.stderr[-2000:]
    for name in ("table.md", "table.tex", "metrics.json", "accuracy_by_category.png"):
        assert (out / name).stat().st_size > 0
    pngs = list(out.glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in pngs)
    table = (out / "table.md").read_text()
    # the partial line and the 24 test rows never generated are counted, not dropped
    assert "1 broken lines" in table and "24 missing rows" in table and "1 broken lines" in report.stderr
    metrics = json.loads((out / "metrics.json").read_text())[0]
    assert metrics["pairs"] == 30 and metrics["input_issues"] == {"broken_lines": 1, "missing_rows": 24}

    page = next(out.glob("samples_*.html")).read_text()
    parsed = SampleRows()
    parsed.feed(page)
    assert len(parsed.rows) == 6 and all(r["data-correct"] in ("yes", "no") for r in parsed.rows)
    assert parsed.images == 12 and {r["data-category"] for r in parsed.rows} <= {"breakfast_box", "splicing_connectors"}
    if jsdom is None:
        print("no node/npm: the HTML page was checked by parsing only")
        return
    node, folder = jsdom
    script = folder / "browse.js"
    script.write_text(BROWSE_JS)
    browsed = subprocess.run([node, str(script), str(next(out.glob("samples_*.html")))], capture_output=True, text=True,
                             timeout=120, env={"NODE_PATH": str(folder / "node_modules")})
    assert browsed.returncode == 0, browsed.stderr[-2000:]
    seen = json.loads(browsed.stdout)
    assert seen["rows"] == 6 and seen["images"] == 12 and seen["counter"] == "6 shown"
    for key in ("category", "label", "pred"):  # each filter shows exactly the rows of the chosen value
        expected = [r[f"data-{key}"] for r in parsed.rows if r[f"data-{key}"] == seen[key]["value"]]
        assert seen[key]["shown"] == expected


def test_batched_generation_equals_one_by_one(tiny_model_dir, mixed_parquet, tmp_path):
    """Left padding must not change a greedy answer: batch of 6 mixed-length prompts vs one at a time."""
    options = SamplingOptions(max_new_tokens=12)
    run_eval(tiny_model_dir, mixed_parquet, tmp_path / "one.jsonl", batch_size=1, options=options, progress=False)
    run_eval(tiny_model_dir, mixed_parquet, tmp_path / "six.jsonl", batch_size=6, options=options, progress=False)
    one = [json.loads(x) for x in (tmp_path / "one.jsonl").read_text().splitlines()]
    six = [json.loads(x) for x in (tmp_path / "six.jsonl").read_text().splitlines()]
    assert len({r["category"] for r in one}) == 3
    assert [r["response"] for r in six] == [r["response"] for r in one]
    done = run_eval(tiny_model_dir, mixed_parquet, tmp_path / "six.jsonl", batch_size=6, options=options, progress=False)
    assert done["generated"] == 0 and done["skipped_done"] == 6  # nothing left to do: no model load


def test_resume_refuses_to_mix_models(tiny_model_dir, test_parquet, tmp_path):
    out = tmp_path / "preds.jsonl"
    out.write_text(json.dumps({"index": 0, "category": "breakfast_box", "label": "normal", "pred": None,
                               "model": "another-model"}) + "\n")
    with pytest.raises(EvalInputError, match="another-model"):
        run_eval(tiny_model_dir, test_parquet, out, limit=2, progress=False)


def fake_fsdp_checkpoint(model_dir, actor: Path) -> Path:
    """A verl FSDP actor checkpoint (world size 1) of the tiny model, in verl's on-disk layout."""
    import torch
    from transformers import AutoModelForImageTextToText

    (actor / "huggingface").mkdir(parents=True)
    for f in Path(model_dir).iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, actor / "huggingface" / f.name)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    torch.save(model.state_dict(), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 1, "world_size": 1}))
    return actor


@pytest.mark.slow
def test_verl_checkpoint_is_merged_once_by_verls_merger(tiny_model_dir, test_parquet, tmp_path):
    actor = fake_fsdp_checkpoint(tiny_model_dir, tmp_path / "ckpt" / "exp_a" / "global_step_3" / "actor")
    out = tmp_path / "runs" / "exp_a.jsonl"
    result = fadtq("eval", "--model", str(actor.parent), "--data", str(test_parquet), "--backend", "hf",
                   "--out", str(out), "--limit", "2", "--max-new-tokens", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    cache = tmp_path / "runs" / "merged_models"
    merged = list(cache.iterdir())
    assert len(merged) == 1 and (merged[0] / "config.json").is_file() and (merged[0] / "model.safetensors").is_file()
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 2 and {r["model"] for r in records} == {"exp_a/global_step_3"}
    assert resolve_model(actor, cache) == (str(merged[0]), "exp_a/global_step_3")  # merged once, then reused

    # another experiment's global_step_3, or a re-saved one, never reuses that merge
    other = tmp_path / "ckpt" / "exp_b" / "global_step_3" / "actor"
    (other / "huggingface").mkdir(parents=True)
    (other / "model_world_size_1_rank_0.pt").write_bytes(b"broken")
    assert merged_model_dir(other, cache) != merged[0] and merged_model_dir(actor, cache) == merged[0]

    # a broken checkpoint: one clear error naming it, and no half-merged folder left behind
    with pytest.raises(EvalInputError, match="model merger failed") as error:
        resolve_model(other, cache)
    assert str(other) in str(error.value) and len(str(error.value).splitlines()) == 1
    assert list(cache.iterdir()) == merged


def test_eval_bad_inputs_are_one_line_errors(tmp_path, test_parquet, tiny_model_dir):
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("no")
    cases = [
        (["--model", str(tmp_path / "nope"), "--data", str(test_parquet)], "nope"),
        (["--model", tiny_model_dir, "--data", str(tmp_path / "absent.parquet")], "absent.parquet"),
        (["--model", tiny_model_dir, "--data", str(not_parquet)], "x.parquet"),
        (["--model", tiny_model_dir, "--data", str(test_parquet), "--batch-size", "0"], "--batch-size"),
    ]
    for args, name in cases:
        result = fadtq("eval", *args, "--backend", "hf", "--out", str(tmp_path / "p.jsonl"))
        assert result.returncode == 2, result.stderr[-1000:]
        assert len(result.stderr.strip().splitlines()) == 1 and name in result.stderr
    assert not (tmp_path / "p.jsonl").exists()
