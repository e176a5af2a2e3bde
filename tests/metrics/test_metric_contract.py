"""The metric contract, parametrised over the registry: every registered metric gets these tests.

A metric declares at ``register(...)`` what it consumes, its direction, units and axis label; the
report reads those instead of keeping its own lists.
"""

from __future__ import annotations

import pytest
import torch

from xbench.errors import ParamError
from xbench.methods import attribute
from xbench.metrics import METRICS
from xbench.metrics.base import CONSUMES, CellContext, _metric_contract, arrow
from xbench.registry import Registry

ENTRIES = METRICS.entries()
CHEAP = {"sensitivity_n": {"n_subsets": 4}, "ig_distance": {"n_steps": 4}, "sensitivity_axiom": {"n_patches": 2},
         "max_sensitivity": {"n_samples": 2}, "avg_sensitivity": {"n_samples": 2}, "infidelity": {"n_samples": 2},
         "timing": {"repeats": 1, "warmup": 0}, "relative_input_stability": {"n_samples": 2},
         "relative_output_stability": {"n_samples": 2}, "relative_representation_stability": {"n_samples": 2},
         "local_lipschitz_estimate": {"n_samples": 2}}


def refused(entry, ctx: CellContext, params: dict) -> bool:
    """Whether the entry's declared ``fits`` check rejects this context; the cell must then refuse in one line."""
    fits = entry.meta.get("fits")
    why = fits(ctx.model, ctx.data_info, params) if fits is not None else None
    if why is None:
        return False
    assert "\n" not in why, entry.name
    with pytest.raises(ParamError):
        entry.fn(ctx, **params)
    return True


@pytest.fixture
def ctx(cnn, batch) -> CellContext:
    x, t = batch
    masks = torch.zeros(7, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:5] = True
    a = attribute(cnn, x, t, "saliency")
    return CellContext(model=cnn, inputs=x, target=t, attributions=a, method="saliency", method_params={},
                       attribute=lambda xx, tt, model=cnn: attribute(model, xx, tt, "saliency"),
                       baseline=torch.zeros_like(x),
                       labels=t, masks=masks)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_metric_declares_its_contract_and_its_cell_honours_it(entry, ctx):
    if entry.meta.get("datasets"):
        pytest.skip(f"{entry.name} runs on {entry.meta['datasets']} only (it retrains there): tests/metrics")
    meta = entry.meta
    # only a model-only description of the path (logit_path) consumes nothing of the cell
    assert set(meta["consumes"]) <= set(CONSUMES) and (meta["consumes"] or meta["direction"] == "none")
    assert meta["direction"] in ("higher", "lower", "per_stat", "none")
    assert isinstance(meta["units"], str) and meta["units"] and isinstance(meta["label"], str) and meta["label"]
    params = entry.resolve(CHEAP.get(entry.name, {}), where=entry.name)
    if refused(entry, ctx, params):  # e.g. ROAR on a model xbench cannot retrain
        return
    out = entry.fn(ctx, **params)
    assert out.values or out.batch_values, entry.name
    for stat, v in out.values.items():
        assert v.shape == (7,), stat
        # every per-sample stat has a direction, except a descriptive metric's (direction: none)
        assert arrow(entry.name, stat) in ((" ↑", " ↓") if meta["direction"] != "none" else ("",)), stat
    for stat, (cx, cy) in out.curves.items():
        assert cy.shape == (7, cx.shape[0]), stat
        assert meta.get("x_label"), "a metric with curves declares the x axis label"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_cell_uses_only_what_it_declares(entry, ctx):
    """A cell run with the context it does not declare removed still works (nothing hidden is consumed)."""
    if entry.meta.get("datasets"):
        pytest.skip(f"{entry.name} runs on {entry.meta['datasets']} only (it retrains there): tests/metrics")
    c = ctx
    blank = {"labels": None, "masks": None, "references": None, "data_info": {}}
    for key, value in blank.items():
        if key not in entry.meta["consumes"]:
            setattr(c, key, value)
    if "method" not in entry.meta["consumes"]:
        c.attribute = None  # type: ignore[assignment]
    if "path_start" not in entry.meta["consumes"]:
        c.baseline = None  # type: ignore[assignment]
    params = entry.resolve(CHEAP.get(entry.name, {}), where=entry.name)
    if not refused(entry, c, params):
        entry.fn(c, **params)


def test_contract_is_enforced_at_register():
    reg = Registry("metric", skip=4, contract=_metric_contract)
    with pytest.raises(ValueError, match="must declare consumes, direction, units, label"):
        reg.register("m", description="d")(lambda ctx: None)
    with pytest.raises(ValueError, match="consumes"):
        reg.register("m", description="d", consumes=("nothing",), direction="lower", units="u",
                     label="l")(lambda ctx: None)
    with pytest.raises(ValueError, match="directions"):
        reg.register("m", description="d", consumes=("attributions",), direction="per_stat", units="u",
                     label="l")(lambda ctx: None)


def test_the_generic_adapter_passes_exactly_what_is_consumed(ctx):
    """One plain function, registered with :func:`register_metric`: the adapter gives it the consumed
    context only (attributions positionally, the rest by keyword), the seed, curves when it takes them,
    and records the settings decided at run time."""
    from xbench.metrics.base import register_metric

    seen = []

    def spy(model, inputs, target, *args, baseline=None, attributor=None, labels=None, masks=None,
            references=None, data_info=None, seed=0, steps: int | None = None, return_curves: bool = False):
        seen.append({"args": len(args), "baseline": baseline is not None, "attributor": attributor is not None,
                     "labels": labels is not None, "masks": masks is not None, "seed": seed, "steps": steps})
        values = {"a": inputs.new_zeros(len(inputs))}
        return (values, torch.arange(3.0), inputs.new_zeros(len(inputs), 3)) if return_curves else values

    for consumes, want in ((("masks",), {"args": 0, "masks": True}),
                           (("attributions", "path_start", "method", "labels"),
                            {"args": 1, "baseline": True, "attributor": True, "labels": True})):
        name = f"_spy_{len(seen)}"
        register_metric(name, spy, settings=lambda c, p: {"steps": 5, "note": "x"}, description="spy",
                        direction="lower", consumes=consumes, units="u", label="l", x_label="t")
        try:
            out = METRICS.get(name).fn(ctx, **METRICS.get(name).resolve({}))
        finally:
            METRICS.unregister(name)
        got = seen[-1]
        assert got == {"args": 0, "baseline": False, "attributor": False, "labels": False, "masks": False,
                       "seed": ctx.seed, "steps": 5, **want}
        assert set(out.values) == {"a"} and set(out.curves) == {"curve"}
        assert out.settings == {"steps": 5, "note": "x"}


def test_the_generic_adapter_files_each_output_under_its_declared_kind(ctx):
    """Declared outputs: a tuple in declared order, per-batch figures, settings decided at run time, and
    one stat per curve point (``x_stat``) with their nan-mean; a bad kind is refused at register."""
    from xbench.metrics.base import register_metric

    def several(model, inputs, target, attributions):
        n = len(inputs)
        return {"a": inputs.new_ones(n), "b": 2.5, "chosen": 7}

    def pair(model, inputs, target, attributions):
        return inputs.new_zeros(len(inputs)), inputs.new_ones(len(inputs))

    def grid(model, inputs, target, attributions, return_curves: bool = False):
        g = torch.stack([inputs.new_zeros(len(inputs)), inputs.new_full((len(inputs),), 2.0)], 1)
        g[0, 1] = float("nan")
        return g, torch.tensor([1, 4]), g

    common = dict(description="t", direction="lower", consumes=("attributions",), units="u", label="l", x_label="x")
    try:
        register_metric("_several", several, outputs={"a": "sample", "b": "batch", "chosen": "setting"}, **common)
        register_metric("_pair", pair, outputs=("p", "q"), **common)
        register_metric("_grid", grid, x_stat="n={x}", curve="c", **common)
        out = METRICS.get("_several").fn(ctx)
        assert set(out.values) == {"a"} and out.batch_values == {"b": 2.5} and out.settings == {"chosen": 7}
        out = METRICS.get("_pair").fn(ctx)
        assert list(out.values) == ["p", "q"] and bool((out.values["q"] == 1).all())
        out = METRICS.get("_grid").fn(ctx)
        assert list(out.values) == ["n=1", "n=4", "mean"] and list(out.curves) == ["c"]
        assert out.values["mean"][0].item() == 0.0 and out.values["mean"][1].item() == 1.0  # nan left out
        with pytest.raises(ValueError, match="outputs"):
            register_metric("_bad", pair, outputs={"p": "per_pixel"}, **common)
    finally:
        for name in ("_several", "_pair", "_grid", "_bad"):
            METRICS.unregister(name)


# --- what a metric declares it fits (inputs, fits) is true, on an image and a tabular batch ----------------

KINDS = ("image", "tabular")
FITTING = {"substrate": "zero"}  # a setting every perturbation metric accepts on any data (its fits check says so)


@pytest.fixture
def tabular_ctx() -> CellContext:
    """7 tabular inputs of 30 features (as breast_cancer's) through a small biased MLP, with saliency attributions."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(30, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    x = torch.randn(7, 30, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    a = attribute(mlp, x, t, "saliency")
    return CellContext(model=mlp, inputs=x, target=t, attributions=a, method="saliency", method_params={},
                       attribute=lambda xx, tt, model=mlp: attribute(model, xx, tt, "saliency"),
                       baseline=torch.zeros_like(x),
                       labels=t)


def facts_of(c: CellContext, masks: bool) -> dict:
    from xbench.preflight import data_facts

    return data_facts(c.inputs[0], {"num_classes": 3}, masks)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_declared_inputs_are_true(entry, kind, ctx, tabular_ctx):
    """Declared kind: the cell runs and gives one finite-or-nan value per sample.  Undeclared kind: preflight's
    check of the declaration refuses it in one line naming the kinds; a ``fits`` check that refuses the
    defaults on this data names the setting, and the metric runs with a setting it accepts."""
    from xbench.preflight import _misfit_data

    if entry.meta.get("datasets"):
        pytest.skip(f"{entry.name} runs on {entry.meta['datasets']} only (it retrains there)")
    c = ctx if kind == "image" else tabular_ctx
    facts = facts_of(c, masks=c.masks is not None)
    params = entry.resolve(CHEAP.get(entry.name, {}), where=entry.name)
    problems: list[str] = []
    why = _misfit_data(entry, params, facts, "metrics[0]", problems)
    if kind not in entry.meta["inputs"]:
        assert why is not None and f"the data is {kind}" in why and "\n" not in why
        return
    assert why is None and not problems
    fits = entry.meta.get("fits")
    if fits is not None and fits(c.model, facts, params) is not None:
        if "substrate" not in entry.params:  # e.g. ROAR on a model xbench cannot retrain: the cell refuses too
            c.data_info = facts
            assert refused(entry, c, params)
            return
        assert "substrate" in fits(c.model, facts, params)
        params = entry.resolve({**CHEAP.get(entry.name, {}), **FITTING}, where=entry.name)
        assert fits(c.model, facts, params) is None
    out = entry.fn(c, **params)
    assert out.values or out.batch_values
    for stat, v in out.values.items():
        assert v.shape == (7,), stat


def test_every_builtin_declares_its_inputs():
    """``inputs`` is required of built-in metrics; a plugin metric that omits it is taken as image-only."""
    for entry in ENTRIES:
        assert set(entry.meta["inputs"]) <= set(KINDS) and entry.meta["inputs"]
    reg = Registry("metric", skip=4, contract=_metric_contract)
    plain = dict(description="d", consumes=("attributions",), direction="lower", units="u", label="l")
    fn = lambda ctx: None  # noqa: E731
    fn.__module__ = "my_plugin"
    reg.register("plugin", **plain)(fn)
    assert reg.get("plugin").meta["inputs"] == ("image",)
    reg.register("both", inputs=("image", "tabular"), **plain)(fn)
    assert reg.get("both").meta["inputs"] == KINDS
    with pytest.raises(ValueError, match="inputs="):
        reg.register("bad", inputs="video", **plain)(fn)
    builtin = lambda ctx: None  # noqa: E731  (defined in a test module, so pretend it is xbench's own)
    builtin.__module__ = "xbench.metrics.fake"
    with pytest.raises(ValueError, match="must declare inputs"):
        reg.register("undeclared", **plain)(builtin)


def test_a_default_chunk_budget_is_recorded_as_the_number_it_resolved_to():
    """A metric whose max_batch defaults to None records the budget the inputs got (13 photos of 224 px on the
    CPU, 128 for small inputs), never null."""
    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1).mean(1, keepdim=True).expand(-1, 3)

    cell = METRICS.get("faithfulness_estimate").fn
    spec = METRICS.get("faithfulness_estimate")
    for shape, budget in (((2, 3, 224, 224), 13), ((2, 1, 32, 32), 128)):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        ctx = CellContext(model=Mean(), inputs=x, target=torch.tensor([0, 1]), attributions=torch.rand_like(x),
                          method="m", method_params={}, attribute=lambda i, t: i, baseline=torch.zeros_like(x))
        params = spec.resolve({"features_in_step": x.shape[-1] * 16})
        assert params["max_batch"] is None
        assert cell(ctx, **params).settings["max_batch"] == budget
