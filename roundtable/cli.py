"""Command line: compare, demo, report, generate, status.

Errors in the user's input print one line and exit with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from roundtable import __version__
from roundtable.errors import Interrupted, UserError

DEMO_BUDGET = "120s"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"roundtable: error: {message} (see --help)\n")


def _compare_args(p: argparse.ArgumentParser, demo: bool = False) -> None:
    if not demo:
        p.add_argument("--data", help="training data: .txt/.md file, folder of text files, or .jsonl/.json/.csv")
        p.add_argument("--valid", help="validation data (same formats); default: a document-level split of --data")
        p.add_argument("--valid-fraction", type=float, help="share of documents held out (default 0.1)")
        p.add_argument("--text-field", help="record field holding the text (default text)")
        p.add_argument("--document-field", help="summarize: record field with the document (default document)")
        p.add_argument("--summary-field", help="summarize: record field with the summary (default summary)")
        p.add_argument("--model", help="hub id, local folder, .gguf file, or smollm2-135m (offline default)")
        p.add_argument("--revision", help="hub ids: the branch, tag or commit of --model (recorded in results.json)")
        p.add_argument("--arms", help="comma-separated arms (default finetune,scratch-lstm)")
        p.add_argument("--seeds", type=int, help="runs per arm with different seeds (default 1)")
        p.add_argument("--fractions", help="nested training-data fractions, e.g. 0.1,0.3,1.0 (default 1.0)")
        p.add_argument("--config", help="YAML or JSON file of these settings (flags override it)")
        p.add_argument("--encoding-errors", choices=["strict", "replace"], help="undecodable bytes (default strict)")
        p.add_argument("--skip-bad-records", action="store_true", default=None, help="skip and count bad records")
        p.add_argument("--max-document-tokens", type=int, help="summarize: document cut in bytes, all arms (default 768)")
        p.add_argument("--max-summary-tokens", type=int, help="summarize: summary cut in bytes, all arms (default 128)")
        p.add_argument("--rouge-examples", type=int, help="summarize: examples scored by ROUGE per curve point (24)")
        p.add_argument("--num-beams", type=int, help="summarize: beam search width (default 1: greedy)")
        p.add_argument("--allow-lossy-tokenizer", action="store_true", default=None,
                       help="accept a tokenizer that does not give the validation text back exactly")
        p.add_argument("--trust-remote-code", action="store_true", default=None, help="allow a hub model's own code")
        p.add_argument("--resume", action="store_true", default=None, help="continue a comparison in --out")
        p.add_argument("--overwrite", action="store_true", default=None, help="replace a comparison in --out")
        p.add_argument("--shard", help="K/N: run the K-th of N disjoint slices of the runs into the same --out "
                                       "(0 <= K < N; e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
        p.add_argument("--keep-models", choices=["all", "best", "none"], help="final models kept (default best per arm)")
    p.add_argument("--task", choices=["lm", "summarize"], default=None if not demo else "lm",
                   help="lm (language modelling) or summarize" + (" (default lm)" if demo else
                                                                   " (required, here or in --config)"))
    p.add_argument("--budget", help="training budget per run: wall clock (90s, 10m, 1h), tokens (5Mtok) or FLOPs "
                                    "(2e15flop)" + (" (default 120s)" if not demo else ""))
    p.add_argument("--context-bytes", type=int,
                   help="context of every arm in bytes; each arm's block in its own tokens follows (default 1024)")
    p.add_argument("--lr-search", type=int,
                   help="learning rates tried per arm on short slices, the same for every arm (default 3; 0: off)")
    p.add_argument("--lr-search-share", type=float, help="each search slice as a share of the budget (default 0.1)")
    p.add_argument("--lr-search-min-steps", type=int,
                   help="fewer steps in a slice: too short to tell, the recipe's rate is kept (default 30)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 autocast where measured faster, else fp32; the same for every arm (default auto)")
    p.add_argument("--forecast-budget", nargs="?", const="10x",
                   help="forecast each arm's score at this budget: 2h, 600s or 4x; alone: 10x (default off)")
    p.add_argument("--max-steps", type=int, help="optimizer steps per run (instead of, or as well as, --budget)")
    p.add_argument("--curve-points", type=int, help="evaluations between step 0 and the end (default 3)")
    p.add_argument("--curve-eval-bytes", type=int, help="validation bytes scored at intermediate points (default 20000)")
    p.add_argument("--out", help="output folder")
    p.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    p.add_argument("--report-to", help="experiment trackers besides TensorBoard, comma-separated: mlflow, wandb, "
                   "trackio (each an extra: pip install 'roundtable[mlflow]'); default tensorboard")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roundtable", description="Fine-tune a pretrained LM or train from scratch? Measure it.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _compare_args(sub.add_parser("compare", help="run every arm on your data and compare"))
    _compare_args(sub.add_parser("demo", help="the built-in demo (no download)"), demo=True)
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
    st = sub.add_parser("status", help="which runs of a comparison are done, running, pending, diverged or failed")
    st.add_argument("dir")
    st.add_argument("--json", action="store_true", help="the same as JSON, for other tools")
    return parser


def _settings(args: argparse.Namespace) -> dict:
    """Config file values, overridden by the flags that were given."""
    from roundtable.config import load_config_file

    s = load_config_file(args.config) if getattr(args, "config", None) else {}
    for k, v in vars(args).items():
        if v is not None and k not in ("command", "config", "no_progress"):
            s[k] = v
    return s


def compare_config(s: dict):
    from roundtable.config import (
        DEFAULT_ARMS,
        DEFAULT_MODEL,
        BudgetConfig,
        CompareConfig,
        DataConfig,
        SearchConfig,
        parse_arms,
        parse_budget_spec,
        parse_fractions,
    )

    s = dict(s)
    if not s.get("task"):
        raise UserError("give --task lm or --task summarize")
    if not s.get("data"):
        raise UserError("give --data PATH")

    def get(key, kind, default=None):
        v = s.pop(key, None)
        if v is None:
            return default
        try:
            return kind(v) if kind is not bool else _as_bool(v)
        except (TypeError, ValueError):
            raise UserError(f"setting {key.replace('_', '-')} must be {kind.__name__}, got {v!r}") from None

    data = DataConfig(
        path=get("data", str),
        valid=get("valid", str),
        valid_fraction=get("valid_fraction", float, 0.1),
        split_seed=get("split_seed", int, 0),
        text_field=get("text_field", str, "text"),
        document_field=get("document_field", str, "document"),
        summary_field=get("summary_field", str, "summary"),
        encoding_errors=get("encoding_errors", str, "strict"),
        skip_bad_records=get("skip_bad_records", bool, False),
    )
    max_steps = get("max_steps", int)
    budget_text = s.pop("budget", None)
    kind, value = parse_budget_spec(budget_text) if budget_text is not None else ("seconds", None)
    seconds = value if kind == "seconds" else None
    if budget_text is None and max_steps is None:
        seconds = 120.0
    budget = BudgetConfig(
        seconds=seconds,
        max_steps=max_steps,
        tokens=value if kind == "tokens" else None,
        flops=value if kind == "flops" else None,
        curve_points=get("curve_points", int, 3),
        curve_eval_bytes=get("curve_eval_bytes", int, 20_000),
    )
    arms_spec = s.pop("arms", ",".join(DEFAULT_ARMS))
    if isinstance(arms_spec, list):
        arms_spec = ",".join(map(str, arms_spec))
    arm_settings = s.pop("arm_settings", None)
    if arm_settings is not None and not isinstance(arm_settings, dict):
        raise UserError("setting arm_settings must map arm names to settings")
    arms = parse_arms(str(arms_spec), arm_settings)
    fractions = s.pop("fractions", "1.0")
    if isinstance(fractions, (list, tuple)):
        fractions = ",".join(map(str, fractions))
    fractions = parse_fractions(str(fractions))
    cfg = CompareConfig(
        task=get("task", str),
        data=data,
        budget=budget,
        arms=arms,
        model=get("model", str, DEFAULT_MODEL),
        context_bytes=get("context_bytes", int, 1024),
        precision=get("precision", str, "auto"),
        forecast_budget=get("forecast_budget", str),
        report_to=_as_list(s.pop("report_to", None), ["tensorboard"]),
        revision=get("revision", str),
        shard=get("shard", str),
        lr_search=SearchConfig(
            rates=get("lr_search", int, 3), share=get("lr_search_share", float, 0.1),
            min_steps=get("lr_search_min_steps", int, 30),
        ),
        allow_lossy_tokenizer=get("allow_lossy_tokenizer", bool, False),
        seeds=get("seeds", int, 1),
        fractions=fractions,
        out=get("out", str, "roundtable-out"),
        device=get("device", str, "auto"),
        trust_remote_code=get("trust_remote_code", bool, False),
        max_document_tokens=get("max_document_tokens", int, 768),
        max_summary_tokens=get("max_summary_tokens", int, 128),
        rouge_examples=get("rouge_examples", int, 24),
        num_beams=get("num_beams", int, 1),
        resume=get("resume", bool, False),
        overwrite=get("overwrite", bool, False),
        keep_models=get("keep_models", str, "best"),
    )
    if s:
        raise UserError(f"unknown setting(s): {', '.join(sorted(s))}")
    return cfg


def _as_list(v, default: list[str]) -> list[str]:
    """A comma-separated flag or a YAML/JSON list."""
    if v is None:
        return list(default)
    items = v if isinstance(v, (list, tuple)) else str(v).split(",")
    return [str(x).strip() for x in items if str(x).strip()]


def _as_bool(v) -> bool:
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("1", "true", "yes", "on"):
        return True
    if str(v).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(v)


def _show_progress(args) -> bool:
    """Progress bars only on a terminal: a log file (CI, nohup, Slurm) gets plain lines."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _say(message: str) -> None:
    """One line to stderr that leaves a progress bar on screen intact."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def _quiet_libraries(progress: bool = True) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    if not progress:  # read by tqdm when it is first imported (by transformers, below)
        os.environ["TQDM_DISABLE"] = "1"  # bars libraries draw with tqdm directly (GGUF dequantization)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import transformers

    transformers.logging.set_verbosity_error()
    if not progress:
        import huggingface_hub

        transformers.utils.logging.disable_progress_bar()
        huggingface_hub.utils.disable_progress_bars()


def cmd_compare(args, settings: dict | None = None) -> int:
    from roundtable.compare import Comparison
    from roundtable.results import RESULTS, Results
    from roundtable.summary import print_summary

    settings = settings if settings is not None else _settings(args)
    cfg = compare_config(settings)
    from roundtable import dist

    log = _say if dist.is_main() else (lambda m: None)
    comp = Comparison(cfg, progress=_show_progress(args), log=log)
    comp.prepare()
    if cfg.shard:
        return _run_shard(comp, cfg, settings)
    results = Results.from_dict(comp.run())
    if dist.is_main():
        print_summary(results)
        _render_report(Path(cfg.out))
        print(f"\nresults: {Path(cfg.out) / RESULTS}")
    return 0


def _run_shard(comp, cfg, settings: dict) -> int:
    from roundtable import dist
    from roundtable.results import RESULTS, Results
    from roundtable.shard import Shard
    from roundtable.summary import print_summary

    raw, merged = Shard(comp, cfg.shard, settings).run()
    results = Results.from_dict(raw)
    if dist.is_main():
        print_summary(results)
        if merged:
            _render_report(Path(cfg.out))
            print(f"\nresults: {Path(cfg.out) / RESULTS}")
        else:
            pending = sum(r.status == "pending" for r in results.runs + results.ladder)
            print(f"\nshard {cfg.shard} done; {pending} runs of other shards still pending "
                  f"(roundtable status {cfg.out}; roundtable report {cfg.out} merges what is there)")
    return 0


def _render_report(out: Path) -> None:
    try:
        from roundtable.report import render
    except ImportError:
        return
    render(out)


def cmd_demo(args) -> int:
    from roundtable import demo

    out = Path(args.out or "roundtable-demo")
    task = args.task or "lm"
    data = demo.write_lm_data(out / "data") if task == "lm" else demo.write_summarize_data(out / "data")
    settings = {
        "task": task, "data": str(data), "budget": args.budget or DEMO_BUDGET, "out": str(out),
        "overwrite": True, "curve_eval_bytes": 12_000,
    }
    for k in ("max_steps", "curve_points", "curve_eval_bytes", "context_bytes", "lr_search", "lr_search_share",
              "lr_search_min_steps", "precision", "forecast_budget", "device", "report_to"):
        if getattr(args, k) is not None:
            settings[k] = getattr(args, k)
    print(f"roundtable demo: {task} on {data} (text from the Python standard library)", file=sys.stderr)
    return cmd_compare(args, settings)


def cmd_report(args) -> int:
    from roundtable.report import render
    from roundtable.results import RESULTS

    out = Path(args.dir)
    if (out / "comparison.json").is_file():  # a sharded comparison: merge what is there first
        from roundtable.compare import Comparison
        from roundtable.results import read_json
        from roundtable.shard import COMPARISON, Shard

        settings = {**read_json(out / COMPARISON)["settings"], "out": str(out)}
        comp = Comparison(compare_config(settings), progress=False, log=lambda m: None)
        comp.load_data()
        Shard(comp, settings["shard"], settings).merge(write=True)
    if not (out / RESULTS).is_file():
        raise UserError(f"no {RESULTS} in {out}")
    path = render(out)
    print(path)
    return 0


def cmd_status(args) -> int:
    from roundtable.status import print_status

    print_status(Path(args.dir), as_json=args.json)
    return 0


def cmd_generate(args) -> int:
    from roundtable.generate import generate

    print(generate(Path(args.dir), args.arm, args.prompt, args.max_new_bytes, args.sample, args.temperature, args.seed))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command != "status":  # status reads JSON only: no library to quiet, and quick
            _quiet_libraries(progress=_show_progress(args))
        return {"compare": cmd_compare, "demo": cmd_demo, "report": cmd_report, "generate": cmd_generate,
                "status": cmd_status}[args.command](args)
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
