"""Command line: compare, demo, report, generate, status.

Errors in the user's input print one line and exit with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from roundtable.arms import DEFAULT_MODEL, SHAPE_SETTINGS, arm_defaults, arm_names, default_arms
from roundtable.comparison.settings import compare_config, read_settings
from roundtable.config.settings import ALIASES, RECIPE, SECTIONS, ArmConfig, choices_of, format_default, settings
from roundtable.core.errors import Interrupted, UserError
from roundtable.core.logging import lines_to, quiet_libraries
from roundtable.core.version import __version__

DEMO_DEFAULTS = {"task": "lm", "curve_eval_bytes": 12_000, "out": "roundtable-demo", "overwrite": True,
                 "forecast_budget": "10x"}
"""Where ``roundtable demo`` differs from ``compare``'s defaults (config.py)."""
DEMO_SETTINGS = ("task", "budget", "max_steps", "curve_points", "curve_eval_bytes", "context_bytes", "lr_search",
                 "lr_search_share", "lr_search_min_steps", "lr_search_tie", "precision", "forecast_budget", "out",
                 "device", "report_to")
"""The settings ``roundtable demo`` takes as flags: its data is built in."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"roundtable: error: {message} (see --help)\n")


def _compare_args(p: argparse.ArgumentParser, demo: bool = False) -> None:
    """One option per setting of config.py, in groups by what the user is deciding
    (SECTIONS), with its help text and default from the dataclass field. ``default=None``
    everywhere: a flag not given leaves a config file's value alone, and the dataclass
    default applies."""
    from roundtable.tasks import task_names

    shown = [st for st in settings() if not demo or st.name in DEMO_SETTINGS]
    tables = {"task": task_names(), "arms": None}  # the registered tasks; the arm table's default arms
    defaults = {"arms": list(default_arms()), **(DEMO_DEFAULTS if demo else {})}
    groups = {key: p.add_argument_group(title, text) for key, (title, text) in SECTIONS.items()
              if any(st.section == key for st in shown)}
    for st in shown:
        help_text = f"{st.help} {st.default_text(defaults.get(st.name, MISSING))}"
        kwargs: dict = {"dest": st.name, "default": None, "help": help_text.replace("%", "%%")}
        if st.kind is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["choices"] = tables[st.name] if st.name in tables else choices_of(st.choices)
            if st.const is not None:
                kwargs.update(nargs="?", const=st.const)
        groups[st.section].add_argument(st.flag, **kwargs)
    for old, name in ALIASES.items():  # old spellings still work, unlisted
        if not demo:
            groups["summarize"].add_argument("--" + old.replace("_", "-"), dest=name, default=None,
                                             help=argparse.SUPPRESS)
    if not demo:
        groups["arms"].add_argument("--config", help="YAML or JSON file of these settings (names with dashes or "
                                                     "underscores) and of arm_settings; flags override it")
    groups["output"].add_argument("--no-progress", action="store_true", help="plain lines instead of progress bars")


def _arm_settings_epilog() -> str:
    """The registered arms, and what a config file's arm_settings can set: ArmConfig's
    fields, their defaults and where an arm's recipe (arm_defaults) differs."""
    from roundtable.arms import get_arm

    recipes = [arm_defaults(name) for name in arm_names()]
    lines = ["arms (--arms):"]
    lines += [f"  {name} ({get_arm(name).family}): {get_arm(name).label}" for name in arm_names()]
    lines += ["", "each arm's settings: only in a --config file, under arm_settings, e.g.",
             "  arm_settings: {scratch-lstm: {lstm_hidden: 256}, finetune: {learning_rate: 1e-4}}",
             "the recipe every arm takes, each with its default, and in brackets the arms whose recipe differs:"]
    arm_fields = {f.name: f for f in fields(ArmConfig)}
    for name in RECIPE:
        f = arm_fields[name]
        own = [f"{a.name} {format_default(getattr(a, name))}" for a in recipes if getattr(a, name) != f.default]
        lines.append(f"  {name} {format_default(f.default)}" + (f" ({', '.join(own)})" if own else ""))
    lines.append("the settings of some arms only, each with its default and the arms that take it:")
    for name in arm_fields:
        takers = [a for a in arm_names() if name in get_arm(a).settings]
        if name not in RECIPE and name != "name":
            default = arm_fields[name].default
            own = {a.name: getattr(a, name) for a in recipes if a.name in takers}
            if own and len(set(map(str, own.values()))) == 1:  # every taker's recipe agrees: that is the default
                default = next(iter(own.values()))
            shape = " when size is fixed; giving one sets size fixed" if name in SHAPE_SETTINGS else ""
            lines.append(f"  {name} {format_default(default)}{shape} ({', '.join(takers) or 'no arm'})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roundtable", description="Fine-tune a pretrained LM or train from scratch? Measure it.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _compare_args(sub.add_parser("compare", help="run every arm on your data and compare",
                                 usage="%(prog)s --task {lm,summarize} --data PATH [--arms A,B] [--budget 120s] "
                                       "[--out DIR] [options]",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_arm_settings_epilog()))
    _compare_args(sub.add_parser("demo", help="the built-in demo (no download)",
                                 usage="%(prog)s [--task {lm,summarize}] [--budget 120s] [--out DIR] [options]"),
                  demo=True)
    r = sub.add_parser("report", help="re-render the report of a comparison folder")
    r.add_argument("dir")
    g = sub.add_parser("generate", help="continue a prompt with a trained arm (greedy, like the report's samples)")
    g.add_argument("dir", help="a comparison's --out folder")
    g.add_argument("--arm", required=True, help="the arm whose kept model continues the prompt")
    g.add_argument("--prompt", required=True, help="text to continue")
    g.add_argument("--max-new-bytes", type=int, default=200,
                   help="longest continuation in UTF-8 bytes, the same unit for every arm (default 200)")
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature with --sample (default 0.8)")
    g.add_argument("--seed", type=int, default=0, help="random seed of sampling (default 0)")
    pm = sub.add_parser("prepare", help="convert a pretrained model once per machine (make install does it for the "
                                        "default), so no comparison pays for it")
    pm.add_argument("--model", default=DEFAULT_MODEL, help=f"the model to prepare (default {DEFAULT_MODEL})")
    st = sub.add_parser("status", help="which runs of a comparison are done, running, pending, diverged or failed")
    st.add_argument("dir")
    st.add_argument("--json", action="store_true", help="the same as JSON, for other tools")
    return parser


def _settings(args: argparse.Namespace) -> dict:
    """Config file values, overridden by the flags that were given."""
    given = {k: v for k, v in vars(args).items() if k not in ("command", "config", "no_progress")}
    return read_settings(getattr(args, "config", None), given)


def _show_progress(args) -> bool:
    """Progress bars only on a terminal: a log file (CI, nohup, Slurm) gets plain lines."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _say(message: str) -> None:
    """One line to stderr that leaves a progress bar on screen intact."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def read_data(cfg):
    """The comparison's data, read and checked (data.py) before torch and transformers are
    imported: a mistake in the files is reported in a fraction of a second, not after
    seconds of imports."""
    from roundtable.data.corpus import load_corpus
    from roundtable.tasks import get_task

    task = get_task(cfg)
    return load_corpus(cfg.data, task.record_fields(cfg.data), task.name)


def cmd_compare(args, settings: dict | None = None) -> int:
    settings = settings if settings is not None else _settings(args)
    cfg = compare_config(settings)
    corpus = read_data(cfg)
    quiet_libraries(progress=_show_progress(args))
    from roundtable.comparison.runner import Comparison
    from roundtable.core import dist
    from roundtable.report import render
    from roundtable.report.table import print_summary
    from roundtable.results import RESULTS, Results

    with lines_to(_say if dist.is_main() else None):
        comp = Comparison(cfg, progress=_show_progress(args))
        comp.corpus = corpus
        comp.prepare()
        try:
            if cfg.shard:
                return _run_shard(comp, cfg, settings)
            results = Results.from_dict(comp.run())
        except (Interrupted, KeyboardInterrupt):
            if dist.is_main():
                _mark_stopped(Path(cfg.out))
            raise
    if dist.is_main():
        print_summary(results)
        render(Path(cfg.out))
        print(f"\nresults: {Path(cfg.out) / RESULTS}")
    return 0


def _mark_stopped(out: Path) -> None:
    """Leave stopped.json in --out, so that ``roundtable status`` shows the comparison's
    unfinished runs as stopped at their checkpoints, not as running."""
    from datetime import datetime, timezone

    from roundtable.core.stopping import STOP
    from roundtable.report.status import STOPPED
    from roundtable.results import write_json

    if out.is_dir():
        write_json(out / STOPPED, {"signal": STOP.signal_name or "SIGINT",
                                   "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def _run_shard(comp, cfg, settings: dict) -> int:
    from roundtable.comparison.shards import Shard
    from roundtable.core import dist
    from roundtable.report import render
    from roundtable.report.table import print_summary
    from roundtable.results import RESULTS, Results

    raw, merged = Shard(comp, cfg.shard, settings).run()
    results = Results.from_dict(raw)
    if dist.is_main():
        print_summary(results)
        if merged:
            render(Path(cfg.out))
            print(f"\nresults: {Path(cfg.out) / RESULTS}")
        else:
            pending = sum(r.status == "pending" for r in results.runs + results.ladder)
            print(f"\nshard {cfg.shard} done; {pending} runs of other shards still pending "
                  f"(roundtable status {cfg.out}; roundtable report {cfg.out} merges what is there)")
    return 0


def cmd_demo(args) -> int:
    from roundtable.tasks import task_class

    settings = {**DEMO_DEFAULTS, **_settings(args)}
    out, task = Path(settings["out"]), settings["task"]
    data = task_class(task).demo_data(out / "data")
    settings.update(data=str(data), out=str(out))
    print(f"roundtable demo: {task} on {data} (text from the Python standard library)", file=sys.stderr)
    return cmd_compare(args, settings)


def cmd_report(args) -> int:
    from roundtable.report import render
    from roundtable.results import COMPARISON, RESULTS

    out = Path(args.dir)
    if (out / COMPARISON).is_file():  # a sharded comparison: merge what is there first
        from roundtable.comparison.runner import Comparison
        from roundtable.comparison.shards import Shard
        from roundtable.results import read_json

        settings = {**read_json(out / COMPARISON)["settings"], "out": str(out)}
        comp = Comparison(compare_config(settings), progress=False)
        comp.load_data()
        Shard(comp, settings["shard"], settings).merge(write=True)
    if not (out / RESULTS).is_file():
        raise UserError(f"no {RESULTS} in {out}")
    path = render(out)
    print(path)
    return 0


def cmd_status(args) -> int:
    from roundtable.report.status import print_status

    print_status(Path(args.dir), as_json=args.json)
    return 0


def cmd_generate(args) -> int:
    from roundtable.comparison.generate import generate

    print(generate(Path(args.dir), args.arm, args.prompt, args.max_new_bytes, args.sample, args.temperature, args.seed))
    return 0


def cmd_prepare(args) -> int:
    """Dequantize and convert a GGUF model into the roundtable cache now (arms/pretrained.py
    ``converted``): a fixed cost paid at install, not in the first comparison's wall clock."""
    from roundtable.arms.factory import ArmFactory

    src = ArmFactory(args.model).pretrained.weights()
    print(src.location)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("report", "generate") and not Path(args.dir).is_dir():
            raise UserError(f"no such folder: {args.dir}")
        if args.command not in ("status", "compare", "demo"):  # compare quiets them once its input is checked
            quiet_libraries(progress=_show_progress(args))
        return {"compare": cmd_compare, "demo": cmd_demo, "report": cmd_report, "generate": cmd_generate,
                "status": cmd_status, "prepare": cmd_prepare}[args.command](args)
    except UserError as e:
        print(f"roundtable: error: {e}", file=sys.stderr)
        return e.exit_code
    except Interrupted as e:
        print(f"roundtable: {e}; results so far are saved; continue with the same command and --resume",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("roundtable: stopped at once; continue with the same command and --resume", file=sys.stderr)
        return 130
