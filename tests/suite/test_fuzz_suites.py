"""A generative test: the built-in suites mutated with each registry's own parameter rules.

Every mutant must be either refused in one line per problem (an :class:`XBenchError`, never another exception;
no problem split over lines), or a valid suite that preflight accepts and the plan expands, with nothing written
and in under 5 CPU seconds, before any work.  The examples are derandomized (the same ones on every machine, in CI) and
bounded so the file runs in well under a minute; the in-process path is the one ``xbench run`` takes
(parse, preflight, plan), and a few mutants also run as a real ``python -m xbench`` process.
"""

from __future__ import annotations

import copy
import math
import os
import random
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xbench.data import DATASETS  # noqa: E402
from xbench.errors import XBenchError, error_lines  # noqa: E402
from xbench.methods import METHODS  # noqa: E402
from xbench.metrics import METRICS  # noqa: E402
from xbench.models import MODELS  # noqa: E402
from xbench.plan import all_parts, units  # noqa: E402
from xbench.preflight import preflight  # noqa: E402
from xbench.registry import ParamSpec  # noqa: E402
from xbench.suite import parse_suite  # noqa: E402

# the built-in suites that open offline in a second (the photo suites build EfficientNet-Lite0, the real-data ones
# need folders: their refusals are covered by tests/suite/test_malformed_corpus.py)
BASES = ["quickstart", "methods_tour", "xdnn_accuracy", "xdnn_ig_equivalence", "xdnn_quality", "split_ig",
         "localisation_synthetic"]
EXAMPLES = 40
SECONDS_EACH = 5.0
NASTY = ["", "-", "_info", "_preview", "a\nb", "a\rb", "a\u2028b", "a\x85b", "a\x00b", "a\x1bb", "a\ud800b",
         "../x", "~nosuchuser_xb/x.pt", "Zero", "references", "x" * 200]
NUMBERS = [0, -1, 1, 2, 10**6, 2**63, int("9" * 400), 0.5, -0.0, 1e308, math.inf, math.nan, True]


def _raw(name: str) -> dict:
    return yaml.safe_load(resources.files("xbench.suite").joinpath("builtin", f"{name}.yaml").read_text())


def _values(spec: ParamSpec, rnd: random.Random) -> list:
    """Values the registry's rule for ``spec`` accepts (its bounds, its choices) and values just outside it."""
    out: list = list(spec.choices or []) + [rnd.choice(NUMBERS), rnd.choice(NASTY), [0, 0], {"a": 1}, None]
    if spec.low is not None or spec.high is not None:
        lo = spec.low if spec.low is not None else -1e3
        hi = spec.high if spec.high is not None else lo + 1e3
        for v in (lo, hi, lo + (hi - lo) * rnd.random()):
            out += [v, int(v) if float(v).is_integer() or int in spec.types else v]
        out += [lo - 1, hi + 1]
    if spec.choices:
        out.append(str(spec.choices[0]).upper())
    return out


def _entries(raw: dict, key: str) -> list:
    items = raw.get(key) if isinstance(raw.get(key), list) else []
    for i, it in enumerate(items):
        if isinstance(it, str):
            items[i] = {"name": it}
    return items


def mutate(raw: dict, rnd: random.Random, n: int) -> dict:
    """``raw`` with ``n`` mutations drawn by ``rnd``: a registered parameter set to a value its rule allows or
    just refuses, a label or name made nasty, an entry swapped for another registered one, a field dropped."""
    raw = copy.deepcopy(raw)
    registries = {"methods": METHODS, "metrics": METRICS, "models": MODELS}
    for _ in range(n):
        kind = rnd.choice(["methods", "metrics", "models", "data", "top"])
        if kind == "data":
            data = raw["data"] if isinstance(raw.get("data"), dict) else {"name": raw.get("data", "digits")}
            raw["data"] = data
            entry = DATASETS.get(data["name"]) if data.get("name") in DATASETS else None
            params = dict(entry.params) if entry else {}
            params.update({k: ParamSpec(k, None, (int,), low=0, high=2**20) for k in ("n_samples", "batch_size")})
            key = rnd.choice(sorted(params))
            data[key] = rnd.choice(_values(params[key], rnd))
        elif kind == "top":
            key = rnd.choice(["seed", "name", "dtype", "device"])
            raw[key] = rnd.choice([*NUMBERS, *NASTY, "float64", "cpu", "cuda:7"])
        else:
            items = _entries(raw, kind)
            if not items:
                continue
            item = rnd.choice(items)
            registry = registries[kind]
            what = rnd.random()
            if what < 0.15:
                item["label"] = rnd.choice(NASTY)
            elif what < 0.25:
                item.clear()
                item["name"] = rnd.choice(registry.available() + NASTY[:6])
            elif item.get("name") in registry:
                params = registry.get(item["name"]).params
                if params:
                    key = rnd.choice(sorted(params))
                    item[key] = rnd.choice(_values(params[key], rnd))
    return raw


def _one_line_each(err: XBenchError) -> list[str]:
    lines = error_lines(err)
    assert lines and all(line and "\n" not in line and len(line.splitlines()) == 1 for line in lines), lines
    assert all(not any(ord(c) < 32 and c != "\t" for c in line) for line in lines), lines
    return lines


def check(raw: dict) -> str:
    """Parse, preflight and plan ``raw`` as ``xbench run`` does; returns 'refused' or 'valid'."""
    try:
        suite = parse_suite(copy.deepcopy(raw), "<fuzz>")
        preflight(suite)
        n_batches = -(-suite.data.n_samples // suite.data.batch_size)
        for model in suite.models:
            units(suite, model)
        parts = all_parts(suite, Path("/nonexistent-run"), n_batches)
        assert len(parts) == len(set(parts)), "two cells share a part file"
        return "valid"
    except XBenchError as err:
        _one_line_each(err)
        return "refused"


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import what preflight imports (Captum, scikit-learn's data) once, outside the timed examples."""
    check(_raw("quickstart"))


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(BASES), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3))
def test_mutated_builtin_suites_are_refused_in_one_line_or_valid(base, seed, n, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    raw = mutate(_raw(base), random.Random(seed), n)
    started = time.process_time()  # CPU seconds: a shared, loaded machine must not fail the test
    outcome = check(raw)
    seconds = time.process_time() - started
    assert seconds < SECONDS_EACH, f"{outcome} after {seconds:.1f} CPU s: {raw}"
    assert sorted(tmp_path.rglob("*")) == before, "something was written"
    COUNTS[outcome] = COUNTS.get(outcome, 0) + 1


COUNTS: dict[str, int] = {}


def test_the_fuzzer_reaches_both_outcomes():
    """The mutations are neither all refused nor all accepted (else the fuzzer tests nothing); seeded, so this is
    the same on every machine."""
    rnd = random.Random(0)
    seen = {check(mutate(_raw(BASES[i % 2]), rnd, 1)) for i in range(12)}
    assert seen == {"refused", "valid"}


@pytest.mark.parametrize("seed", [3, 11])
def test_a_few_mutants_as_a_real_process(seed, tmp_path):
    """The same mutants through ``python -m xbench run``: exit 2 and one line per problem, or a run that starts;
    nothing is written when refused."""
    rnd = random.Random(seed)
    raw = mutate(_raw("quickstart"), rnd, 2)
    raw.setdefault("methods", [])
    raw["methods"] = [*_entries(raw, "methods"), {"name": "saliency", "label": "-"}]  # always refused too
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(raw, allow_unicode=False))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-m", "xbench", "run", str(suite), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300, env=env, cwd=work)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("xbench: error: ") for line in lines), r.stderr
    assert any("'-' is reserved" in line for line in lines)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() and list(work.iterdir()) == []
