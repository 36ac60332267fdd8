"""Reports over one or more prediction files: the paper's Table 2 layout (Markdown and LaTeX),
more metrics, confusion-matrix PNGs, a per-category bar chart comparing runs, ``metrics.json``,
and one self-contained HTML page of sample pairs per run."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fadtq.eval import metrics
from fadtq.eval.predictions import GroundTruth, PredictionFile, read_predictions
from fadtq.rewards import parse_response

#: Column order of the paper's Table 2; other categories (MVTec-AD, VisA) follow alphabetically.
CATEGORY_ORDER = ("breakfast_box", "splicing_connectors", "juice_bottle", "screw_bag", "pushpins")


class ReportInputError(ValueError):
    """Bad input to ``fadtq report``: the message names the file and what to do."""


@dataclass
class Run:
    """One prediction file and its metrics."""

    name: str
    file: PredictionFile
    summary: metrics.RunSummary


def load_test_set(data) -> tuple[GroundTruth, pd.DataFrame]:
    path = Path(data)
    try:
        frame = pd.read_parquet(path)
        return GroundTruth.from_frame(frame), frame
    except Exception as exc:  # any unreadable or foreign parquet
        raise ReportInputError(f"{path}: not a fadtq test parquet ({type(exc).__name__}: {str(exc)[:120]}) — pass the "
                               "test.parquet written by `fadtq build-data`") from exc


def summarize(file: PredictionFile) -> metrics.RunSummary:
    frame = file.frame  # pred is an object column of labels and None (anything else counts as unparsable)
    return metrics.summarize_run(frame["category"].to_numpy(dtype=object), frame["label"].to_numpy(dtype=object),
                                 frame["pred"].to_numpy(dtype=object), frame["think_words"].to_numpy(dtype=np.float64),
                                 file.classes)


def category_columns(runs: list[Run]) -> list[str]:
    """Every category of any run, in the paper's order first."""
    present = {c for run in runs for c in run.summary.per_category}
    return [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))


def _unique_names(files: list[PredictionFile]) -> list[str]:
    """Run names for tables and file names; two runs of one model get their file stem appended."""
    names = [f.name for f in files]
    names = [f"{n} ({f.path.stem})" if names.count(n) > 1 else n for n, f in zip(names, files, strict=True)]
    return [f"{n} #{k + 1}" if names.count(n) > 1 else n for k, n in enumerate(names)]


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def markdown_table(runs: list[Run]) -> str:
    """Table 2 layout: per category Acc (%) and BS, then overall (micro) Acc and BS."""
    categories = category_columns(runs)
    lines = ["| Model | " + " | ".join(f"{c} Acc | {c} BS" for c in categories) + " | Overall Acc | Overall BS |",
             "|---|" + "---:|" * (2 * len(categories) + 2)]
    for run in runs:
        cells = []
        for c in categories:
            entry = run.summary.per_category.get(c)
            cells.append(f"{_pct(entry['accuracy'])} | {_pct(entry['balance_score'])}" if entry else "– | –")
        lines.append(f"| {run.name} | " + " | ".join(cells)
                     + f" | {_pct(run.summary.accuracy)} | {_pct(run.summary.balance_score)} |")
    return "\n".join(lines) + "\n"


def details_table(runs: list[Run]) -> str:
    """The other metrics of docs/design.md, one row per run, and what was wrong with each input."""
    classes = list(dict.fromkeys(c for run in runs for c in run.summary.classes))
    lines = ["| Model | pairs | " + " | ".join(f"recall {c}" for c in classes)
             + " | macro-F1 | balanced acc. (normal vs anomaly) | unparsable % | mean reasoning (words) | input |",
             "|---|" + "---:|" * (len(classes) + 5) + "---|"]
    for run in runs:
        s = run.summary
        recalls = " | ".join(_pct(s.per_class_recall[c]) if c in s.per_class_recall else "–" for c in classes)
        lines.append(f"| {run.name} | {s.pairs} | {recalls} | {s.macro_f1:.3f} | {_pct(s.binary_balanced_accuracy)} | "
                     f"{100 * s.unparsable_share:.1f} | {s.mean_reasoning_words:.1f} | {run.file.describe_issues()} |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(runs: list[Run]) -> str:
    """Table 2 layout for the paper (booktabs)."""
    categories = category_columns(runs)
    head = " & ".join(f"\\multicolumn{{2}}{{c}}{{{latex_escape(c.replace('_', ' ').title())}}}"
                      for c in [*categories, "overall"])
    rules = " ".join(f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(categories) + 1))
    lines = [f"\\begin{{tabular}}{{l{'cc' * (len(categories) + 1)}}}", "\\toprule", f"Model & {head} \\\\", rules,
             " & " + " & ".join(["Acc & BS"] * (len(categories) + 1)) + " \\\\", "\\midrule"]
    for run in runs:
        cells = []
        for c in categories:
            entry = run.summary.per_category.get(c)
            cells.append(f"{_pct(entry['accuracy'])} & {_pct(entry['balance_score'])}" if entry else "-- & --")
        cells.append(f"{_pct(run.summary.accuracy)} & {_pct(run.summary.balance_score)}")
        lines.append(f"{latex_escape(run.name)} & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(run: Run, path: Path) -> None:
    plt = _pyplot()
    m = run.summary.confusion_matrix
    classes = list(run.summary.classes)
    fig, ax = plt.subplots(figsize=(1.3 * (len(classes) + 1) + 1.6, 1.0 * len(classes) + 1.6))
    ax.imshow(m, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(classes) + 1), [*classes, metrics.UNPARSABLE], rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    threshold = m.max() / 2 if m.size and m.max() else 1
    for i, j in np.ndindex(m.shape):
        ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > threshold else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{run.name}\nacc {_pct(run.summary.accuracy)}%, BS {_pct(run.summary.balance_score)}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_category_bars(runs: list[Run], path: Path) -> None:
    plt = _pyplot()
    categories = category_columns(runs)
    groups = [*categories, "overall"]
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 0.3 * len(runs)), 4.0))
    x = np.arange(len(groups))
    for k, run in enumerate(runs):
        values = [100 * run.summary.per_category[c]["accuracy"] if c in run.summary.per_category else 0.0
                  for c in categories] + [100 * run.summary.accuracy]
        bars = ax.bar(x + k * width, values, width, label=run.name)
        if len(runs) <= 4:
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x + width * (len(runs) - 1) / 2, [g.replace("_", "\n") for g in groups])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Accuracy per category (overall = micro over all pairs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _thumbnail(png: bytes, size: int = 192) -> str:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def sample_rows(frame: pd.DataFrame, per_group: int) -> pd.DataFrame:
    """Up to ``per_group`` answered rows of each (category, true class), so every filter has examples."""
    answered = frame[~frame["missing"].astype(bool)] if "missing" in frame else frame
    return answered.groupby(["category", "label"], sort=False, group_keys=False).head(per_group).sort_values("index")


def _safe_attr(value) -> str:
    return html.escape(str(value), quote=True)


def samples_html(run: Run, images: dict[int, list], path: Path, per_group: int = 12) -> int:
    """A self-contained page of sample pairs (reference and test thumbnails, reasoning, answer,
    correct or not), filterable by category, true class, predicted class and correctness with a few
    lines of plain JS. Returns the number of rows shown."""
    frame = sample_rows(run.file.frame, per_group)
    body = []
    for _, r in frame.iterrows():
        pair = images.get(int(r["index"]))
        thumbs = "".join(f'<figure><img src="{_thumbnail(img["bytes"])}" alt="{kind} image"><figcaption>{kind}'
                         "</figcaption></figure>" for img, kind in zip(pair, ("reference", "test"), strict=True)) \
            if pair is not None else '<span class="muted">no images (pass --data)</span>'
        pred = r["pred"] if isinstance(r["pred"], str) else metrics.UNPARSABLE
        ok = pred == r["label"]
        parsed = parse_response(r["response"]) if isinstance(r.get("response"), str) else None
        think = parsed.think if parsed and parsed.think is not None else ""
        answer = parsed.answer if parsed and parsed.answer is not None else ""
        raw = "" if parsed is None or parsed.think is not None else html.escape(str(r["response"]))
        raw = f"<details><summary>raw response</summary><pre>{raw}</pre></details>" if raw else ""
        body.append(
            f'<tr data-category="{_safe_attr(r["category"])}" data-label="{_safe_attr(r["label"])}" '
            f'data-pred="{_safe_attr(pred)}" data-correct="{"yes" if ok else "no"}">'
            f'<td>{int(r["index"])}</td><td>{html.escape(r["category"])}</td><td class="pair">{thumbs}</td>'
            f'<td>{html.escape(r["label"])}</td><td>{html.escape(pred)}</td>'
            f'<td class="{"ok" if ok else "bad"}">{"✓" if ok else "✗"}</td>'
            f'<td><pre>{html.escape(think)}</pre>{raw}</td>'
            f'<td><pre>{html.escape(answer)}</pre></td></tr>')

    def select(key: str, title: str, values) -> str:
        options = "".join(f'<option value="{_safe_attr(v)}">{html.escape(v)}</option>' for v in values)
        return f'<label>{title} <select id="{key}"><option value="">all</option>{options}</select></label>'

    classes = list(run.summary.classes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fadtq samples: {html.escape(run.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px; vertical-align: top; }}
pre {{ white-space: pre-wrap; max-width: 36em; margin: 0; font-size: 0.85em; }}
figure {{ display: inline-block; margin: 0 4px 0 0; text-align: center; font-size: 0.8em; }}
.ok {{ color: green; }} .bad {{ color: #b00; }} .muted {{ color: #888; }} label {{ margin-right: 1em; }}
</style></head>
<body><h1>Sample pairs: {html.escape(run.name)}</h1>
<p>Accuracy {_pct(run.summary.accuracy)}% over {run.summary.pairs} pairs, Balance Score {_pct(run.summary.balance_score)}%;
up to {per_group} answered pairs per category and true class are shown ({len(frame)} rows).
Input: {html.escape(run.file.describe_issues())}.</p>
<p>{select("category", "category", sorted(set(frame["category"])))}
{select("label", "true class", classes)}
{select("pred", "predicted", [*classes, metrics.UNPARSABLE])}
{select("correct", "correct", ["yes", "no"])}
<span id="shown"></span></p>
<table id="samples"><thead><tr><th>#</th><th>category</th><th>reference · test</th><th>true</th><th>predicted</th>
<th></th><th>reasoning</th><th>answer</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
<script>
const filters = ["category", "label", "pred", "correct"].map(id => document.getElementById(id));
function applyFilters() {{
  let shown = 0;
  for (const row of document.querySelectorAll("#samples tbody tr")) {{
    const visible = filters.every(f => !f.value || row.dataset[f.id] === f.value);
    row.style.display = visible ? "" : "none";
    shown += visible;
  }}
  document.getElementById("shown").textContent = shown + " shown";
}}
filters.forEach(f => f.addEventListener("change", applyFilters));
applyFilters();
</script></body></html>
"""
    path.write_text(page, encoding="utf-8")
    return len(frame)


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def load_runs(prediction_files, test: GroundTruth | None) -> list[Run]:
    files = [read_predictions(path, test) for path in prediction_files]
    return [Run(name, f, summarize(f)) for name, f in zip(_unique_names(files), files, strict=True)]


def metrics_json(runs: list[Run]) -> list[dict]:
    return [{
        "model": run.name, "file": str(run.file.path), "pairs": run.summary.pairs, "classes": list(run.summary.classes),
        "accuracy": run.summary.accuracy, "balance_score": run.summary.balance_score,
        "per_category": run.summary.per_category, "confusion_matrix": run.summary.confusion_matrix.tolist(),
        "confusion_columns": [*run.summary.classes, metrics.UNPARSABLE],
        "per_class_recall": run.summary.per_class_recall, "macro_f1": run.summary.macro_f1,
        "binary_balanced_accuracy": run.summary.binary_balanced_accuracy,
        "mean_reasoning_words": run.summary.mean_reasoning_words, "unparsable_share": run.summary.unparsable_share,
        "prediction_distribution": run.summary.prediction_distribution,
        "input_issues": run.file.problems, "input_issue_lines": run.file.first_lines, "models": run.file.models,
        "checked_against_test_set": run.file.checked_against_test_set,
    } for run in runs]


def write_report(prediction_files, out_dir, data=None, per_group: int = 12) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns ``{kind: path}``."""
    test, test_frame = load_test_set(data) if data else (None, None)
    runs = load_runs(prediction_files, test)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {}
    if test_frame is not None:
        images = {int(info["index"]): list(pair) for info, pair in zip(test_frame["extra_info"], test_frame["images"], strict=True)}
    files = {"markdown": out / "table.md", "latex": out / "table.tex", "bars": out / "accuracy_by_category.png",
             "metrics": out / "metrics.json"}
    note = ("Acc = micro accuracy (%) over all pairs of the category / test set; BS = Balance Score (%, as the paper's Table 2) "
            "H(p)/log K of the predicted classes (unparsable answers are no class; their share is below). "
            "Unparsable and missing answers count as wrong.")
    files["markdown"].write_text(f"{markdown_table(runs)}\n{note}\n\n{details_table(runs)}", encoding="utf-8")
    files["latex"].write_text(latex_table(runs), encoding="utf-8")
    plot_category_bars(runs, files["bars"])
    for run in runs:
        stem = _file_stem(run.name)
        files[f"confusion:{run.name}"] = out / f"confusion_{stem}.png"
        plot_confusion(run, files[f"confusion:{run.name}"])
        files[f"samples:{run.name}"] = out / f"samples_{stem}.html"
        samples_html(run, images, files[f"samples:{run.name}"], per_group)
    files["metrics"].write_text(json.dumps(metrics_json(runs), indent=2), encoding="utf-8")
    return files
