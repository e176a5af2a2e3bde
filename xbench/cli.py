"""Command line: argument parsing only; every command calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import XBenchError
from .registry import ParamSpec

LIST_KINDS = ("methods", "metrics", "models", "datasets", "suites")

FLAGS = {s.name: s for s in (
    # the command-line numbers, checked with the same vocabulary as suite fields
    ParamSpec("--limit", None, (int,), low=1, high=10_000_000, doc="evaluate at most N samples"),
    ParamSpec("--epochs", None, (int,), low=1, high=100_000, doc="training epochs"),
    ParamSpec("--batch-size", None, (int,), low=1, high=100_000, doc="training batch size"),
    ParamSpec("--lr", None, (float,), low=1e-9, high=10.0, doc="learning rate"),
    ParamSpec("--seed", 0, (int,), low=0, high=2**32 - 1, doc="training seed"),
    ParamSpec("--workers", None, (int,), low=1, high=64, doc="parallel processes"),
    ParamSpec("--n-boot", None, (int,), low=100, high=1_000_000, doc="bootstrap draws"),
)}


class UsageError(XBenchError):
    """A command line argparse cannot read (printed as one line, exit code 2, like every user error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D102 - argparse's hook; one line instead of usage + message
        command = f"{self.prog.split(' ', 1)[1]}: " if " " in self.prog else ""
        raise UsageError(f"{command}{message} (see {self.prog} --help)")


def _check_flags(args: argparse.Namespace) -> None:
    """Range-check every numeric flag given (FLAGS), one line naming the flag."""
    from .errors import ParamError

    for flag, spec in FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is not None:
            try:
                spec.check(value, flag)
            except ParamError as err:
                raise XBenchError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xbench", description="Benchmark feature attribution methods.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a suite (YAML path or built-in name) and write results, tables and plots")
    r.add_argument("suite", help="path to a suite YAML file, or a built-in suite name (xbench list suites)")
    r.add_argument("--out", help="run directory (default: runs/<suite name>)")
    r.add_argument("--device", help="override the suite's device: auto, cpu, cuda, cuda:N, mps")
    r.add_argument("--fresh", action="store_true",
                   help="start over: delete what an earlier run wrote in --out (default: an earlier run of the same "
                        "settings there is resumed, keeping its finished units; changed settings are refused)")
    r.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    r.add_argument("--limit", type=int, metavar="N", help="evaluate at most N samples (a quick look)")
    r.add_argument("--data-root", help="override data.root (folder of ImageNet / CIFAR-10 / CSV data)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any suite field, e.g. --set models.1.weights=ckpt/xvgg16_model_best.pth.tar")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    r.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a plugin (a .py file or a module) that registers methods, metrics, models or datasets "
                        "before the suite is read; it runs that code")

    lst = sub.add_parser("list", help="list methods, metrics, models, datasets or suites")
    lst.add_argument("kind", nargs="*", help=f"what to list: {', '.join(LIST_KINDS)} (default: all)")
    lst.add_argument("-v", "--verbose", action="store_true",
                     help="also each parameter: type, default, bounds and meaning")
    lst.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                     help="also list what this plugin registers (runs its code)")

    de = sub.add_parser("describe", help="a method, metric, model or dataset: each parameter's type, default, "
                                         "bounds and meaning ('suite' describes the suite fields)")
    de.add_argument("name")
    de.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                    help="import this plugin first (runs its code)")

    cmp = sub.add_parser("compare", help="the change of every model x method x metric between two runs, with 95%% CIs")
    cmp.add_argument("run_a", help="the baseline run directory")
    cmp.add_argument("run_b", help="the run compared with it (differences are b - a)")
    cmp.add_argument("--out", help="folder for compare.csv and compare.md (default: print only)")

    rep = sub.add_parser("report", help="regenerate tables, plots and the index.md / index.html pages of a run "
                                        "directory from its results.csv")
    rep.add_argument("run_dir")
    rep.add_argument("--html-only", action="store_true",
                     help="write index.html only, from the summary, verdict and plots already in the folder")

    lb = sub.add_parser("leaderboard", help="rank methods (matched by label) across runs, models and metrics: "
                                            "index.html, leaderboard.csv/.md and cells.csv in --out")
    lb.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by xbench run")
    lb.add_argument("--out", required=True, help="folder for the leaderboard page and tables")

    ve = sub.add_parser("verdict", help="regenerate a run's verdict (verdict.csv/.md/.png): each method against "
                                         "random with corrected paired tests, ranks and metric agreement")
    ve.add_argument("run_dir")
    ve.add_argument("--test", choices=("wilcoxon", "t"), default="wilcoxon", help="the paired test (default wilcoxon)")
    ve.add_argument("--correction", choices=("holm", "bh"), default="holm",
                    help="multiple-comparison correction across the run: holm (default) or bh (Benjamini-Hochberg)")

    cl = sub.add_parser("claims", help="paper B's claims on a run with Split IG rows: paired differences per "
                                        "network and pooled by photo, saturation (claims.csv/.md/.png)")
    cl.add_argument("run_dir")
    cl.add_argument("--n-boot", type=int, default=10000, help="cluster-bootstrap draws (default 10000)")
    cl.add_argument("--seed", type=int, default=0, help="seed of the cluster bootstrap (default 0)")

    rl = sub.add_parser("reliability", help="which metrics are reliable on the suite's models (MetaQuantus model "
                                             "perturbation test): reliability.csv in the run folder, for the verdict")
    rl.add_argument("suite", help="the suite of the run (YAML path or built-in name)")
    rl.add_argument("--out", help="its run directory (default: runs/<suite name>)")
    rl.add_argument("--draws", type=int, default=2, help="perturbed models per test (default 2)")
    rl.add_argument("--samples", type=int, default=8, help="inputs evaluated (the suite's first; default 8)")
    rl.add_argument("--minor", type=float, default=1e-3, help="std of the weight noise N(1, std) kept by predictions")
    rl.add_argument("--disruptive", type=float, default=2.0, help="std of the weight noise that changes them")

    tr = sub.add_parser("train", help="train a model (regular or X-) and save a checkpoint usable in suites")
    tr.add_argument("model", help="a model name (xbench list models)")
    tr.add_argument("--data", required=True, help="a dataset name (xbench list datasets)")
    tr.add_argument("--x", action="store_true", help="train the bias-free X-variant")
    tr.add_argument("--epochs", type=int, help="epochs (default: the dataset's recipe)")
    tr.add_argument("--out", help="checkpoint file (default: ./<model>[-x]-<data>.pt)")
    tr.add_argument("--root", help="dataset folder (ImageNet, CIFAR-10, NHANES)")
    tr.add_argument("--data-param", action="append", default=[], metavar="KEY=VALUE", help="extra dataset parameter")
    tr.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE", help="extra model parameter")
    tr.add_argument("--lr", type=float, help="learning rate (default: the recipe's)")
    tr.add_argument("--batch-size", type=int, help="batch size (default: the recipe's)")
    tr.add_argument("--seed", type=int, default=FLAGS["--seed"].default)
    tr.add_argument("--device", default="auto")
    tr.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch log")

    tp = sub.add_parser("train-prior", help="train with attribution priors (paper A §4.3) and report ROC-AUC and cost")
    tp.add_argument("suite", help="a prior suite YAML path or built-in name (xbench list suites)")
    tp.add_argument("--out", help="run directory (default: runs/<suite name>)")
    tp.add_argument("--fresh", action="store_true",
                    help="start over (default: finished repetitions of an earlier run of the same suite are kept)")
    tp.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)  # the default now
    tp.add_argument("--workers", type=int, help="parallel processes for the repetitions (default: min(2, cores))")
    tp.add_argument("--quiet", action="store_true", help="no progress bar")

    rb = sub.add_parser("report-bench", help="table and log-scale plot from pytest-benchmark's JSON")
    rb.add_argument("json", help="the file written by pytest --benchmark-only --benchmark-json=FILE")
    rb.add_argument("--out", help="folder for the table and plot (default: beside the JSON)")
    return p


def list_registry(kind: str | list[str] | None, verbose: bool = False) -> str:
    """Text listing of the named registry (or all), one name and description a line (``verbose``: and
    each parameter, as :func:`describe_entry` prints it)."""
    from . import data, methods, metrics, models
    from .suite import builtin_suites

    def suites() -> dict[str, str]:
        from .priors import list_prior_suites

        out = dict(builtin_suites())
        out.update({n: f"(xbench train-prior) {d}" for n, d in list_prior_suites().items()})
        return out

    sources = {"methods": methods.describe, "metrics": metrics.describe, "models": models.describe,
               "datasets": data.describe, "suites": suites}
    out = []
    kinds = [kind] if isinstance(kind, str) else (kind or list(LIST_KINDS))
    for k in kinds:
        items = sources[k]()
        out.append(f"{k}:")
        width = max((len(n) for n in items), default=0)
        for n, d in items.items():
            out.append(f"  {n.ljust(width)}  {d}")
            if verbose and k in REGISTRIES:
                out += ["    " + line for line in _param_lines(REGISTRIES[k](), n)]
    return "\n".join(out)


REGISTRIES = {  # kind -> the registry (imported lazily: listing must stay fast)
    "methods": lambda: __import__("xbench.methods", fromlist=["METHODS"]).METHODS,
    "metrics": lambda: __import__("xbench.metrics", fromlist=["METRICS"]).METRICS,
    "models": lambda: __import__("xbench.models", fromlist=["MODELS"]).MODELS,
    "datasets": lambda: __import__("xbench.data", fromlist=["DATASETS"]).DATASETS,
}


def _table(specs: list[tuple[str, ParamSpec, str]]) -> list[str]:
    """Two lines per parameter: its name and meaning, then its accepted values and default."""
    if not specs:
        return ["(no parameters)"]
    width = max(len(name) for name, _, _ in specs)
    out = []
    for name, spec, doc in specs:
        default = "required" if spec.required else f"default {spec.default!r}"
        out += [f"{name.ljust(width)}  {doc or '(no description)'}", f"{''.ljust(width)}  {spec.describe()}; {default}"]
    return out


def _param_lines(registry, name: str) -> list[str]:
    from .paramdocs import param_doc

    entry = registry.get(name)
    return _table([(p, spec, param_doc(name, p)) for p, spec in entry.params.items()])


def describe_entry(name: str) -> str:
    """Every registered entry called ``name`` (or the suite fields for ``suite``): description and parameters."""
    from .registry import suggest

    if name == "suite":
        from .suite import schema
        from .suite.schema import DATA_FIELDS, METHOD_FIELDS, METRIC_FIELDS, MODEL_FIELDS, REPORT_FIELDS, TOP_FIELDS

        out = ["suite fields (a YAML mapping; xbench run SUITE):"]
        for title, fields in (("", TOP_FIELDS), ("data.", DATA_FIELDS), ("models[i].", MODEL_FIELDS),
                              ("methods[i].", METHOD_FIELDS), ("metrics[i].", METRIC_FIELDS),
                              ("report.", REPORT_FIELDS), ("speed.", schema.SPEED_FIELDS)):
            out += ["  " + line for line in _table([(title + k, s, s.doc) for k, s in fields.items()])]
        out.append("  plus each entry's own parameters (xbench describe NAME)")
        return "\n".join(out)
    out = []
    every = []
    for kind, get in REGISTRIES.items():
        registry = get()
        every += registry.available()
        if name in registry:
            out.append(f"{name} ({kind[:-1]}): {registry.get(name).description}")
            out += ["  " + line for line in _param_lines(registry, name)]
    if not out:
        raise XBenchError(f"describe: '{name}' is not a method, metric, model or dataset (xbench list)"
                          f"{suggest(name, every + ['suite'])}")
    return "\n".join(out)


def _rewrite(command: str, run_dir: str, make) -> str:
    """Run ``make()`` (which writes files into the run directory ``run_dir`` from its per-method results) and
    journal what it wrote as xbench's own files when the folder is an xbench run; returns ``make()``'s text."""
    from .results import results_path
    from .rundir import RunDir

    path = results_path(run_dir)
    if not path.exists():
        raise XBenchError(f"{command}: '{run_dir}' has no results.csv; give a run directory of xbench run")
    import pandas as pd

    if "kind" not in pd.read_csv(path, nrows=0).columns:
        raise XBenchError(f"{command}: '{run_dir}' is a train-prior run (no per-method rows to compare); "
                          "give a run directory of xbench run")
    folder = RunDir(run_dir)
    before = folder.snapshot()
    text = make()
    if folder.is_xbench_run():  # journal the files it made, once each (a rerun fresh of the suite deletes them)
        listed = set(folder.written())
        folder.record([p for p, m in folder.snapshot().items() if before.get(p) != m and p.resolve() not in listed])
    return text


def verdict_command(run_dir: str, test: str = "wilcoxon", correction: str = "holm") -> str:
    """``xbench verdict``: rewrite a run directory's verdict files from its results (journaled as xbench's
    own files when the folder is an xbench run); returns the terminal summary."""
    from .verdict import make_verdict

    return _rewrite("verdict", run_dir, lambda: make_verdict(run_dir, test=test, correction=correction))


def claims_command(run_dir: str, n_boot: int, seed: int) -> str:
    """``xbench claims``: paper B's claims judged on a run with Split IG rows (claims.csv/.md/.png); returns
    the headline lines.  Refused in one line where the run has no Left with a Right or full variant."""
    from .report.claims import has_split_claims, make_claims
    from .results import read_results

    def make() -> str:
        df = read_results(run_dir)
        if not has_split_claims(df):
            raise XBenchError(f"claims: '{run_dir}' has no split_ig Left with a Right or full variant of one model "
                              "(paper B's claims compare them); run a suite such as split_ig_photos")
        return make_claims(run_dir, df, n_boot=n_boot, seed=seed)

    return _rewrite("claims", run_dir, make)


def reliability_command(suite_spec: str, out: str | None, draws: int, samples: int, minor: float,
                        disruptive: float) -> str:
    """``xbench reliability``: write reliability.csv into the suite's run directory and refresh its verdict."""
    from .reliability import model_reliability
    from .results import atomic_write_text, results_path
    from .rundir import DEFAULT_OUT, RunDir
    from .suite import load_suite

    suite = load_suite(suite_spec)
    run_dir = Path(out) if out else DEFAULT_OUT / suite.name
    if not results_path(run_dir).exists():
        raise XBenchError(f"reliability: '{run_dir}' has no results.csv; run the suite first (xbench run {suite_spec}) "
                          "or give its run directory with --out")
    if draws < 1 or samples < 2 or not 0 < minor < disruptive:
        raise XBenchError(f"reliability: --draws {draws}, --samples {samples}, --minor {minor}, --disruptive "
                          f"{disruptive}; allowed: draws >= 1, samples >= 2, 0 < minor < disruptive")
    table = model_reliability(suite, draws=draws, samples=samples, minor=minor, disruptive=disruptive)
    path = run_dir / "reliability.csv"
    if path.resolve() not in set(RunDir(run_dir).written()):
        RunDir(run_dir).record([path])
    atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))
    return verdict_command(str(run_dir))


class _OneLineFormatter(logging.Formatter):
    """A note is one line, whatever names it quotes (see :func:`xbench.errors.one_line`)."""

    def format(self, record) -> str:  # noqa: D102 - logging's hook
        from .errors import one_line

        return one_line(super().format(record))


def _notes_to_stderr() -> None:
    """Preflight's notes (e.g. n_samples resolved to the split's size) as ``xbench: note: ...`` lines."""
    import logging

    log = logging.getLogger("xbench.preflight")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLineFormatter("xbench: note: %(message)s"))
        log.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0, 2 for any user error, 130 when interrupted)."""
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as done:  # --help, --version
            return int(done.code or 0)
        _check_flags(args)
        if getattr(args, "fresh", False) and getattr(args, "resume", False):
            raise XBenchError(f"{args.command}: --fresh and --resume contradict each other; give one (resuming is "
                              "the default)")
        if args.command in ("run", "list", "describe"):
            # installed packages' entry points, then --plugin: their entries are listed and validated like ours
            from .plugins import load_entry_points, load_plugins

            load_entry_points()
            load_plugins(args.plugin, base_dir=Path.cwd(), source="flag", where="--plugin")
        if args.command == "compare":
            from .report.compare import compare_runs
            from .results import results_path

            for run_dir in (args.run_a, args.run_b):
                if not results_path(run_dir).exists():
                    raise XBenchError(f"compare: '{run_dir}' has no results.csv; give two run directories")
            _, text = compare_runs(args.run_a, args.run_b, args.out)
            print(text)
            return 0
        if args.command == "list":
            from .registry import suggest

            for k in args.kind:
                if k not in LIST_KINDS:
                    raise XBenchError(f"list: '{k}' is not a kind; allowed: {', '.join(LIST_KINDS)}"
                                      f"{suggest(k, list(LIST_KINDS))}")
            print(list_registry(args.kind, verbose=args.verbose))
            return 0
        if args.command == "describe":
            print(describe_entry(args.name))
            return 0
        if args.command == "report":
            from .report import make_report
            from .results import results_path
            from .rundir import MARKER

            path = results_path(args.run_dir)
            if not path.exists():
                raise XBenchError(f"report: '{args.run_dir}' has no results.csv; give a run directory of xbench run")
            if not (Path(args.run_dir) / MARKER).is_file():  # its summary.md, index.md, plots/ are the user's
                raise XBenchError(f"report: '{args.run_dir}' is not an xbench run folder (no {MARKER}); report only "
                                  "rewrites the files of a folder xbench run wrote, never a folder of your own")
            import pandas as pd

            from .rundir import writing

            with writing(Path(args.run_dir)):  # a full disk or a read-only plots/: one line
                if args.html_only:
                    from .report.html import write_index_html

                    print(f"page: {write_index_html(args.run_dir)}")
                    return 0
                if "kind" not in pd.read_csv(path, nrows=0).columns:  # a train-prior run has its own schema
                    from .priors.report import make_prior_report

                    print(make_prior_report(args.run_dir))
                    return 0
                print(make_report(args.run_dir))
            return 0
        if args.command == "leaderboard":
            from .report.leaderboard import write_leaderboard

            board, skipped = write_leaderboard(args.run_dirs, args.out)
            for s in skipped:
                print(f"xbench: note: skipped {s.path}: {s.why}", file=sys.stderr)
            print(board.to_string(index=False, float_format=lambda v: f"{v:.3g}", max_colwidth=60))
            print(f"\nleaderboard: {args.out}/index.html  table: {args.out}/leaderboard.csv")
            return 0
        if args.command == "verdict":
            print(verdict_command(args.run_dir, args.test, args.correction))
            return 0
        if args.command == "claims":
            print(claims_command(args.run_dir, args.n_boot, args.seed))
            return 0
        if args.command == "reliability":
            print(reliability_command(args.suite, args.out, args.draws, args.samples, args.minor, args.disruptive))
            return 0
        if args.command == "train":
            import logging

            from .models.recipes import train_model
            from .suite.loader import parse_set

            if not args.quiet:
                logging.basicConfig(level=logging.INFO, format="%(message)s")
            path = train_model(args.model, args.data, x=args.x, epochs=args.epochs, out=args.out, root=args.root,
                               data_params=parse_set(args.data_param, "--data-param"),
                               model_params=parse_set(args.model_param, "--model-param"),
                               lr=args.lr, batch_size=args.batch_size, seed=args.seed, device=args.device,
                               progress=not args.quiet)
            print(f"checkpoint: {path}  (use it in a suite as weights: {path})")
            return 0
        if args.command == "train-prior":
            from .priors import run_priors

            out = run_priors(args.suite, args.out, resume=not args.fresh, progress=not args.quiet,
                             workers=args.workers)
            print(f"results: {out}  report: {out}/index.md")
            return 0
        if args.command == "report-bench":
            from .report.bench import report_bench

            if not Path(args.json).is_file():
                raise XBenchError(f"report-bench: '{args.json}' does not exist; write it with "
                                  "pytest --benchmark-only --benchmark-json=FILE")
            md, png = report_bench(args.json, args.out)
            print(md.read_text())
            print(f"table: {md}" + (f"  plot: {png}" if png else ""))
            return 0
        if args.command == "run":
            from .runner import run_suite
            from .suite import load_suite

            overrides = {}
            if args.device:
                overrides["device"] = args.device
            if args.data_root:
                overrides["data.root"] = args.data_root
            from .suite.loader import parse_set

            _notes_to_stderr()
            overrides.update(parse_set(args.set))
            suite = load_suite(args.suite, overrides)
            if args.limit is not None:
                suite.data.n_samples = min(suite.data.n_samples, args.limit)
            out = run_suite(suite, args.out, resume=not args.fresh, progress=not args.quiet,
                            echo=None if args.quiet else print)
            if not args.quiet:
                print(f"\nresults: {out}/results.csv  summary: {out}/summary.md  report: {out}/index.md")
            return 0
    except XBenchError as err:
        from tqdm import tqdm

        from .errors import error_lines

        for line in error_lines(err):
            # tqdm.write clears a progress bar still on screen first: an error never shares its line
            tqdm.write(f"xbench: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `xbench list -v | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("xbench: interrupted; finished units are saved: run the same command again to continue "
              "(--fresh starts over)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
