"""Reports over one or more prediction files: the paper's Table 2 layout (Markdown and LaTeX),
confusion-matrix PNGs, a per-category bar chart comparing runs, and an HTML page of sample pairs."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fadtq.eval import metrics
from fadtq.eval.predictions import PredictionFile, read_predictions
from fadtq.labels import BINARY_LABELS, PAIR3C_LABELS

CATEGORY_ORDER = ("breakfast_box", "splicing_connectors", "juice_bottle", "screw_bag", "pushpins")  # paper's Table 2


@dataclass
class RunMetrics:
    name: str
    n: int
    accuracy: float
    balance: float
    per_category: dict[str, tuple[int, int, float, float]]  # category -> (correct, total, acc, bs)
    confusion: np.ndarray
    recall: dict[str, float]
    macro_f1: float
    binary_balanced_accuracy: float
    mean_think_words: float
    unparsable: float
    issues: str


def fill_missing_rows(run: PredictionFile, test: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of the test set absent from the predictions count as unparsable (never silently dropped)."""
    frame = run.frame
    if test is None:
        return frame
    present = set(frame["index"]) if len(frame) else set()
    missing = [{"index": int(e["index"]), "category": e["category"], "label": r["ground_truth"], "pred": None}
               for e, r in zip(test["extra_info"], test["reward_model"]) if int(e["index"]) not in present]
    return pd.concat([frame, pd.DataFrame(missing)], ignore_index=True) if missing else frame


def compute_run_metrics(run: PredictionFile, classes, test: pd.DataFrame | None = None) -> RunMetrics:
    frame = fill_missing_rows(run, test)
    labels = frame["label"].tolist()
    preds = [p if isinstance(p, str) else None for p in frame["pred"].tolist()]
    categories = frame["category"].tolist()
    per_category = {}
    cats = np.asarray(categories, dtype=object)
    correct = np.asarray(labels, dtype=object) == np.asarray(preds, dtype=object)
    for category in sorted(set(categories), key=lambda c: (CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99, c)):
        mask = cats == category
        per_category[category] = (int(correct[mask].sum()), int(mask.sum()), float(correct[mask].mean()),
                                  metrics.balance_score([p for p, m in zip(preds, mask) if m], classes))
    words = frame["think_words"].fillna(0).tolist() if "think_words" in frame else []
    return RunMetrics(
        name=run.name, n=len(frame), accuracy=metrics.accuracy(labels, preds),
        balance=metrics.balance_score(preds, classes), per_category=per_category,
        confusion=metrics.confusion_matrix(labels, preds, classes), recall=metrics.per_class_recall(labels, preds, classes),
        macro_f1=metrics.macro_f1(labels, preds, classes),
        binary_balanced_accuracy=metrics.binary_balanced_accuracy(labels, preds),
        mean_think_words=float(np.mean(words)) if len(words) else 0.0,
        unparsable=metrics.unparsable_share(preds), issues=run.describe_issues(),
    )


def markdown_table(runs: list[RunMetrics]) -> str:
    categories = list(runs[0].per_category)
    header = "| model | " + " | ".join(f"{c} Acc | {c} BS" for c in categories) + " | overall Acc | overall BS |"
    lines = [header, "|" + "---|" * (2 * len(categories) + 3)]
    for r in runs:
        cells = [f"{100 * r.per_category[c][2]:.2f} | {r.per_category[c][3]:.3f}" if c in r.per_category else "– | –"
                 for c in categories]
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {100 * r.accuracy:.2f} | {r.balance:.3f} |")
    return "\n".join(lines) + "\n"


def latex_table(runs: list[RunMetrics]) -> str:
    categories = list(runs[0].per_category)
    cols = "l" + "cc" * (len(categories) + 1)
    head = " & ".join(f"\\multicolumn{{2}}{{c}}{{{c.replace('_', ' ')}}}" for c in categories)
    lines = [f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
             f"Model & {head} & \\multicolumn{{2}}{{c}}{{Overall}} \\\\",
             " & " + " & ".join(["Acc & BS"] * (len(categories) + 1)) + " \\\\", "\\midrule"]
    for r in runs:
        cells = [f"{100 * r.per_category[c][2]:.2f} & {r.per_category[c][3]:.3f}" if c in r.per_category else "-- & --"
                 for c in categories]
        lines.append(f"{r.name.replace('_', chr(92) + '_')} & " + " & ".join(cells)
                     + f" & {100 * r.accuracy:.2f} & {r.balance:.3f} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def plot_confusion(run: RunMetrics, classes, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    m = run.confusion
    ax.imshow(m, cmap="Blues")
    columns = [*classes, metrics.UNPARSABLE]
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{run.name} (acc {100 * run.accuracy:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_category_bars(runs: list[RunMetrics], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories = list(runs[0].per_category) + ["overall"]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(categories)), 3.8))
    for k, run in enumerate(runs):
        values = [100 * run.per_category.get(c, (0, 0, 0.0, 0))[2] for c in categories[:-1]] + [100 * run.accuracy]
        ax.bar(np.arange(len(categories)) + k * width, values, width, label=run.name)
    ax.set_xticks(np.arange(len(categories)) + width * (len(runs) - 1) / 2, [c.replace("_", "\n") for c in categories])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _thumbnail(png: bytes, size: int = 160) -> str:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def samples_html(run: PredictionFile, test: pd.DataFrame | None, path: Path, max_rows: int = 200) -> None:
    """A self-contained page of sample pairs, filterable by category, true class and correctness."""
    images = {}
    if test is not None:
        images = {int(e["index"]): imgs for e, imgs in zip(test["extra_info"], test["images"])}
    frame = run.frame.head(max_rows)
    rows = []
    for _, r in frame.iterrows():
        pair = images.get(int(r["index"]))
        thumbs = "".join(f'<img src="{_thumbnail(img["bytes"])}" alt="{kind}">'
                         for img, kind in zip(pair, ("reference", "test"))) if pair is not None else "(no images)"
        ok = isinstance(r["pred"], str) and r["pred"] == r["label"]
        response = html.escape(str(r.get("response", "")))[:4000]
        rows.append(f'<tr data-category="{html.escape(r["category"])}" data-label="{html.escape(r["label"])}" '
                    f'data-correct="{"yes" if ok else "no"}"><td>{int(r["index"])}</td><td>{html.escape(r["category"])}</td>'
                    f'<td class="pair">{thumbs}</td><td>{html.escape(r["label"])}</td><td>{html.escape(str(r["pred"]))}</td>'
                    f'<td class="{"ok" if ok else "bad"}">{"✓" if ok else "✗"}</td><td><pre>{response}</pre></td></tr>')
    options = lambda values: "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)  # noqa: E731
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>fadtq samples: {html.escape(run.name)}</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
pre{{white-space:pre-wrap;max-width:40em;margin:0}}.ok{{color:green}}.bad{{color:#b00}}.pair img{{margin-right:4px}}</style></head>
<body><h1>Sample pairs — {html.escape(run.name)}</h1>
<p>Reference (left) and test (right) images, the model's reasoning and answer. {len(frame)} of {len(run.frame)} rows.</p>
<label>category <select id="category"><option value="">all</option>{options(sorted(set(frame["category"])))}</select></label>
<label>true class <select id="label"><option value="">all</option>{options(sorted(set(frame["label"])))}</select></label>
<label>correct <select id="correct"><option value="">all</option><option>yes</option><option>no</option></select></label>
<table id="samples"><thead><tr><th>#</th><th>category</th><th>reference · test</th><th>true</th><th>predicted</th><th></th><th>response</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<script>
const filters = ["category", "label", "correct"].map(id => document.getElementById(id));
function apply() {{
  for (const row of document.querySelectorAll("#samples tbody tr")) {{
    row.style.display = filters.every(f => !f.value || row.dataset[f.id] === f.value) ? "" : "none";
  }}
}}
filters.forEach(f => f.addEventListener("change", apply));
</script></body></html>"""
    path.write_text(page, encoding="utf-8")


def write_report(prediction_files: list, out_dir, data=None) -> dict[str, Path]:
    """Write every report file into ``out_dir`` and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    test = pd.read_parquet(data) if data else None
    indices = [int(e["index"]) for e in test["extra_info"]] if test is not None else None
    runs = []
    for path in prediction_files:
        probe = read_predictions(path, PAIR3C_LABELS + BINARY_LABELS, indices)
        labels = set(probe.frame["label"]) if len(probe.frame) else set(PAIR3C_LABELS)
        classes = BINARY_LABELS if labels <= set(BINARY_LABELS) and labels - {"normal"} else PAIR3C_LABELS
        run = read_predictions(path, classes, indices)
        runs.append((run, compute_run_metrics(run, classes, test), classes))
    files = {"markdown": out / "table.md", "latex": out / "table.tex", "bars": out / "accuracy_by_category.png",
             "metrics": out / "metrics.json"}
    results = [m for _, m, _ in runs]
    files["markdown"].write_text(markdown_table(results) + "\n" + "\n".join(
        f"- {m.name}: {m.n} pairs; macro-F1 {m.macro_f1:.3f}; balanced acc. (normal vs anomaly) "
        f"{100 * m.binary_balanced_accuracy:.2f}; unparsable {100 * m.unparsable:.1f}%; mean reasoning "
        f"{m.mean_think_words:.1f} words; input: {m.issues}" for m in results) + "\n")
    files["latex"].write_text(latex_table(results))
    plot_category_bars(results, files["bars"])
    for run, m, classes in runs:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in m.name)
        files[f"confusion:{m.name}"] = out / f"confusion_{safe}.png"
        plot_confusion(m, classes, files[f"confusion:{m.name}"])
        files[f"samples:{m.name}"] = out / f"samples_{safe}.html"
        samples_html(run, test, files[f"samples:{m.name}"])
    files["metrics"].write_text(json.dumps([{
        "model": m.name, "pairs": m.n, "accuracy": m.accuracy, "balance_score": m.balance,
        "per_category": {c: {"correct": v[0], "total": v[1], "accuracy": v[2], "balance_score": v[3]}
                         for c, v in m.per_category.items()},
        "confusion_matrix": m.confusion.tolist(), "per_class_recall": m.recall, "macro_f1": m.macro_f1,
        "binary_balanced_accuracy": m.binary_balanced_accuracy, "mean_think_words": m.mean_think_words,
        "unparsable_share": m.unparsable, "input_issues": m.issues} for m in results], indent=2))
    return files
