"""A comparison: arms x seeds x data fractions, each trained and scored the same way."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from roundtable.arms import run_seed, starts_pretrained
from roundtable.arms.factory import ArmFactory
from roundtable.comparison import assemble, outdir, prepare
from roundtable.comparison.prepare import Prepared
from roundtable.comparison.trackers import check_report_to, log_final, tracker_callbacks
from roundtable.config.settings import ArmConfig, BudgetConfig, CompareConfig
from roundtable.core import dist
from roundtable.core.device import pick_device
from roundtable.core.errors import Diverged, Interrupted, UserError
from roundtable.core.stopping import STOP
from roundtable.core.threads import start as start_threads
from roundtable.data.corpus import Corpus, nested_subset
from roundtable.evaluate import startcache
from roundtable.evaluate.generate import generation_speed
from roundtable.evaluate.precision import autocast, peak_gflops
from roundtable.evaluate.precision import resolve as resolve_precision
from roundtable.evaluate.scorer import ArmEvaluator
from roundtable.forecast.arm import MIN_STEPS
from roundtable.forecast.ladder import FORECAST_POINTS, extra_shares, forecast_target
from roundtable.forecast.ladder import build as build_forecast
from roundtable.results import RESULTS, SCORES, dir_bytes, group_readable, run_name, write_json
from roundtable.tasks import get_task
from roundtable.train.flops import flops_per_token
from roundtable.train.lrsearch import SliceTooShort, most_steps, search_rate, slices_run, tuning_split
from roundtable.train.trainer import attention_context, train_run

logger = logging.getLogger(__name__)


def run_line(name: str, r: dict, unique_bytes: int, budget_seconds: float | None) -> str:
    """One plain line when a run ends: what it did, how far it got, what it cost."""
    f = r["final"]
    score = f"{f['valid_bits_per_byte']:.3f} bits per byte" + (f", ROUGE-L {f['rougeL']:.3f}" if "rougeL" in f else "")
    budget = f" for {budget_seconds:.0f} s of training" if budget_seconds else ""
    return (f"  {name}: {r['steps']} steps, {r['train_bytes'] / max(unique_bytes, 1):.2g} epochs, {score}; "
            f"{r['wall_seconds']:.0f} s wall{budget}")


class Comparison:
    """One comparison, run: the data and every arm prepared (prepare.py), the output
    folder checked or resumed (outdir.py), each arm's learning-rate search, then every
    run trained and scored the same way, results.json (assemble.py) rewritten after each."""

    def __init__(self, cfg: CompareConfig, progress: bool = True):
        self.cfg = cfg
        self.progress = progress
        self.out = Path(cfg.out)
        self.task = get_task(cfg)
        self.factory = ArmFactory(cfg.model, cfg.trust_remote_code, cfg.revision)
        self.device = pick_device(cfg.device)
        dist.init(cpu=self.device == "cpu")
        self.threads = start_threads(cfg.threads)  # before any parallel work: torch's inter-op pool is sized once
        self.precision = resolve_precision(cfg.precision, self.device)  # collective: every process agrees
        self._start_points: dict[tuple, dict] = {}
        self._start_scores: dict[tuple, np.ndarray | None] = {}
        """Step-0 scores of the arms that start from the pretrained weights as they are:
        the same for every seed and fraction with the same window, so scored once."""
        self.corpus: Corpus | None = None
        self._prepared: dict[tuple[str, float], Prepared] = {}
        self.search: dict[str, dict] = {}
        """Each arm's learning-rate search (lrsearch.py), kept across --resume."""
        self._tuning: tuple[list, list] | None = None
        self.ladder: list[dict] = []
        """The forecast's extra runs at shares of the budget (ladder.py), kept across --resume."""
        self._train_bytes: dict[float, int] = {}
        self._t0 = time.perf_counter()
        self._wall_before = 0.0
        """Wall-clock seconds of earlier sessions of a resumed comparison."""
        self._model: dict | None = None
        self.sample: dict | None = None
        """How much of the validation text is scored (sample.py), kept across --resume."""

    # -- preparation: everything that can fail on the user's input fails here ---------
    def prepare(self) -> None:
        check_report_to(self.cfg.report_to)  # a tracker that is not installed stops before any model loads
        if self.cfg.forecast_budget:
            forecast_target(self.cfg.forecast_budget, self.cfg.budget)  # a bad value fails before any run
        if self.corpus is None:  # the command line reads it before the heavy imports
            self.corpus = prepare.read_corpus(self.cfg, self.task)
        self._train_bytes = prepare.train_bytes(self.cfg, self.corpus)
        self._prepared = prepare.prepare_arms(self.cfg, self.task, self.factory, self.corpus, self.progress,
                                              self.device, self.precision)

    def agree_sizes(self) -> None:
        """Every sized arm trains the first shape chosen for it in --out (prepare.agree_sizes)."""
        prepare.agree_sizes(self.out, self.cfg, self._prepared)

    def size_sample(self) -> dict:
        """How much of the validation text every arm is scored on (prepare.size_sample)."""
        return prepare.size_sample(self.cfg, self.task, self.factory, self.corpus.valid, self._prepared,
                                   self.device, self.precision)

    def apply_sample(self, sample: dict) -> None:
        """Score every arm on the sample's text from here on (the same for all)."""
        self.sample = sample
        prepare.apply_sample(self.task, self.corpus.valid, self._prepared, sample, self.cfg.budget.curve_eval_bytes)

    def config_key(self) -> dict:
        """What makes two comparisons the same (outdir.config_key): --resume and shards check it."""
        return outdir.config_key(self.cfg, self.corpus)

    # -- running ------------------------------------------------------------------
    def run(self) -> dict:
        resumed = outdir.check_out(self.out, self.cfg, self.config_key())
        if resumed is not None:
            self.search, self.sample, self.ladder = resumed.search, resumed.sample, resumed.ladder
            self._wall_before = resumed.wall_seconds
        done = resumed.runs if resumed is not None else []
        dist.barrier()
        self.out.mkdir(parents=True, exist_ok=True)
        self.agree_sizes()
        finished = {(r["arm"], r["seed"], r["fraction"]) for r in done}
        runs = list(done)
        self.apply_sample(self.sample or self.size_sample())
        self._write(self.results(runs, complete=False))
        plan = [(f, s, a) for f in self.cfg.fractions for s in range(self.cfg.seeds) for a in self.cfg.arms]
        order = [(a.name, s, f) for f, s, a in plan]
        self._estimate(len([p for p in order if p not in finished]))
        with STOP.installed():
            self._search_rates(runs)
            for i, (fraction, seed, arm) in enumerate(plan, start=1):
                if (arm.name, seed, fraction) in finished:
                    continue
                if STOP.requested:
                    raise Interrupted("stopped between runs")
                name = run_name(arm.name, seed, fraction)
                logger.info(f"[{i}/{len(plan)}] {name}")
                runs.append(self.run_one(arm, seed, fraction))
                runs.sort(key=lambda r: order.index((r["arm"], r["seed"], r["fraction"])))
                self._write(self.results(runs, complete=False))
            if self.cfg.forecast_budget:
                self._run_ladder(runs)
        if dist.is_main():
            self.apply_keep_policy(runs)
        results = self.results(runs, complete=True)
        self._write(results)
        return results

    @staticmethod
    def run_dir_name(arm: str, seed: int, fraction: float, share: float = 1.0) -> str:
        """A run's folder under runs/: a forecast rung carries its share of the budget."""
        return run_name(arm, seed, fraction, share)

    def load_data(self) -> None:
        """Only the data (no tokenizer, no model): what merging finished runs needs."""
        self.corpus = prepare.read_corpus(self.cfg, self.task)
        self._train_bytes = prepare.train_bytes(self.cfg, self.corpus)

    def _estimate(self, n_runs: int) -> None:
        """Before anything runs: the most budget the comparison will spend (each arm's search once, then its runs)."""
        seconds = self.cfg.budget.seconds
        if not seconds or not n_runs:
            return
        ladder = self.cfg.seeds * sum(sum(extra_shares(a.schedule)) for a in self.cfg.arms) \
            if self.cfg.forecast_budget else 0.0
        reserve = self.cfg.lr_search.reserve  # at most: a slice too short is not run
        total = seconds * (n_runs + ladder)  # an arm's search comes out of its own runs' budget
        search = (f" (up to {seconds * reserve:.0f} s of each for the arm's own learning-rate search, the rest "
                  "training)" if reserve else "")
        logger.info(f"{n_runs} runs of {seconds:.0f} s{search}: at most {total / 60:.0f} min in all"
                 f"{' (forecast included)' if ladder else ''}, plus model loading and evaluation")

    def _run_ladder(self, runs: list[dict]) -> None:
        """The forecast's extra runs (ladder.py): every arm whose rate decays, every seed,
        on the largest fraction at a share of the budget with its own full schedule;
        scored like every run. An arm at a constant rate needs none."""
        top = max(self.cfg.fractions)
        done = {(r["arm"], r["seed"], r["budget_share"]) for r in self.ladder}
        for arm in self.cfg.arms:
            steps = max((r.get("steps", 0) for r in runs if r["arm"] == arm.name and r["fraction"] == top
                         and r.get("status") == "ok"), default=0)
            for share in extra_shares(arm.schedule):
                if steps * share < MIN_STEPS:  # too short to fit: the forecast says so without it
                    logger.info(f"[forecast] {arm.name}: no extra run at {share:g} of the budget: it would train "
                                f"{steps * share:.0f} steps, fewer than the {MIN_STEPS} a fit needs")
                    continue
                for seed in range(self.cfg.seeds):
                    if (arm.name, seed, share) in done:
                        continue
                    if STOP.requested:
                        raise Interrupted("stopped between runs")
                    logger.info(f"[forecast] {run_name(arm.name, seed, top)} at {share:g} of the budget "
                                f"({arm.schedule} schedule: a shorter run anneals differently)")
                    self.ladder.append(self.run_one(arm, seed, top, share))
                    self._write(self.results(runs, complete=False))

    def _search_rates(self, runs: list[dict]) -> None:
        """The same learning-rate search for every arm, on the largest data fraction with
        seed 0; the chosen rate then holds for every seed and fraction of the arm."""
        for arm in self.cfg.arms:
            if arm.name not in self.search:
                self.search[arm.name] = self.search_arm(arm)
                self._write(self.results(runs, complete=False))
            self.use_rate(arm.name, self.search[arm.name]["chosen_rate"])

    def tuning(self) -> tuple[list, list]:
        """(the search slices' training documents, the tuning documents) of the largest
        fraction: the same split for every arm (lrsearch.tuning_split), sized like the
        curve subset so a slice's score costs what it would on the validation text."""
        if self._tuning is None:
            train = nested_subset(self.corpus.train, max(self.cfg.fractions), self.cfg.data.split_seed)
            self._tuning = tuning_split(train, self.cfg.budget.curve_eval_bytes, self.cfg.data.split_seed)
        return self._tuning

    def tuning_summary(self) -> dict | None:
        """Where the search scored its slices, for results.json and the report."""
        if self.cfg.lr_search.rates <= 1 or self.corpus is None:
            return None
        train, tuning = self.tuning()
        return {"documents": len(tuning), "bytes": sum(self.task.scored_bytes(tuning)),
                "slice_train_documents": len(train), "source": "training documents held out from the search's slices"}

    def search_arm(self, arm: ArmConfig) -> dict:
        """One arm's learning-rate search (lrsearch.py) on the largest fraction, seed 0:
        its slices train on the training documents less the tuning ones, and are scored on
        the tuning ones, never on validation text."""
        prep = self._prepared[(arm.name, max(self.cfg.fractions))]
        search = self.cfg.lr_search.rates > 1
        if search:
            logger.info(f"learning-rate search: {arm.name}")
        train, tuning = self.tuning() if search else ([], [])
        sliced = self._search_prep(prep, train, tuning) if search and tuning else None
        result = search_rate(
            prep.arm, self.cfg.budget, self.cfg.lr_search,
            lambda a, b, d: self._train_slice(sliced, a, b, d), self.out / "lr-search" / arm.name,
            unavailable=None if sliced else "fewer than two training documents, so no tuning text can be held out",
        )
        logger.info(f"  {arm.name}: learning rate {result.chosen_rate:.3g} ({result.reason})")
        return result.to_dict()

    def use_rate(self, arm: str, rate: float) -> None:
        """The chosen rate holds for every seed and data fraction of the arm."""
        for f in self.cfg.fractions:
            prep = self._prepared[(arm, f)]
            prep.arm = replace(prep.arm, learning_rate=rate)

    def _search_prep(self, prep: Prepared, train: list, tuning: list) -> Prepared:
        """The arm as its search slices see it: the same tokenizer, block and window,
        trained on ``train`` and scored on the tuning documents by the one evaluator."""
        data = self.task.train_data(prep.tokenizer, train, prep.arm, self.cfg.context_bytes)
        ev = prep.evaluator
        tuned = ArmEvaluator(full=self.task.eval_set(prep.tokenizer, tuning), subset=None, window=ev.window,
                             stride=ev.stride, batch_tokens=ev.batch_tokens, progress=self.progress)
        return replace(prep, data=data.dataset, evaluator=tuned)

    def _train_slice(self, prep: Prepared, arm: ArmConfig, budget, run_dir: Path) -> tuple[int, float]:
        """One search slice: a fresh model (seed 0) trained on the slice, scored on the
        tuning text (``_search_prep``) by the same evaluator as every run."""
        seed = run_seed(arm.name, 0)  # a copy (NAME#2) searches with its own seed, as its runs train
        model = self.factory.model(arm, prep.tokenizer, seed=seed)
        bound = self._slice_steps(model, prep, arm, budget)
        if bound is not None and bound < self.cfg.lr_search.min_steps:
            raise SliceTooShort(bound, "at twice this CPU's measured matmul speed" if budget.seconds else "by its limit")
        out = train_run(model, prep.tokenizer, prep.data, prep.evaluator, arm, budget, run_dir,
                        run_dir / "tensorboard", seed, self.device, desc=f"{arm.name} lr {arm.learning_rate:.3g}", progress=self.progress,
                        probe_min_steps=self.cfg.lr_search.min_steps, precision=self.precision)
        return out.steps, out.final.get("valid_bits_per_byte", float("nan"))

    def _slice_steps(self, model, prep: Prepared, arm: ArmConfig, budget) -> int | None:
        """At most how many steps a search slice can hold (lrsearch.most_steps): known
        before training, so a slice too short to judge is not run at all."""
        lengths = [len(x) for x in getattr(prep.data, "sequences", ())]
        tokens = arm.batch_size * (float(np.mean(lengths)) if lengths else arm.block_size)
        flops = flops_per_token(model, attention_context(prep.data, arm.block_size)) * tokens
        peak = peak_gflops(self.precision) * dist.world() if self.device == "cpu" else None
        return most_steps(budget, tokens, flops, peak, prep.data.bytes_per_token)

    def _write(self, results: dict) -> None:
        if dist.is_main():
            write_json(self.out / RESULTS, results)
        dist.barrier()

    def apply_keep_policy(self, runs: list[dict]) -> None:
        """--keep-models (outdir.keep_models)."""
        outdir.keep_models(self.out, runs, self.cfg.keep_models, self.task)

    def run_one(self, arm: ArmConfig, seed: int, fraction: float, share: float = 1.0) -> dict:
        """One run; ``share`` < 1 is a rung of the forecast's budget ladder (its model is
        not kept and its costs are not measured again)."""
        prep = self._prepared[(arm.name, fraction)]
        arm = prep.arm
        name = self.run_dir_name(arm.name, seed, fraction, share)
        run_dir = self.out / "runs" / name
        budget = self.training_budget(arm.name, share)
        record = {
            "arm": arm.name, "seed": seed, "train_seed": run_seed(arm.name, seed), "fraction": fraction, "status": "failed",
            "model": self.factory.model_name(arm), "run_dir": str(run_dir.relative_to(self.out)),
            "recipe": asdict(arm), "block_size": arm.block_size, "context_bytes": prep.context_bytes,
            "tokenizer_lossless": prep.lossless, "budget_share": share,
            "search_reserve": self.reserve(arm.name), "train_budget": dict(zip(("kind", "value"), budget.kind)),
        }
        if prep.sizing is not None:
            record["sizing"] = prep.sizing
        trackers = tracker_callbacks(self.cfg.report_to, name, {"arm": arm.name, "seed": seed, "fraction": fraction,
                                                                "budget_share": share, "task": self.cfg.task})
        t0 = time.perf_counter()
        try:
            model = self.factory.model(arm, prep.tokenizer, seed=record["train_seed"])
            record["params"] = int(sum(p.numel() for p in model.parameters()))
            record["trainable_params"] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
            key = (arm.name, prep.evaluator.window, prep.evaluator.stride)
            digest = startcache.key(self._model_info(), arm, prep.evaluator, self.precision, self.device) \
                if starts_pretrained(arm.name) else None
            start = self._start_point(key, digest) if starts_pretrained(arm.name) else None
            prep.evaluator.first_full = None
            outcome = train_run(
                model, prep.tokenizer, prep.data, prep.evaluator, arm, budget, run_dir,
                self.out / "tensorboard" / name, record["train_seed"], self.device, desc=name, progress=self.progress,
                callbacks=trackers, precision=self.precision, start_point=start, point_lines=True,
            )
            if starts_pretrained(arm.name) and start is None and outcome.curve.points:
                self._start_points[key] = outcome.curve.points[0]
                self._start_scores[key] = _step0_scores(prep.evaluator.first_full, outcome.curve.points[0])
                if dist.is_main():
                    startcache.save(digest, outcome.curve.points[0], self._start_scores[key])
            if dist.is_main():
                group_readable(run_dir)
                self._save_scores(run_dir, prep, self._start_scores.get(key))
                if share == 1:
                    record.update(self._costs(model, prep))
                else:
                    shutil.rmtree(run_dir / "model", ignore_errors=True)
            dist.barrier()
            record.update(
                status="ok", steps=outcome.steps, train_seconds=outcome.train_seconds,
                train_tokens=outcome.train_tokens, train_bytes=outcome.train_bytes, train_flops=outcome.train_flops,
                eval_seconds=outcome.curve.eval_seconds, curve=outcome.curve.points, final=outcome.final,
                checkpoint_bytes=dir_bytes(run_dir / "model"), padding_fraction=outcome.padding_fraction,
                precision=self.precision, data_wait_seconds=outcome.data_wait_seconds, curve_plan=outcome.curve_plan,
                **outcome.machine,
            )
        except Diverged as e:
            record.update(status="diverged", diverged_step=e.step, error=str(e))
            logger.info(f"  {name}: diverged ({e})")
        except (UserError, Interrupted, KeyboardInterrupt):
            raise
        except Exception as e:  # one failing run must not stop the others
            if not dist.is_main() and dist.active():
                raise  # a collective failed on one process: the others cannot go on alone
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            record.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
            logger.info(f"  {name}: failed ({record['error']}); traceback in {run_dir / 'error.log'}")
        finally:
            for line in log_final(trackers, record.get("final") or {}, record["status"]):
                logger.info(f"  {name}: {line}")
        record["wall_seconds"] = time.perf_counter() - t0
        if record["status"] == "ok":
            logger.info(run_line(name, record, self._train_bytes[fraction], budget.seconds))
        return record

    def training_budget(self, arm: str, share: float = 1.0) -> BudgetConfig:
        """What a run of ``arm`` trains on: its share of the budget (a forecast rung's is
        < 1) less the arm's own search slices, so that each arm's search and training
        together spend the same budget. A forecast fits whole curves: every run then has
        at least FORECAST_POINTS curve points."""
        budget = self.cfg.budget
        if self.cfg.forecast_budget and budget.curve_points < FORECAST_POINTS:
            budget = replace(budget, curve_points=FORECAST_POINTS)
        return budget.scaled(share * (1.0 - self.reserve(arm)), curve=True)

    def reserve(self, arm: str) -> float:
        """The share of ``arm``'s budget its own learning-rate search took: the slices it
        ran, nothing where none ran (a slice known too short to tell rates apart is not
        run, and that arm trains on all of its budget). Charging every arm the largest
        search would make a slow arm that could not search pay for another's (the demo's
        fine-tune arm, which runs no slice, would train on 70% of its budget). Known once
        the arm's search is done, which is before its first run."""
        return round(self.cfg.lr_search.share * slices_run(self.search.get(arm) or {}), 9)

    def _start_point(self, key: tuple, digest: str | None) -> dict | None:
        """The step-0 point of an arm that starts from the pretrained weights as they are:
        scored earlier in this comparison (another seed or fraction), or in an earlier
        comparison on this machine (startcache.py); None when it must be scored. Every
        process takes the same answer (a collective): one that scores alone would hang."""
        point = self._start_points.get(key)
        if point is None:
            cached = startcache.load(digest)
            point = {**cached, "cached": True} if cached else None
            self._start_scores[key] = startcache.load_scores(digest) if cached else None
        (missing,) = dist.all_max([0.0 if point else 1.0])
        if missing:
            return None
        self._start_points[key] = point
        return point

    def _costs(self, model, prep: Prepared) -> dict:
        """Deployment costs and samples, measured after training (not charged to it)."""
        t0 = time.perf_counter()
        with autocast(self.device, self.precision):
            out = {"generation": generation_speed(model, prep.tokenizer)}
            samples = self.task.samples(model, prep.tokenizer, self.corpus.valid, prep.data.bytes_per_token)
            if samples is not None:
                out["samples"] = samples
        out["cost_seconds"] = time.perf_counter() - t0
        return out

    def _save_scores(self, run_dir: Path, prep: Prepared, start: np.ndarray | None = None) -> None:
        """Per-unit scores for the paired bootstrap (``start``: those of the pretrained
        weights as they are, step 0), with the document of each unit (``doc_group``: the
        bootstrap resamples documents); what the task's extra evaluator made."""
        scores = {"doc_nll_nats": prep.evaluator.last_full.doc_nll_nats, "doc_bytes": prep.evaluator.full.doc_bytes,
                  "doc_group": prep.evaluator.full.groups}
        if start is not None:
            scores["doc_nll_nats_start"] = start
        if prep.evaluator.extra is not None:
            self.task.save_extra(prep.evaluator.extra, run_dir, scores)
        np.savez(run_dir / SCORES, **scores)

    def _forecast(self, runs: list[dict]) -> dict | None:
        if not self.cfg.forecast_budget:
            return None
        use = self.corpus is not None and self.task.scores_whole_text  # the transient's gate (Task says where)
        bigram = prepare.train_bigram(self.cfg, self.corpus) if use else None
        return build_forecast(runs, self.ladder, self.task, self.out, self.cfg.budget, self.cfg.forecast_budget,
                              self._train_bytes, bigram)

    def _model_info(self) -> dict | None:
        """The pretrained model's origin, asked once (assemble.pretrained_model_info)."""
        if self._model is None:
            self._model = assemble.pretrained_model_info(self.cfg, self.factory)
        return self._model

    def results(self, runs: list[dict], complete: bool) -> dict:
        """results.json as it stands (assemble.py); the verdict and forecast only when ``complete``."""
        if self._prepared:
            scored = int(next(iter(self._prepared.values())).evaluator.full.n_bytes)
        else:  # merging shards' runs (roundtable report): what the sample says
            scored = int((self.sample or {}).get("scored_bytes") or 0)
        return assemble.results_dict(
            self.cfg, self.task, self.out, runs, complete=complete, corpus=self.corpus, scored_valid_bytes=scored,
            search=self.search, tuning=self.tuning_summary(), sample=self.sample, ladder=self.ladder,
            forecast=self._forecast(runs) if complete else None, model=self._model_info(),
            train_bytes=self._train_bytes, wall_seconds=time.perf_counter() - self._t0 + self._wall_before,
            key=self.config_key(), device=self.device, precision=self.precision,
        )


def _step0_scores(first, point: dict) -> np.ndarray | None:
    """The per-document NLL of a run's step 0: its first whole-text score, where that is
    the point recorded at step 0 (a run resumed from a checkpoint scored no step 0)."""
    if first is None or point.get("step") != 0 or point.get("valid_bits_per_byte") != first.bits_per_byte:
        return None
    return first.doc_nll_nats
