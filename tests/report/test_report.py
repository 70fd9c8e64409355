"""report.render: a self-contained HTML page and a Markdown twin, built from results.json alone."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from roundtable.report import render
from tests.helpers import results_stub

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ARMS = ("finetune", "scratch-lstm")
SENTENCE = "Fine-tune the pretrained model: finetune scores 1.100 bits per byte against 1.900 for scratch-lstm."
EVIL = "<script>alert('x')</script> & friends"


def _curve(scale: float, seconds: float, n: int = 5) -> list[dict]:
    points = []
    for i in range(n):
        t = seconds * i / (n - 1)
        nbytes = int(t * 2000)
        sub = scale * (3.0 - 1.5 * i / (n - 1))
        points.append({
            "step": 10 * i, "seconds": t, "train_tokens": nbytes // 2, "train_bytes": nbytes, "flops": nbytes * 1e6,
            "valid_bits_per_byte": sub * 1.02, "subset_bits_per_byte": sub,
            "scope": "full" if i in (0, n - 1) else "subset",
        })
    return points


def _run(arm: str, seed: int, fraction: float, task: str = "lm") -> dict:
    scale = (0.5 if arm == "finetune" else 0.9) * (1.1 - 0.1 * fraction) * (1 + 0.02 * seed)
    curve = _curve(scale, seconds=10.0 + seed)
    last = curve[-1]
    final = {"valid_bits_per_byte": last["valid_bits_per_byte"], "valid_perplexity": 3.2, "valid_token_accuracy": 0.41}
    if task == "summarize":
        final.update(rouge1=0.3 / scale, rouge2=0.1 / scale, rougeL=0.25 / scale)
        for p in curve:
            p["rougeL"] = 0.1 + p["step"] / 400
    run = {
        "arm": arm, "seed": seed, "fraction": fraction, "status": "ok", "budget_share": 1.0, "model": f"{arm}-model",
        "recipe": {"name": arm, "learning_rate": 5e-5 if arm == "finetune" else 0.01},
        "run_dir": f"runs/{arm}-seed{seed}-frac{fraction:g}", "params": 135_000_000 if arm == "finetune" else 330_000,
        "trainable_params": 135_000_000 if arm == "finetune" else 330_000, "steps": 40, "train_seconds": last["seconds"],
        "train_tokens": last["train_tokens"], "train_bytes": last["train_bytes"], "train_flops": last["flops"],
        "eval_seconds": 2.5, "checkpoint_bytes": 540_000_000 if arm == "finetune" else 1_400_000,
        "curve": curve, "final": final,
    }
    if arm == "finetune":
        run["generation"] = {"tokens_per_second": 85.0, "bytes_per_second": 330.0}
    return run


def _results(task: str = "lm") -> dict:
    runs = [_run(a, s, f, task) for f in (0.5, 1.0) for s in (0, 1) for a in ARMS]
    bad = next(r for r in runs if r["arm"] == "scratch-lstm" and r["seed"] == 1 and r["fraction"] == 0.5)
    for k in ("curve", "final", "steps", "train_seconds", "checkpoint_bytes"):
        bad.pop(k)
    bad.update(status="diverged", diverged_step=7, error="loss is nan at step 7")
    for r in runs:
        if r["seed"] == 0 and r["fraction"] == 1.0:
            r["samples"] = [{"prompt": f"Prompt {i}", "text": f"{r['arm']} says {i} {EVIL}"} for i in range(4)]
    return results_stub(**{
        "task": task, "complete": True,
        "data": {"train_bytes": 100_000, "valid_bytes": 10_000, "train_records": 50, "valid_records": 5},
        "runs": runs,
        "verdict": {
            "metric": "valid_bits_per_byte", "winner": "finetune", "runner_up": "scratch-lstm", "margin": 0.8,
            "ci95": [0.7, 0.9], "separated": True, "fraction": 1.0, "sentence": SENTENCE,
            "crossing_fraction": 0.25, "means": {"finetune": 0.9, "scratch-lstm": 1.7},
            "arm_ci95": {"finetune": [0.85, 0.95], "scratch-lstm": [1.6, 1.8]},
            "warnings": ["scratch-lstm trained 40 steps, 0.5 of an epoch: its score shows what this budget buys."],
        },
        "baselines": {"pretrained": {"valid_bits_per_byte": 1.05}},
        "budget": {"kind": "seconds", "value": 10},
        "config": {"task": task, "arms": list(ARMS), "budget": {"seconds": 10}},
        "flops_formula": "6 x matmul parameters x tokens",
        "environment": {"roundtable": "0.1.0", "python": "3.11", "torch": "2.x"},
    })


def _write(out: Path, results: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return out


def _img_sources(page: str) -> list[str]:
    return re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", page)


@pytest.fixture(scope="module")
def lm_report(tmp_path_factory) -> Path:
    out = _write(tmp_path_factory.mktemp("lm"), _results("lm"))
    return render(out)


def test_html_is_self_contained(lm_report: Path):
    page = lm_report.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    for attr in re.findall(r"\s(?:src|href)\s*=\s*[\"']?([^\"'\s>]*)", page, flags=re.I):
        assert attr.startswith("data:"), attr
    assert "<script" not in page.lower(), "the report must need no JavaScript (and escape sample text)"


def test_every_image_is_an_inline_png_that_decodes(lm_report: Path):
    sources = _img_sources(lm_report.read_text(encoding="utf-8"))
    assert len(sources) >= 4  # three curves and the data-size sweep
    for src in sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        raw = base64.b64decode(src[len(prefix):], validate=True)
        assert raw.startswith(PNG_SIGNATURE)
        img = mpimg.imread(io.BytesIO(raw), format="png")
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_markdown_and_plot_files(lm_report: Path):
    out = lm_report.parent
    md = (out / "report.md").read_text(encoding="utf-8")
    for name in ("bpb_vs_seconds", "bpb_vs_bytes", "bpb_vs_flops", "fraction_sweep"):
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
        assert f"](plots/{name}.png)" in md
    assert SENTENCE in md
    assert "<script>" not in md


def test_content_and_order(lm_report: Path):
    page = lm_report.read_text(encoding="utf-8")
    assert SENTENCE in page
    headings = ["Runs", "Learning curves", "Cost", "Samples", "Runs that diverged or failed", "Configuration"]
    positions = [page.index(f"<h2>{h}</h2>") for h in headings]
    assert positions == sorted(positions)
    assert page.index(SENTENCE) < positions[0]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    assert "loss is nan at step 7" in page and "diverged" in page
    assert "crossing fraction" in page and "catch up" not in page
    assert "540.0" in page  # checkpoint MB
    assert "6 x matmul parameters x tokens" in page
    assert "Prompt 3" not in page  # the first three samples per arm only


def test_summarize_report_shows_rouge_and_generations(tmp_path: Path):
    results = _results("summarize")
    out = _write(tmp_path, results)
    for r in results["runs"]:
        d = out / r["run_dir"]
        d.mkdir(parents=True, exist_ok=True)
        lines = [{"id": i, "document": f"doc {i} {EVIL}", "reference": f"ref {i}", "prediction": f"{r['arm']} {i}"}
                 for i in range(5)]
        (d / "generations.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", "utf-8")
    page = render(out).read_text(encoding="utf-8")
    assert (out / "plots" / "rougeL_vs_seconds.png").is_file()
    assert (out / "plots" / "rouge_final.png").is_file()
    assert "doc 2 &lt;script&gt;" in page and "doc 3" not in page
    assert "<script" not in page.lower()


@pytest.mark.off_schema
def test_an_older_file_renders_what_it_has_and_dashes_for_the_rest(tmp_path: Path):
    """No verdict, no costs, no status of completion: the records' defaults stand in."""
    runs = [{"arm": "a", "seed": 0, "fraction": 1.0, "status": "ok",
             "curve": [{"step": 0, "valid_bits_per_byte": 8.0}, {"step": 5, "valid_bits_per_byte": 6.5}],
             "final": {"valid_bits_per_byte": 6.5}},
            {"arm": "b", "seed": 0, "fraction": 1.0, "status": "failed", "error": "out of memory"}]
    page = render(_write(tmp_path, {"task": "lm", "runs": runs})).read_text(encoding="utf-8")
    assert "Could not read" not in page and "No verdict yet" in page
    # the verdict's score first; steps were not recorded
    assert "<td>a</td><td>0</td><td>1</td><td>6.500</td><td>ok</td><td>-</td>" in page
    assert "<td>8.000</td><td>-</td>" in page and "out of memory" in page  # bpb at step 0, no perplexity
    assert "<h2>Configuration</h2>" in page and (tmp_path / "report.md").is_file()


@pytest.mark.off_schema
@pytest.mark.parametrize("text, where", [
    ("[1, 2]", "the top level: expected an object"),
    (json.dumps({"task": "lm", "runs": "oops"}), "runs: expected a list"),
    (json.dumps({"task": "lm", "runs": [{"arm": "a", "seed": "zero"}]}), "runs[0].seed: expected an integer"),
    (json.dumps({"task": "lm", "verdict": {"ci95": [0.1]}}), "verdict.ci95: expected a list of 2"),
    (json.dumps({"task": "lm", "environment": [1]}), "environment: expected an object"),
    ('{"task": "lm", "runs": [', "Expecting value"),
])
def test_a_file_that_is_not_roundtables_is_named_in_a_note(tmp_path: Path, text: str, where: str):
    """A wrong type is a corrupted or hand-made file: the page says where, and shows no numbers."""
    tmp_path.joinpath("results.json").write_text(text, encoding="utf-8")
    page = render(tmp_path).read_text(encoding="utf-8")
    assert f'<p class="note">Could not read results.json: {where}' in page
    assert "<h2>Configuration</h2>" in page and "No runs recorded." in page
    assert "marked incomplete" not in page
    assert f"> Could not read results.json: {where}" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_missing_results_file_is_reported_not_raised(tmp_path: Path):
    page = render(tmp_path).read_text(encoding="utf-8")
    assert "Could not read results.json" in page


# -- in a real browser ------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
# Counts image failures and page errors (including blocked loads) and writes them into the page.
CHECK = """<script>
var problems = [];
window.addEventListener('error', function (e) { problems.push('error: ' + (e.message || (e.target && e.target.src))); },
                        true);
document.addEventListener('securitypolicyviolation', function (e) { problems.push('csp: ' + e.blockedURI); });
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  var pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = 'images=' + imgs.length + ' broken=' + broken + ' problems=' + problems.length;
  document.body.appendChild(pre);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console_lines(stderr: str, page: Path) -> list[str]:
    """Console messages from the page itself; Chromium's own noise (dbus, gcm, vaapi) is not one."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln and page.as_uri() in ln]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install -y chromium; .ci/run does)")
def test_report_in_headless_chromium(lm_report: Path, tmp_path: Path):
    page = lm_report.read_text(encoding="utf-8")
    n_images = len(_img_sources(page))

    # 1. the report as written: it has no script, so any console line means a blocked load or an error
    shot = tmp_path / "screenshot.png"
    proc = _chromium(tmp_path, "--window-size=1100,5000", f"--screenshot={shot}", lm_report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    assert _console_lines(proc.stderr, lm_report) == []

    # 2. a copy with a probe script (and without the CSP that would block it): did every image decode?
    probe = tmp_path / "probe.html"
    copy = re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", page)
    probe.write_text(copy.replace("<head>", "<head>" + CHECK, 1), encoding="utf-8")
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r"<pre id=\"check\">images=(\d+) broken=(\d+) problems=(\d+)</pre>", proc.stdout)
    assert found, proc.stdout[-2000:]
    assert found.groups() == (str(n_images), "0", "0")
    assert _console_lines(proc.stderr, probe) == []

    # 3. what a reader sees first: the verdict plot right after the verdict and its warnings, and the baseline
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", lm_report.as_uri()).stdout
    first_img = dom.index("<img")
    assert dom.index(SENTENCE.split(":")[0]) < dom.index("trained 40 steps") < first_img
    assert first_img < dom.index("The verdict plot") < dom.index("<h2")  # before any section
    assert "pretrained" in dom
    assert "pretrained, as it is" in dom  # the reference row of the run table


def test_the_report_says_what_was_scored_and_how_step_0_was_had(tmp_path: Path):
    results = _results("lm")
    for r in results["runs"]:
        if r["status"] != "ok":
            continue
        r["curve"][0]["eval_seconds"] = 56.3 if r["arm"] == "finetune" else 0.7
        # a 10 s budget: points may cost a tenth of it (train.CURVE_SHARE)
        r["curve_plan"] = ({"planned": 3, "kept": 0, "subset_bytes": 14162, "point_seconds": 2.6, "limit_seconds": 1.0}
                           if r["arm"] == "finetune" else {"planned": 3, "kept": 3, "subset_bytes": 14162,
                                                           "point_seconds": 0.3, "limit_seconds": 1.0})
        if r["arm"] == "finetune" and (r["seed"], r["fraction"]) != (0, 0.5):  # later runs reuse the first's
            r["curve"][0]["reused"] = True
    page = render(_write(tmp_path / "a", results)).read_text(encoding="utf-8")
    section = page[page.index("<h2>Evaluation</h2>"):page.index("<h2>Samples</h2>")]
    assert re.search(r"finetune</td><td>reused</td><td>0 of 3</td><td>2\.6 \(1\)", section), section
    assert re.search(r"scratch-lstm</td><td>scored \(0\.7 s\)</td><td>3 of 3</td>", section), section
    assert "whole validation text (10.0k bytes)" in section and "curve subset (14.2k bytes" in section
    assert "as many as fit in 10% of the arm" in section and "kept on this machine" in section
    for r in results["runs"]:  # a later comparison on the same data: step 0 read from this machine's cache
        if r["arm"] == "finetune" and r["status"] == "ok":
            r["curve"][0].update(reused=True, cached=True)
    page = render(_write(tmp_path / "b", results)).read_text(encoding="utf-8")
    assert "finetune</td><td>cached on this machine</td>" in page


# -- the verdict's claims and the scope of what is drawn ---------------------------------------
def _verdict_kv(results: dict) -> dict[str, str]:
    from roundtable.report.page import _verdict_rows
    from roundtable.results import Results

    return dict(_verdict_rows(Results.from_dict(results).verdict))


def test_an_unseparated_verdict_shows_the_leader_and_no_winner():
    results = _results()
    results["verdict"].update(winner=None, leader="finetune", separated=False, ci95=[-0.1, 0.9], seeds=1,
                              documents=8, interval_method="paired bootstrap, 2000 replicates: 8 validation "
                                                           "documents resampled", crossing_fraction=None,
                              crossing_ci95=None)
    rows = _verdict_kv(results)
    assert rows["leader"] == "finetune" and rows["winner"] == "none: the interval includes zero"
    assert rows["seeds the interval covers"] == "1 (documents only: no run-to-run spread)"
    assert rows["interval method"].endswith("8 validation documents resampled")
    assert rows["crossing fraction"] == "none with a bounded 95% interval"


def test_an_older_verdict_that_named_an_unseparated_winner_shows_it_as_the_leader():
    results = _results()
    results["verdict"].update(separated=False, ci95=[-0.1, 0.9])  # winner "finetune" as older files wrote it
    rows = _verdict_kv(results)
    assert rows["leader"] == "finetune" and rows["winner"] == "none: the interval includes zero"
    assert rows["crossing fraction"] == "0.25"  # written before crossings carried an interval


def test_a_crossing_shows_its_interval():
    results = _results()
    results["verdict"].update(crossing_fraction=0.25, crossing_ci95=[0.12, 0.5])
    assert _verdict_kv(results)["crossing fraction"] == "0.25 (95% interval 0.12 to 0.5)"


@pytest.mark.parametrize(("seeds", "scope"), [
    ((0, 1), "over documents and 2 seeds"),
    ((0,), "over documents only: one seed, no run-to-run spread"),
])
def test_the_verdict_plot_says_how_many_seeds_its_intervals_cover(seeds, scope):
    from roundtable.report.figures import _verdict_caption
    from roundtable.results import Results

    results = _results()
    results["runs"] = [r for r in results["runs"] if r["seed"] in seeds]
    caption = _verdict_caption(Results.from_dict(results))
    assert f"95% interval {scope}" in caption
    assert ("documents and seeds" in caption) is False


def test_the_pretrained_line_beside_a_subset_curve_is_on_the_subset():
    # the whole-text baseline (1.05) is on other bytes than the subset curves: the line drawn
    # beside them is finetune's step-0 score on the subset, where its own curve starts
    from matplotlib.figure import Figure

    from roundtable.report.curves import draw_curves
    from roundtable.results import Results

    results = _results()
    results["runs"] = [r for r in results["runs"] if r["fraction"] == 1.0 and r["seed"] == 0]
    start = next(r for r in results["runs"] if r["arm"] == "finetune")["curve"][0]["subset_bits_per_byte"]
    assert start != pytest.approx(1.05)
    ax = Figure().add_subplot()
    assert draw_curves(ax, Results.from_dict(results), {a: "C0" for a in ARMS}, "seconds", False, None)
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "pretrained model as it is"]
    assert line.get_ydata()[0] == pytest.approx(start)
    finetune = next(ln for ln in ax.get_lines() if ln.get_label().startswith("finetune"))
    assert finetune.get_ydata()[0] == pytest.approx(line.get_ydata()[0])  # the curve starts on the line


def test_each_arm_lists_its_own_settings_not_every_arms_fields():
    """The exact configuration shows an arm's recipe in brief and where it differs from
    the default arm settings: the LSTM's hidden size set in arm_settings, not LoRA's rank."""
    from dataclasses import asdict

    from roundtable.arms import arm_defaults
    from roundtable.report.page import ALWAYS_SHOWN, _own_arm_settings

    arms = [asdict(arm_defaults("finetune")), asdict(arm_defaults("scratch-lstm", lstm_hidden=64))]
    config = {"task": "lm", "seeds": 1, "arms": arms}
    own = _own_arm_settings(config)
    assert own["seeds"] == 1 and arms[0]["lora_r"] == 16  # the rest as it was; the input untouched
    assert set(own["arms"][0]) == set(ALWAYS_SHOWN)  # the fine-tune recipe is the defaults
    assert own["arms"][1] == {"name": "scratch-lstm", "learning_rate": 0.01, "weight_decay": 0.0, "batch_size": 8,
                              "block_size": None, "schedule": "constant", "warmup_fraction": 0.0, "tokenizer": "byte",
                              "lstm_hidden": 64}
    assert len(json.dumps(own)) < len(json.dumps(config)) / 2  # 6 to 9 of 24 fields per arm


def test_each_arm_shows_the_settings_the_arm_table_names_as_its_own():
    """With results.json's arm_own_settings: every own setting of the arm, default or not,
    the recipe in brief, and nothing of another arm's (the fine-tune arm has no tokenizer setting)."""
    from dataclasses import asdict

    from roundtable.arms import arm_defaults, own_settings
    from roundtable.report.page import _own_arm_settings

    names = ("finetune", "scratch-lstm")
    arms = [asdict(arm_defaults("finetune", weight_decay=0.1)), asdict(arm_defaults("scratch-lstm"))]
    own = _own_arm_settings({"arms": arms}, {a: own_settings(a) for a in names})["arms"]
    assert own[0] == {"name": "finetune", "learning_rate": 5e-5, "batch_size": 4, "block_size": None,
                      "schedule": "linear", "weight_decay": 0.1}
    assert own[1] == {"name": "scratch-lstm", "learning_rate": 0.01, "weight_decay": 0.0, "batch_size": 8,
                      "block_size": None, "schedule": "constant", "warmup_fraction": 0.0, "tokenizer": "byte",
                      "bpe_vocab_size": 4096, "lstm_embed": 128, "lstm_hidden": 128, "lstm_layers": 2, "dropout": 0.0}


def test_the_page_shows_each_arms_own_settings(tmp_path: Path):
    from dataclasses import asdict

    from roundtable.arms import arm_defaults

    results = _results("lm")
    results["config"]["arms"] = [asdict(arm_defaults(a)) for a in ARMS]
    md = (render(_write(tmp_path, results)).parent / "report.md").read_text(encoding="utf-8")
    exact = md[md.index("Exact configuration"):]
    assert '"lstm_hidden"' not in exact and '"lora_r"' not in exact and '"schedule": "constant"' in exact
    assert exact.count('"name"') == len(ARMS) and "results.json holds every setting of every arm" in exact


@pytest.mark.parametrize("task,metric,first", [("summarize", "rougeL", "ROUGE-L"), ("lm", "valid_bits_per_byte",
                                                                                     "bpb final")])
def test_the_verdicts_metric_is_the_first_score_in_the_runs_table(task, metric, first, tmp_path: Path):
    from roundtable.report.table import summary_rows
    from roundtable.results import Results

    results = _results(task)
    results["verdict"]["metric"] = metric
    rows = summary_rows(Results.from_dict(results))
    assert rows[0][:4] == ["arm", "seed", "frac", first] and rows[0].count(first) == 1
    run = results["runs"][0]
    assert rows[1][3] == f"{run['final'][metric]:.3f}" and rows[1][4] == "ok"  # the value moved with its title
    page = render(_write(tmp_path, results)).read_text(encoding="utf-8")
    assert page.index(f"<th>{first}</th>") < page.index("<th>status</th>")
