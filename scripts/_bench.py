"""The harness of every ``scripts/bench_*.py``: a machine line, round-robin timings (median and best),
ratios and goals against a baseline measured in the same run, and ``--json``.

    parser = bench_parser(__doc__)           # adds --json
    args = parser.parse_args()
    bench = Bench("advantage", args)         # prints the machine line
    bench.round_robin({"ours": f, "baseline": g}, repeats=7)
    bench.ratio("ours vs baseline", "baseline", "ours")
    bench.goal("ours under 1 s", "ours", at_most=1.0)
    sys.exit(bench.finish())                 # prints ratios and goals, or why there are none

Ratios and goals are printed only by :meth:`Bench.finish`, after the last measurement, and only if no
measured call failed: a speed-up over a run that lost requests or crashed measures something else.
Speed goals are reported here, against a baseline of the same run, never asserted by timed tests.
With ``--json`` the readable lines go to stderr and stdout gets one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout (text on stderr)")
    return parser


def machine() -> dict:
    """CPU model, cores, Python and torch versions, load: what a timing depends on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        torch_version = metadata.version("torch")  # without importing torch (seconds)
    except metadata.PackageNotFoundError:
        torch_version = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "torch": torch_version, "load_average": round(os.getloadavg()[0], 2)}


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms" if seconds < 1 else f"{seconds:9.2f} s "


@dataclass
class Measurement:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU time per call (timed calls only)
    error: str | None = None
    value: object = None  # what the last call returned

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def cores_used(self) -> float | None:
        """Process CPU seconds per wall second over the timed calls: how many cores the work got."""
        return sum(self.cpu_seconds) / sum(self.seconds) if self.cpu_seconds else None

    def as_json(self) -> dict:
        ok = self.error is None and bool(self.seconds)
        return {"seconds": self.seconds, "median_s": self.median if ok else None, "best_s": self.best if ok else None,
                "cores_used": self.cores_used, "error": self.error}


@dataclass
class _Ratio:
    label: str
    numerator: str
    denominator: str
    minus: str | None


@dataclass
class _Goal:
    label: str
    name: str
    at_most: float
    over: str | None


class Bench:
    """One benchmark run: measurements by name, and the ratios and goals to report at the end."""

    def __init__(self, name: str, args: argparse.Namespace | None = None):
        self.name = name
        self.json = bool(getattr(args, "json", False))
        self.settings = {k: v for k, v in vars(args).items() if k != "json"} if args is not None else {}
        self.machine = machine()
        self.measurements: dict[str, Measurement] = {}
        self.facts: dict[str, object] = {}
        self._ratios: list[_Ratio] = []
        self._goals: list[_Goal] = []
        m = self.machine
        self.say(f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), python {m['python']}, "
                 f"torch {m['torch'] or 'not installed'}, load average {m['load_average']:.2f}")
        if m["load_average"] >= 1:
            # A parallel op waits for its slowest thread; on a shared core that thread waits for a time slice.
            self.say("note: other processes share the cores: timings are inflated, multi-threaded ones most "
                     "(tens of ms per parallel op); compare ratios within one run, or time with one thread")

    def say(self, text: str = "") -> None:
        print(text, file=sys.stderr if self.json else sys.stdout, flush=True)

    def fact(self, key: str, value, text: str | None = None) -> None:
        """A number the run found besides timings (kept in the JSON); ``text`` is printed."""
        self.facts[key] = value
        if text is not None:
            self.say(text)

    @property
    def failures(self) -> dict[str, str]:
        return {name: m.error for name, m in self.measurements.items() if m.error is not None}

    def _new(self, name: str) -> Measurement:
        if name in self.measurements:
            raise ValueError(f"measurement {name!r} already exists")
        self.measurements[name] = Measurement(name)
        return self.measurements[name]

    def round_robin(self, functions: dict, repeats: int, warmup: bool = True) -> dict[str, Measurement]:
        """Call each function once per round, ``repeats`` rounds (so load changes on a shared machine hit
        all alike), after one untimed warm-up call each. A call that raises marks its measurement failed
        and drops it from later rounds. Prints one line per function."""
        measured = {name: self._new(name) for name in functions}
        live = dict(functions)

        def call(name, timed: bool) -> None:
            m = measured[name]
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                m.value = live[name]()
            except Exception as exc:  # a failed call is a result of the benchmark, not a crash of it
                m.error = f"{type(exc).__name__}: {exc}"
                del live[name]
                self.say(f"  {name:<28} FAILED: {m.error}")
                return
            if timed:
                m.seconds.append(time.perf_counter() - wall)
                m.cpu_seconds.append(time.process_time() - cpu)

        if warmup:
            for name in list(live):
                call(name, timed=False)
        for _ in range(repeats):
            for name in list(live):
                call(name, timed=True)
        for name in live:
            self._show(measured[name])
        return measured

    def record(self, name: str, seconds: list[float], value=None) -> Measurement:
        """A measurement timed elsewhere (e.g. a trainer's own step timings)."""
        m = self._new(name)
        m.seconds, m.value = list(seconds), value
        if not m.seconds:
            m.error = "no timings"
        self._show(m)
        return m

    def fail(self, name: str, reason: str) -> None:
        """A measured call that failed outside :meth:`round_robin` (a crashed run, lost requests)."""
        m = self.measurements.get(name) or self._new(name)
        m.error = reason
        self.say(f"  {name:<28} FAILED: {reason}")

    def _show(self, m: Measurement) -> None:
        if m.error is not None:
            return
        if len(m.seconds) == 1:
            self.say(f"  {m.name:<28} {format_seconds(m.seconds[0])}")
        else:
            self.say(f"  {m.name:<28} median {format_seconds(m.median)}   best {format_seconds(m.best)}   "
                     f"({len(m.seconds)} calls)")

    def ratio(self, label: str, numerator: str, denominator: str, minus: str | None = None) -> None:
        """Report ``numerator / denominator`` (of two measurements' median and best) at :meth:`finish`;
        with ``minus``, the ratio of what each costs beyond that third measurement (n/a when the
        denominator is not above it: the difference is within the noise)."""
        self._ratios.append(_Ratio(label, numerator, denominator, minus))

    def goal(self, label: str, name: str, at_most: float, over: str | None = None) -> None:
        """Report at :meth:`finish` whether the median of ``name`` (divided by that of ``over``) is ≤ ``at_most``."""
        self._goals.append(_Goal(label, name, at_most, over))

    def _missing(self) -> list[str]:
        wanted = [n for r in self._ratios for n in (r.numerator, r.denominator, r.minus) if n]
        wanted += [n for g in self._goals for n in (g.name, g.over) if n]
        return sorted({n for n in wanted if n not in self.measurements or not self.measurements[n].seconds})

    def finish(self) -> int:
        """Print the ratios and goals — none at all if any measured call failed — and, with ``--json``,
        the JSON document. Returns the exit status: 1 if anything failed."""
        for name in self._missing():
            if name not in self.failures:
                self.fail(name, "not measured")
        failures = self.failures
        ratios, goals = [], []
        if failures:
            self.say(f"no ratios and no goals: {len(failures)} measured call(s) failed ({', '.join(failures)})")
        else:
            for r in self._ratios:
                ratios.append({"label": r.label, "numerator": r.numerator, "denominator": r.denominator,
                               "minus": r.minus, "median": self._quotient(r, "median"),
                               "best": self._quotient(r, "best")})
            for g in self._goals:
                value = self.measurements[g.name].median
                if g.over:
                    value /= self.measurements[g.over].median
                goals.append({"label": g.label, "name": g.name, "over": g.over, "at_most": g.at_most,
                              "value": value, "met": value <= g.at_most})
            self._print(ratios, goals)
        if self.json:
            print(json.dumps({"benchmark": self.name, "machine": self.machine, "settings": self.settings,
                              "measurements": {n: m.as_json() for n, m in self.measurements.items()},
                              "facts": self.facts, "failures": failures, "ratios": ratios, "goals": goals,
                              "ok": not failures}, indent=2, default=str))
        return 1 if failures else 0

    def _quotient(self, r: _Ratio, stat: str) -> float | None:
        """None when the denominator (beyond ``minus``) is not above zero: within the noise, no ratio."""
        value = {n: getattr(self.measurements[n], stat) for n in (r.numerator, r.denominator, r.minus) if n}
        offset = value[r.minus] if r.minus else 0.0
        denominator = value[r.denominator] - offset
        return (value[r.numerator] - offset) / denominator if denominator > 0 else None

    def _print(self, ratios: list[dict], goals: list[dict]) -> None:
        if ratios:
            self.say("ratios (median / best):")
        for r in ratios:
            formula = f"{r['numerator']} / {r['denominator']}"
            if r["minus"]:
                formula = f"({r['numerator']} − {r['minus']}) / ({r['denominator']} − {r['minus']})"
            shown = ["    n/a " if q is None else f"{q:7.2f}×" for q in (r["median"], r["best"])]
            self.say(f"  {r['label']:<50} {shown[0]} {shown[1]}   {formula}")
        for g in goals:
            shown = f"{g['value']:.2f}×" if g["over"] else format_seconds(g["value"]).strip()
            measured = f"{g['name']} / {g['over']}" if g["over"] else g["name"]
            self.say(f"goal: {g['label']}: {'met' if g['met'] else 'MISSED'} ({measured}, median: {shown})")
