"""Hub models: the standard Hugging Face cache, HF_HUB_OFFLINE, --revision.

No network: the "hub" is a cache folder laid out as huggingface_hub lays it out
(``models--org--name/refs`` and ``snapshots/<commit>``), holding the tiny local model.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest

from roundtable.arms.pretrained import resolve
from roundtable.cli import _settings, build_parser, compare_config
from roundtable.core.errors import UserError

REPO = "tiny-org/tiny-llama"
MAIN, TAGGED = "a" * 40, "b" * 40

LOAD = """
import json, sys
from roundtable.arms.pretrained import PretrainedCache, load_tokenizer, resolve
from roundtable.core.errors import UserError
repo, tagged = sys.argv[1:]
seen = {}
for rev in (None, "v1", tagged):
    src = resolve(repo, revision=rev)
    seen[str(rev)] = [len(load_tokenizer(src)), PretrainedCache(src).model().config.max_position_embeddings,
                      src.commit()]
try:
    load_tokenizer(resolve(repo, revision="no-such-tag"))
except UserError as e:
    seen["missing"] = str(e)
print(json.dumps(seen))
"""


def hub_cache(root, model_dir):
    """``REPO`` in a hub cache: main at one commit (the model as is), tag v1 at another
    (the same weights, max_position_embeddings 128)."""
    repo = root / ("models--" + REPO.replace("/", "--"))
    for commit, ref in ((MAIN, "main"), (TAGGED, "v1")):
        snap = repo / "snapshots" / commit
        shutil.copytree(model_dir, snap)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    config = json.loads((repo / "snapshots" / TAGGED / "config.json").read_text())
    (repo / "snapshots" / TAGGED / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 128}))
    return root


def test_hub_id_loads_from_the_standard_cache_offline_at_the_pinned_revision(tmp_path, tiny_pretrained):
    cache = hub_cache(tmp_path / "hub", tiny_pretrained)
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_CACHE": str(cache),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", LOAD, REPO, TAGGED], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["None"] == [300, 256, MAIN]  # refs/main
    assert seen["v1"] == seen[TAGGED] == [300, 128, TAGGED]  # a tag, and a commit
    assert seen["missing"].startswith(
        f"model '{REPO}' at revision 'no-such-tag' cannot be found offline (HF_HUB_OFFLINE is set): ")
    assert "\n" not in seen["missing"]


@pytest.fixture
def no_network(monkeypatch):
    """HF_HUB_OFFLINE, and a record of every connection attempted (there must be none)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    attempts = []

    def connect(sock, address):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


def test_made_up_hub_id_offline_is_one_line_exit_2_without_network(tmp_path, lm_files, run_cli, no_network):
    train, valid = lm_files
    rc, out, err = run_cli(["compare", "--task", "lm", "--data", train, "--valid", valid, "--arms", "finetune",
                            "--model", "made-up-org/made-up-model", "--out", tmp_path / "out", "--device", "cpu",
                            "--no-progress"])
    assert rc == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("roundtable: error: model 'made-up-org/made-up-model' cannot be found offline "
                          "(HF_HUB_OFFLINE is set): "), err
    assert no_network == []


def test_revision_is_a_flag_and_applies_to_hub_ids_only(tiny_pretrained):
    args = build_parser().parse_args(["compare", "--task", "lm", "--data", "x.txt", "--model", REPO,
                                      "--revision", "v1"])
    cfg = compare_config(_settings(args))
    assert (cfg.model, cfg.revision) == (REPO, "v1")
    assert cfg.to_dict()["revision"] == "v1"  # results.json holds the config
    assert resolve(REPO, revision="v1").kwargs["revision"] == "v1"
    assert "revision" not in resolve(REPO).kwargs
    assert resolve(str(tiny_pretrained)).commit() is None  # a local folder has no commit
    with pytest.raises(UserError, match=f"--revision v1 applies to hub ids only; --model {tiny_pretrained} is a local"):
        resolve(str(tiny_pretrained), revision="v1")
