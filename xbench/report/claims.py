"""Paper B's claims judged on a run: paired differences per network, pooled over networks by photo, saturation.

From a run's per-sample rows alone (``results.csv``: model, method label, metric, stat, sample, value; the
methods' roles read from their recorded ``method_params``, never from labels):

- **per network**, for each ratio r and each metric (ABPC, higher is better; max-sensitivity, lower), the
  paired differences Left(r) - full IG and Left(r) - Right(r) over the photos: mean, Student-t 95% CI and
  the paired t-test's p, Holm-corrected over the family of every per-network claim.  The t-test because the
  claim is about the mean difference (the quantity the CI bounds, so test and interval agree) and a
  signed-rank test on 8-10 photos has only a few hundred sign patterns: its CI (Hodges-Lehmann) is coarse;
  the share of photos favouring Left is printed beside it as the distribution-free check;
- **across networks**, where a photo appears under every network (the ``sample`` index is the same photo for
  every model), two estimates of the pooled mean difference: (a) *per photo*: the mean over networks of each
  photo's difference, then the paired t analysis across photos (n = photos), Holm over the pooled family;
  (b) a *cluster bootstrap*: photos resampled with replacement, all networks of a drawn photo kept, percentile
  95% CI of the mean.  The headline is (a): the photo is the unit that was sampled (networks are fixed), so
  averaging within it first and testing across photos respects the clustering exactly, and with under ~30
  clusters a percentile bootstrap is known to undercover (it ignores the t correction and the n/(n - 1)
  variance shrinkage); (b) is reported beside it as a check that needs no normality;
- **saturation** per network: alpha* at r (k*/m, the notebook's threshold_index / m), ||Right|| / ||Left||
  and the share of photos above 4, from Split IG's own per-sample ``_info`` rows.

Each claim is *supported* when its 95% CI excludes 0 on the side the paper claims, *contradicted* when it
excludes 0 on the other side, *undecided* otherwise; the Holm column says whether it survives the family.
The paper's figures are printed beside ours and labelled as the paper's (``paper_figures.yaml``).  Writes
``claims.csv``, ``claims.md`` and ``claims.png`` into the run directory.  Everything in float64.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..metrics.base import stat_direction  # noqa: E402
from ..results import atomic_write_text, read_results  # noqa: E402
from ..rundir import atomic_write  # noqa: E402
from ..verdict.stats import holm, mean_ci, paired_p  # noqa: E402
from .paper import paper_figures  # noqa: E402
from .tables import markdown_table  # noqa: E402

FILES = ("claims.csv", "claims.md", "claims.png")
METRICS = (("abpc", "abpc", "ABPC"), ("max_sensitivity", "sensitivity", "max-sensitivity"))
"""(registered metric, stat, title) of the claims: paper B's faithfulness and noise sensitivity."""
COMPARISONS = (("left", "full", "Left - IG", "paper"), ("left", "right", "Left - Right", "paper"),
               ("refined", "left", "Refined Left - Left", "beyond"))
"""(first, other, label, family): paired differences first - other at each ratio, roles as :func:`split_roles`
names them; the ``paper`` family is paper B's claims (Holm-corrected), ``beyond`` reported without a claim."""
N_BOOT = 10000
POOLED = "pooled"


def _params(text: str) -> dict:
    try:
        p = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return p if isinstance(p, dict) else {}


def split_roles(df: pd.DataFrame) -> dict[str, dict[tuple, str]]:
    """model -> {("left", r) | ("right", r) | ("full",) | ("refined", r): method label} for the paper's Split IG
    variants of each model: ``split_ig`` on the uniform schedule at the largest step count the model has (other
    schedules and step counts are extra variants, not the paper's); ``full`` is any such ``split_ig`` with
    ``part: full``; ``refined`` the ``refined_left_ig`` variants."""
    methods = df[["model", "method", "method_params"]].drop_duplicates(["model", "method"])
    out: dict[str, dict[tuple, str]] = {}
    for model, g in methods.groupby("model", sort=False):
        ps = [(label, _params(text)) for label, text in zip(g["method"], g["method_params"])]
        split = [(label, p) for label, p in ps
                 if p.get("name") == "split_ig" and p.get("schedule", "uniform") == "uniform"]
        roles: dict[tuple, str] = {}
        if split:
            steps = max(int(p.get("n_steps", 200)) for _, p in split)
            for label, p in split:
                if int(p.get("n_steps", 200)) != steps:
                    continue
                part = p.get("part", "left")
                key = ("full",) if part == "full" else (part, float(p.get("ratio", 0.9)))
                roles.setdefault(key, label)
        for label, p in ps:
            if p.get("name") == "refined_left_ig":
                roles.setdefault(("refined", float(p.get("ratio", 0.9))), label)
        if roles:
            out[str(model)] = roles
    return out


def has_split_claims(df: pd.DataFrame) -> bool:
    """Whether the run has a Left and a Right or full Split IG variant of one model (claims can be judged)."""
    for roles in split_roles(df).values():
        if any(k[0] == "left" for k in roles) and any(k[0] in ("right", "full") for k in roles):
            return True
    return False


def _values(df: pd.DataFrame, metric: str, stat: str) -> pd.DataFrame:
    """Per-sample values of one registered metric's stat: a frame indexed by (model, method, sample)."""
    sel = df[(df["metric_name"] == metric) & (df["stat"] == stat) & (df["kind"] == "sample")]
    sel = sel.drop_duplicates(["model", "method", "sample"])
    return sel.set_index(["model", "method", "sample"])["value"].astype("float64").sort_index()


def verdict_of(low: float, high: float, better: str) -> str:
    """supported / contradicted / undecided: where the CI [low, high] of Left - other lies for a metric where
    ``better`` ('higher' or 'lower') is better."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return "undecided"
    left_better = low > 0 if better == "higher" else high < 0
    return "supported" if left_better else "contradicted"


def cluster_bootstrap(d: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``d`` [clusters, members] (NaN where a member is missing) and its percentile
    CI from resampling whole clusters (rows) with replacement, ``n_boot`` times from ``seed``.  Deterministic."""
    d = np.asarray(d, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    n = len(d)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    sums, counts = np.nansum(d, axis=1), np.isfinite(d).sum(axis=1).astype(np.float64)
    mean = float(sums.sum() / counts.sum())
    if n < 2:
        return mean, float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    boot = sums[idx].sum(1) / counts[idx].sum(1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return mean, float(lo), float(hi)


def _row(scope: str, metric: str, title: str, better: str, ratio: float, comparison: str, d: np.ndarray,
         n_networks: int, analysis: str) -> dict:
    mean, low, high = mean_ci(d)
    n = len(d)
    favour = (d > 0) if better == "higher" else (d < 0)
    return {"scope": scope, "metric": metric, "title": title, "better": better, "ratio": ratio,
            "comparison": comparison, "analysis": analysis, "networks": n_networks, "n": n, "mean": mean,
            "ci_low": low, "ci_high": high, "ci": "t", "p": paired_p(d, "t") if n >= 2 else float("nan"),
            "photos_favouring_left": int(favour.sum()), "verdict": verdict_of(low, high, better)}


def _role(roles: dict[tuple, str], kind: str, ratio: float) -> str | None:
    return roles.get(("full",)) if kind == "full" else roles.get((kind, ratio))


def claims_frame(df: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One row per claim: per network (t CI, Holm over every per-network claim) and pooled (per-photo t with
    Holm over the pooled claims; the cluster bootstrap beside it, not in a Holm family)."""
    roles = split_roles(df)
    rows: list[dict] = []
    for metric, stat, title in METRICS:
        if not (df["metric_name"] == metric).any():
            continue
        better = stat_direction(metric, stat) or ("higher" if metric == "abpc" else "lower")
        vals = _values(df, metric, stat)
        ratios = sorted({k[1] for r in roles.values() for k in r if k[0] == "left"})
        for ratio in ratios:
            for first, other, comparison, family in COMPARISONS:
                diffs: dict[str, pd.Series] = {}
                for model, rl in roles.items():
                    left = _role(rl, first, ratio)
                    o = _role(rl, other, ratio)
                    if left is None or o is None:
                        continue
                    try:
                        d = (vals.loc[(model, left)] - vals.loc[(model, o)]).dropna()
                    except KeyError:
                        continue
                    if len(d):
                        diffs[model] = d
                        rows.append(_row(model, metric, title, better, ratio, comparison, d.to_numpy(), 1,
                                         "paired t over photos"))
                if not diffs:
                    continue
                wide = pd.DataFrame(diffs)  # photos x networks
                complete = wide.dropna()  # photos seen under every network
                if len(complete):
                    per_photo = complete.mean(axis=1).to_numpy()
                    rows.append(_row(POOLED, metric, title, better, ratio, comparison, per_photo, wide.shape[1],
                                     "per photo (mean over networks), paired t over photos"))
                    mean, low, high = cluster_bootstrap(complete.to_numpy(), n_boot, seed)
                    rows.append({**_row(POOLED, metric, title, better, ratio, comparison, per_photo, wide.shape[1],
                                        "cluster bootstrap (photo = cluster), percentile"),
                                 "mean": mean, "ci_low": low, "ci_high": high, "ci": f"bootstrap {n_boot}",
                                 "p": float("nan"), "verdict": verdict_of(low, high, better)})
                for r in rows:
                    r.setdefault("family", family)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"] = np.nan
    paper = out["family"] == "paper"
    for family in (paper & (out["scope"] != POOLED), paper & (out["scope"] == POOLED) & (out["ci"] == "t")):
        p = out.loc[family, "p"].to_numpy(dtype=np.float64)
        ok = np.isfinite(p)
        adj = np.full(len(p), np.nan)
        adj[ok] = holm(p[ok])
        out.loc[family, "p_holm"] = adj
    out["survives_holm"] = out["p_holm"] < 0.05
    return out


def saturation_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per network and ratio (and pooled over networks x photos): mean alpha* = k*/m (the notebook's
    threshold_index / m), mean ||Right||/||Left||, share of photos above 4, and Left's mean gradient count."""
    info = df[(df["metric"] == "_info") & (df["kind"] == "sample")]
    roles = split_roles(df)
    per: list[pd.DataFrame] = []
    for model, rl in roles.items():
        for key, label in rl.items():
            if key[0] != "left":
                continue
            g = info[(info["model"] == model) & (info["method"] == label)]
            wide = g.pivot_table(index="sample", columns="stat", values="value", aggfunc="first")
            if not {"left_steps", "right_left_norm_ratio"} <= set(wide.columns):
                continue
            steps = int(_params(g["method_params"].iloc[0]).get("n_steps", 200)) if len(g) else 200
            per.append(pd.DataFrame({"model": model, "ratio": key[1], "sample": wide.index,
                                     "alpha_star": wide["left_steps"].to_numpy(np.float64) / steps,
                                     "left_steps": wide["left_steps"].to_numpy(np.float64),
                                     "ratio_rl": wide["right_left_norm_ratio"].to_numpy(np.float64)}))
    if not per:
        return pd.DataFrame()
    allr = pd.concat(per, ignore_index=True)
    rows = []
    for (scope, ratio), g in [*allr.groupby(["model", "ratio"], sort=False),
                              *(((POOLED, r), g) for r, g in allr.groupby("ratio"))]:
        a, lo, hi = mean_ci(g["alpha_star"].to_numpy())
        q, qlo, qhi = mean_ci(g["ratio_rl"].to_numpy())
        rows.append({"scope": scope, "ratio": ratio, "n": len(g), "alpha_star": a, "alpha_star_ci": (lo, hi),
                     "right_left": q, "right_left_ci": (qlo, qhi), "share_above_4": float((g["ratio_rl"] > 4).mean()),
                     "left_steps_min": int(g["left_steps"].min()), "left_steps_max": int(g["left_steps"].max())})
    return pd.DataFrame(rows)


def _fmt(v: float, digits: int = 3) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def _ci(lo: float, hi: float) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _paper_means() -> tuple[dict[str, dict[str, float]], str]:
    block = paper_figures()["split_ig"]["faithfulness_sensitivity"]
    means = {r["method"]: {"abpc": r["faithfulness"], "max_sensitivity": r["sensitivity"]} for r in block["rows"]}
    return means, block["setting"]


def refinement_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per network: Refined Left IG's completeness gap on [0, a*] beside the sub-grid Left's on the same interval
    (mean relative gaps over photos whose logit moved there), and the gradient passes each rests on."""
    info = df[(df["metric"] == "_info") & (df["kind"] == "sample")]
    rows = []
    for model, rl in split_roles(df).items():
        for key, label in rl.items():
            if key[0] != "refined":
                continue
            w = info[(info["model"] == model) & (info["method"] == label)].pivot_table(
                index="sample", columns="stat", values="value", aggfunc="first")
            if not {"delta", "subgrid_delta", "end_change", "left_steps", "gradient_passes"} <= set(w.columns):
                continue
            moved = w[w["end_change"].abs() > 1e-6]
            change = moved["end_change"].abs()
            rows.append({"network": model, "r": key[1], "photos": len(moved),
                         "Refined gap": _fmt(float((moved["delta"].abs() / change).mean())),
                         "sub-grid Left gap": _fmt(float((moved["subgrid_delta"].abs() / change).mean())),
                         "Refined passes": int(w["gradient_passes"].max()),
                         "Left's gradients": f"{int(w['left_steps'].min())}-{int(w['left_steps'].max())}"})
    return pd.DataFrame(rows)


def claims_markdown(title: str, claims: pd.DataFrame, sat: pd.DataFrame, verdict: pd.DataFrame | None,
                    n_boot: int, seed: int, refined: pd.DataFrame | None = None) -> str:
    """claims.md: the headline table (pooled per-photo t), the per-network table, the bootstrap check,
    saturation, each beside the paper's figures (labelled)."""
    paper, setting = _paper_means()
    fig = paper_figures()["split_ig"]
    refined = refined if refined is not None else pd.DataFrame()
    lines = [f"# Paper B's claims: {title}", "",
             "Left IG (the unsaturated part) is claimed to beat full IG and the saturated Right part on faithfulness "
             "(ABPC, higher is better) and noise sensitivity (max-sensitivity, lower is better).  Each claim is a "
             "paired difference Left - other over the same photos: **supported** when its 95% CI excludes 0 on the "
             "paper's side, **contradicted** when it excludes 0 on the other side, **undecided** otherwise.", "",
             "**Headline: pooled over networks by photo** (each photo's difference averaged over the networks, then "
             "a paired t analysis across photos; p Holm-corrected over the pooled claims).  The photo is the "
             "sampled unit (the networks are fixed), so averaging within a photo and testing across photos respects "
             "that the same photos appear under every network; with so few photos a percentile cluster bootstrap "
             "undercovers, so it is reported below as a check, not the headline.", ""]
    beyond = claims[claims["family"] == "beyond"] if len(claims) else claims
    claims = claims[claims["family"] == "paper"] if len(claims) else claims
    head = claims[(claims["scope"] == POOLED) & (claims["ci"] == "t")]

    def table(rows: pd.DataFrame, with_scope: bool) -> str:
        out = []
        for r in rows.itertuples(index=False):
            other = "ig" if r.comparison == "Left - IG" else "right"
            p_left, p_other = paper[("left")][r.metric], paper[other][r.metric]
            row = {"network": r.scope} if with_scope else {"networks": r.networks}
            row.update({"metric": f"{r.title} ({'↑' if r.better == 'higher' else '↓'})", "r": r.ratio,
                        "claim": r.comparison, "n photos": r.n, "mean diff": _fmt(r.mean),
                        "95% CI (t)": _ci(r.ci_low, r.ci_high), "p": _fmt(r.p), "p Holm": _fmt(r.p_holm),
                        "photos favouring Left": f"{r.photos_favouring_left}/{r.n}", "verdict": f"**{r.verdict}**",
                        "paper's means (Left / other)": f"{p_left} / {p_other}"})
            out.append(row)
        return markdown_table(pd.DataFrame(out)) if out else "(none)"

    lines += [table(head, False), "", f"Paper's means: the Split IG notebook's saved outputs ({setting}); the paper's "
              "own table was not recovered.  They are means of each method, not paired differences.", ""]
    lines += ["## Per network", "", "Paired t over the photos of one network; p Holm-corrected over every "
              "per-network claim (networks x metrics x ratios x comparisons).", "",
              table(claims[claims["scope"] != POOLED], True), ""]
    boot = claims[(claims["scope"] == POOLED) & (claims["ci"] != "t")]
    if len(boot):
        rows = [{"metric": r.title, "r": r.ratio, "claim": r.comparison, "photos": r.n, "networks": r.networks,
                 "mean diff": _fmt(r.mean), "95% CI (bootstrap)": _ci(r.ci_low, r.ci_high), "verdict": r.verdict}
                for r in boot.itertuples(index=False)]
        lines += ["## Check: cluster bootstrap", "",
                  f"Photos resampled with replacement ({n_boot} draws, seed {seed}), every network of a drawn photo "
                  "kept; percentile 95% CI of the mean difference over "
                  "all network x photo pairs.", "", markdown_table(pd.DataFrame(rows)), ""]
    if len(beyond) or len(refined):
        lines += ["## Beyond the paper: Refined Left IG", "",
                  "Refined Left integrates Left's interval [0, a*] again with its own steps (a second pass).  Paired "
                  "differences Refined Left - Left over the photos (Student t; no claim, no Holm family), and the "
                  "completeness gap on [0, a*] of both, |sum A - (F(a* x) - F(0))| / |F(a* x) - F(0)|.", ""]
        rows = [{"network": r.scope, "metric": r.title, "r": r.ratio, "n": r.n, "mean diff": _fmt(r.mean),
                 "95% CI (t)": _ci(r.ci_low, r.ci_high),
                 "reading": {"supported": "Refined better", "contradicted": "Left better"}.get(r.verdict, "undecided")}
                for r in beyond[beyond["ci"] == "t"].itertuples(index=False)]
        if rows:
            lines += [markdown_table(pd.DataFrame(rows)), ""]
        if len(refined):
            lines += [markdown_table(refined), ""]
    if len(sat):
        s = fig["saturation"]
        rows = [{"network": r.scope, "r": r.ratio, "n": r.n, "mean alpha* (k*/m)": _fmt(r.alpha_star),
                 "95% CI": _ci(*r.alpha_star_ci), "mean ‖Right‖/‖Left‖": _fmt(r.right_left),
                 "95% CI ": _ci(*r.right_left_ci), "share > 4": _fmt(r.share_above_4, 2),
                 "Left's gradients": f"{r.left_steps_min}-{r.left_steps_max}"} for r in sat.itertuples(index=False)]
        lines += ["## Saturation", "", markdown_table(pd.DataFrame(rows)), "",
                  f"Paper's figures ({s['setting']}): mean alpha* {s['mean_alpha_star']}, mean ‖Right‖/‖Left‖ "
                  f"{s['mean_right_left_norm_ratio']}, share above 4 {s['share_ratio_above_4']}.  alpha* here is k*/m, "
                  "the notebook's threshold_index / m (Split IG's recorded alpha_star is the crossing point, 1/m "
                  "later); 'Left's gradients' = how many path gradients Left IG rests on.", ""]
    if verdict is not None and len(verdict):
        lines += ["## Against random (the run's verdict)", "", "From verdict.csv: whether each method beats the "
                  "`random` control on each metric (corrected paired test, as the verdict computes it).", "",
                  markdown_table(verdict), ""]
    return "\n".join(lines) + "\n"


def _verdict_rows(run_dir: Path, roles: dict[str, dict[tuple, str]]) -> pd.DataFrame | None:
    path = run_dir / "verdict.csv"
    if not path.is_file():
        return None
    v = pd.read_csv(path)
    labels = {label for rl in roles.values() for label in rl.values()}
    v = v[v["method"].isin(labels) & v["metric"].isin([m for m, _, _ in METRICS])]
    if v.empty:
        return None
    return pd.DataFrame({"network": v["model"], "method": v["method"], "metric": v["metric"], "n": v["n"],
                         "mean − random": v["mean_diff"].map(_fmt), "p adjusted": v["p_adjusted"].map(_fmt),
                         "beats random": v["beats_random"]})


def claims_plot(claims: pd.DataFrame, df: pd.DataFrame, fh) -> None:
    """Paired differences with 95% CIs (one panel per metric, one row per claim, per network + pooled) and the
    mean normalised logit along the path per network."""
    metrics = [m for m, _, _ in METRICS if (claims["metric"] == m).any()] if len(claims) else []
    curves = df[(df["metric_name"] == "logit_path") & (df["stat"] == "normalised_logit") & (df["kind"] == "curve")]
    panels = len(metrics) + (1 if len(curves) else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(5.2 * max(panels, 1), 4.8), squeeze=False)
    axes = axes[0]
    t_rows = claims[(claims["ci"] == "t") & (claims["family"] == "paper")] if len(claims) else claims
    scopes = list(dict.fromkeys(t_rows["scope"])) if len(t_rows) else []
    cmap = plt.get_cmap("tab10")
    for ax, metric in zip(axes, metrics):
        sub = t_rows[t_rows["metric"] == metric]
        keys = list(dict.fromkeys(zip(sub["comparison"], sub["ratio"])))
        for j, scope in enumerate(scopes):
            off = (j - (len(scopes) - 1) / 2) * 0.8 / max(len(scopes), 1)
            s = sub[sub["scope"] == scope]
            for i, key in enumerate(keys):
                r = s[(s["comparison"] == key[0]) & (s["ratio"] == key[1])]
                if r.empty:
                    continue
                r = r.iloc[0]
                color = "k" if scope == POOLED else cmap(j % 10)
                ax.errorbar(r["mean"], i + off, xerr=[[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]],
                            fmt="D" if scope == POOLED else "o", color=color, capsize=3, ms=5,
                            label=scope if i == 0 else None)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(range(len(keys)))
        ax.set_yticklabels([f"{c} (r={r})" for c, r in keys], fontsize=8)
        ax.invert_yaxis()
        better = sub["better"].iloc[0] if len(sub) else "higher"
        ax.set_xlabel(f"{metric} difference (Left better: {'> 0' if better == 'higher' else '< 0'})")
        ax.set_title(f"{metric}: paired differences, 95% t CI", fontsize=10)
        ax.legend(fontsize=7)
    if len(curves):
        ax = axes[len(metrics)]
        for j, (model, g) in enumerate(curves.groupby("model", sort=False)):
            for _, gs in g.groupby("sample"):
                gs = gs.sort_values("x")
                ax.plot(gs["x"], gs["value"], color=cmap(j % 10), lw=0.6, alpha=0.35)
            m = g.groupby("x")["value"].mean()
            ax.plot(m.index, m.to_numpy(), color=cmap(j % 10), lw=2.2, label=f"{model} (mean)")
        for r, ls in ((0.9, "--"), (0.95, ":")):
            ax.axhline(r, color="k", ls=ls, lw=1, label=f"r = {r}")
        ax.set_xlim(0, 1)
        ax.set_xlabel("a along the path x' + a (x - x')")
        ax.set_ylabel("normalised target logit")
        ax.set_title("logit along the path, per network", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def _csv(claims: pd.DataFrame, sat: pd.DataFrame) -> str:
    rows = claims.assign(kind="claim") if len(claims) else pd.DataFrame()
    if len(sat):
        s = sat.copy()
        s["alpha_star_low"], s["alpha_star_high"] = zip(*s.pop("alpha_star_ci"))
        s["right_left_low"], s["right_left_high"] = zip(*s.pop("right_left_ci"))
        rows = pd.concat([rows, s.assign(kind="saturation")], ignore_index=True)
    return rows.to_csv(index=False, float_format="%.10g")


def make_claims(run_dir: str | Path, df: pd.DataFrame | None = None, *, n_boot: int = N_BOOT, seed: int = 0) -> str:
    """Write :data:`FILES` into ``run_dir`` from its results; returns the headline lines.  Deterministic."""
    run_dir = Path(run_dir)
    if df is None:
        df = read_results(run_dir)
    if not has_split_claims(df):
        raise ValueError(f"{run_dir}: no Split IG Left with a Right or full variant of one model; nothing to judge")
    claims = claims_frame(df, n_boot=n_boot, seed=seed)
    sat = saturation_frame(df)
    try:
        title = json.loads((run_dir / "manifest.json").read_text())["suite"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        title = run_dir.name
    md = claims_markdown(str(title), claims, sat, _verdict_rows(run_dir, split_roles(df)), n_boot, seed,
                         refinement_frame(df))
    atomic_write_text(run_dir / "claims.md", md)
    atomic_write_text(run_dir / "claims.csv", _csv(claims, sat))
    buf = io.BytesIO()
    claims_plot(claims, df, buf)
    atomic_write(run_dir / "claims.png", lambda fh: fh.write(buf.getvalue()))
    head = claims[(claims["scope"] == POOLED) & (claims["ci"] == "t") & (claims["family"] == "paper")] \
        if len(claims) else claims
    return "\n".join(f"{r.title} {r.comparison} (r={r.ratio}): {_fmt(r.mean)} {_ci(r.ci_low, r.ci_high)} "
                     f"{r.verdict}" for r in head.itertuples(index=False)) or "no claim had paired rows"


__all__ = ["FILES", "claims_frame", "cluster_bootstrap", "has_split_claims", "make_claims", "refinement_frame",
           "saturation_frame", "split_roles", "verdict_of"]
