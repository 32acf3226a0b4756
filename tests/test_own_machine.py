"""`make bench MODEL=...` on a team's own machine: any model (name, hub id, folder), the Hugging Face cache and
hub, preflight in the parent, data from the command line, exit codes, shipped files found wherever it runs.

There is no hub here: hub ids are served from a Hugging Face cache laid out by the tests in a temporary
HF_HOME (what `hf download` leaves behind), or fail offline; the hub's own errors are raised by a stand-in
for `snapshot_download`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness import cli, data, model_spec, preflight, weights
from harness.config import REPO_ROOT, load_candidates
from harness.data import tokens
from tests.tiny import ALL7, TINY, tiny_candidate, tiny_request

CHAT = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"


def put_in_hf_cache(hf_home: Path, repo_id: str, src: Path, commit: str = "a" * 40) -> Path:
    """The layout `hf download` leaves in $HF_HOME/hub (plain files instead of blob links)."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, snap / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snap


def tiny_tokenizer(folder: Path, chat: bool = True) -> Any:
    """A small byte-level BPE (vocab 300) saved as a transformers tokenizer, with a chat template."""
    from transformers import AutoTokenizer

    texts = [e.question + " " + (e.answer or "") for e in data.load_examples(REPO_ROOT / "data" / "sample_qa.csv")]
    src, _ = weights.trained_tokenizer(texts, "own-machine-test", 300)
    tok = AutoTokenizer.from_pretrained(str(src))
    if chat:
        tok.chat_template = CHAT
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(folder)
    return tok


def tiny_model_folder(folder: Path, weights_too: bool = True) -> Path:
    """A tiny llama (config from tests/tiny.py) with its tokenizer: what save_pretrained writes."""
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = tiny_tokenizer(folder)
    config = AutoConfig.for_model("llama", **TINY["llama"]["config"])
    config.bos_token_id, config.eos_token_id, config.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    if weights_too:
        AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    else:
        config.save_pretrained(folder)
    return folder


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(weights.HUB_ACCESS_ENV, raising=False)
    return home


def _harness(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    full = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200", **(env or {})}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full, capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- a hub id that cannot be had


@pytest.mark.parametrize("mode", ["real", "shape"])
def test_offline_hub_id_with_an_empty_cache_is_one_line_exit_2_and_nothing_runs(tmp_path: Path, mode: str) -> None:
    env = {"HF_HOME": str(tmp_path / "empty-hf"), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp_path / "hc")}
    out, wall = _harness(["bench", "--model", "some-org/some-model", "--weights", mode], tmp_path, env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model 'some-org/some-model'"), out.stderr
    assert "HF_HUB_OFFLINE=1" in lines[0] and "hf download some-org/some-model" in lines[0]
    assert "config.json" in lines[0] if mode == "shape" else "the weights" in lines[0]
    assert wall < 10, f"{wall:.1f} s"
    assert not (tmp_path / "results").exists()  # no results folder, so no child (children start in it)
    assert "HARNESS_PHASE" not in out.stdout and "Traceback" not in out.stderr


def test_two_missing_models_print_one_line_each(tmp_path: Path, hf_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lst = tmp_path / "mine.yaml"
    lst.write_text("candidates:\n  - org-a/model-a\n  - org-b/model-b\n", encoding="utf-8")
    assert cli.main(["bench", "--candidates", str(lst), "--results-root", str(tmp_path / "res")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "org-a/model-a" in lines[0] and "org-b/model-b" in lines[1]


def _response(status: int) -> Any:
    import httpx

    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/api/models/x"))


def _hub_raising(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The hub answers every download with `error`; the cache is empty."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def snapshot_download(repo_id: str, **kw: Any) -> str:
        if kw.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(weights.hub, "hub_reachable", lambda: True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.mark.parametrize("token", [None, "hf_x"])
def test_gated_model_names_the_login_and_the_model_page(monkeypatch: pytest.MonkeyPatch, hf_home: Path,
                                                        token: str | None) -> None:  # fmt: skip
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    _hub_raising(monkeypatch, GatedRepoError("403 gated", response=_response(403)))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: token)
    got = weights.fetch_model("meta-llama/Llama-3.2-1B", "candidate 'llama1B'")
    assert got.path is None and got.problem is not None and "\n" not in got.problem
    assert "https://huggingface.co/meta-llama/Llama-3.2-1B" in got.problem
    if token is None:
        assert "hf auth login" in got.problem and "HF_TOKEN" in got.problem
    else:
        assert "accept its licence" in got.problem and "token" in got.problem


def test_unknown_hub_id_says_so(monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    _hub_raising(monkeypatch, RepositoryNotFoundError("404", response=_response(404)))
    got = weights.fetch_shape_files("nobody/nothing", "model 'nobody/nothing'", need_config=True)
    assert got.path is None and "no model 'nobody/nothing' on the hub" in (got.problem or "")


def test_unreachable_hub_is_not_retried_for_each_file(monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights.hub, "hub_reachable", lambda: False)
    t0 = time.perf_counter()
    got = weights.fetch_model("org/absent", "model 'org/absent'")
    assert time.perf_counter() - t0 < 5
    assert got.path is None and got.access == "unreachable" and "cannot be reached" in (got.problem or "")


# ---------------------------------------------------------------- the cache first, downloads when online


def test_download_when_online_then_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf_home: Path) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    src = tiny_model_folder(tmp_path / "src")
    calls: list[dict[str, Any]] = []

    def snapshot_download(repo_id: str, **kw: Any) -> str:
        calls.append(kw)
        repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
        if kw.get("local_files_only"):
            if not repo.exists():
                raise LocalEntryNotFoundError("not cached")
            return str(repo / "snapshots" / ("a" * 40))
        return str(put_in_hf_cache(hf_home, repo_id, src))  # what the download leaves in the cache

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(weights.hub, "hub_reachable", lambda: True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    got = weights.fetch_model("org/tiny", "model 'org/tiny'")
    assert got.access == "downloaded" and got.path is not None and weights.has_weights(got.path)
    online = [c for c in calls if not c.get("local_files_only")]
    assert len(online) == 1 and "*.safetensors" in online[0]["allow_patterns"]
    assert online[0]["cache_dir"] == hf_home / "hub"
    again = weights.fetch_model("org/tiny", "model 'org/tiny'")
    assert again.access == "cache" and len([c for c in calls if not c.get("local_files_only")]) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.fetch_model("org/tiny", "model 'org/tiny'").access == "offline"


def test_a_config_only_snapshot_is_not_weights(tmp_path: Path, hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shape mode leaves config and tokenizer in the cache; a later real run must not take them for weights."""
    put_in_hf_cache(hf_home, "org/partial", tiny_model_folder(tmp_path / "src", weights_too=False))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    got = weights.fetch_model("org/partial", "model 'org/partial'")
    assert got.path is None and "not in the Hugging Face cache" in (got.problem or "")
    shape = weights.fetch_shape_files("org/partial", "model 'org/partial'", need_config=True)
    assert shape.path is not None and shape.access == "offline"


def test_the_child_does_not_force_offline() -> None:
    from harness.sweep.child import child_env

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    os.environ.pop("HF_HUB_OFFLINE", None)
    try:
        assert "HF_HUB_OFFLINE" not in child_env(None)
    finally:
        os.environ.clear()
        os.environ.update(env)


# ---------------------------------------------------------------- shape mode: the real tokenizer, else a stand-in


def test_shape_mode_uses_the_real_tokenizer_from_the_cache(tmp_path: Path, hf_home: Path, shape_cache: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    cand = tiny_candidate("llama", name="tiny-real-tok", hub_id="org/tiny-real-tok")
    tok = tiny_tokenizer(tmp_path / "tok")
    put_in_hf_cache(hf_home, cand.hub_id, tmp_path / "tok")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    req = tiny_request("llama", candidate=cand, weights="shape")
    warnings = preflight.check_weights([req])
    assert warnings == []  # a real tokenizer was found: nothing to warn about
    w = weights.resolve(req, "cpu", ["가나다"], "d" * 64)
    assert (
        w.tokenizer_kind == "real"
        and w.hub_access == "offline"
        and "real tokenizer of org/tiny-real-tok" in w.tokenizer_desc
    )
    rows = [
        {"prompt": "### 질문: 안녕", "completion": " 반가워"},
        {"prompt": "### 질문: 뭐 해?", "completion": " 공부해"},
    ]
    mean, mx = tokens.token_stats(tok, rows)
    lengths = [len(tok(r["prompt"] + r["completion"])["input_ids"]) for r in rows]
    assert (mean, mx) == (sum(lengths) / 2, max(lengths)) and mx > 2


def test_shape_mode_without_a_tokenizer_warns_and_uses_the_stand_in(hf_home: Path, shape_cache: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cand = tiny_candidate("llama", name="tiny-no-tok", hub_id="org/tiny-no-tok")
    req = tiny_request("llama", candidate=cand, weights="shape")
    warnings = preflight.check_weights([req])
    assert len(warnings) == 1 and "stand-in" in warnings[0] and "tiny-no-tok" in warnings[0]
    texts = [e.question + " " + (e.answer or "") for e in data.load_examples(REPO_ROOT / "data" / "sample_qa.csv")]
    w = weights.resolve(req, "cpu", texts, "e" * 64)
    assert w.tokenizer_kind == "stand-in" and w.tokenizer_desc.startswith("stand-in: byte-level BPE")
    assert "warning: tiny-no-tok" in capsys.readouterr().out


def test_preflight_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from harness import cli\n"
        "from harness import preflight\n"
        "from harness.config import load_candidates, build_request\n"
        "c = load_candidates().get('llama1B')\n"
        "r = build_request(c, {'weights': 'shape'})\n"
        "w = preflight.check_weights([r])\n"
        "try:\n"
        "    cli._preflight(cli.load_sweep_spec(cli.STUDY_SPEC), 's', None)\n"
        "except Exception as e:\n"
        "    pass\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, 'w': w}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch"] is False and got["transformers"] is False, out.stderr
    assert len(got["w"]) == 1 and "stand-in" in got["w"][0]


# ---------------------------------------------------------------- --model: name, hub id or folder


def test_model_names_and_hub_ids_of_known_candidates_are_those_candidates() -> None:
    cands = load_candidates()
    assert model_spec.resolve_model("llama1B", cands, "shape").candidate.name == "llama1B"
    got = model_spec.resolve_model(cands.get("gemma-2-2b-it").hub_id, cands, "shape")
    assert got.candidate.name == "gemma-2-2b-it" and not got.ad_hoc


@pytest.mark.slow
def test_a_model_folder_becomes_a_candidate_with_all_linear_targets_and_its_chat_template(
    tmp_path: Path, shape_cache: Path
) -> None:
    folder = tiny_model_folder(tmp_path / "my-finetune")
    got = model_spec.resolve_model(str(folder), load_candidates(), "real")
    c = got.candidate
    assert got.ad_hoc and c.name == "my-finetune" and c.hub_id == str(folder.resolve())
    assert c.lora_target_modules == sorted(ALL7)
    assert c.prompt_template == "<|user|>{question}\n<|assistant|>"  # the model's chat template, recorded
    from transformers import AutoConfig, AutoModelForCausalLM

    n = sum(p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)).parameters())
    assert round(c.params_b * 1e9) == n
    assert c.model_type == "llama" and c.shape_config["hidden_size"] == 32


@pytest.mark.slow
def test_a_hub_id_in_shape_mode_is_built_from_its_config_and_tokenizer(tmp_path: Path, hf_home: Path,
                                                                       shape_cache: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    src = tiny_model_folder(tmp_path / "src", weights_too=False)
    (src / "tokenizer_config.json").write_text(  # no chat template: the team's template
        json.dumps({k: v for k, v in json.loads((src / "tokenizer_config.json").read_text()).items()
                    if k != "chat_template"}))  # fmt: skip
    for f in src.glob("chat_template*"):
        f.unlink()
    put_in_hf_cache(hf_home, "org/Tiny-Chat-0.1B", src)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    got = model_spec.resolve_model("org/Tiny-Chat-0.1B", load_candidates(), "shape")
    c = got.candidate
    assert c.name == "Tiny-Chat-0.1B" and c.hub_id == "org/Tiny-Chat-0.1B" and got.access == "offline"
    assert c.prompt_template == "### 질문: {question} ### 답변:"
    assert c.lora_target_modules == sorted(ALL7)


# ---------------------------------------------------------------- command line: weights path, data, rows


def test_weights_path_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bench", "--model", "llama1B", "--weights-path", "/nonexistent", "--results-root", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --weights-path /nonexistent: no such folder") and "\n" not in err
    code = cli.main(["bench", "--spec", "benchmarks/seed-study.yaml", "--weights-path", str(tmp_path)])
    assert code == 2 and "give it with --model" in capsys.readouterr().err


def test_weights_path_applies_to_its_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    seen: dict[str, Any] = {}

    def fake_sweep(spec: Any, source: str, args: Any) -> int:
        seen["spec"] = spec
        return 0

    monkeypatch.setattr(cli.runs, "_sweep", fake_sweep)
    assert cli.main(["bench", "--model", "llama1B", "--weights-path", str(folder)]) == 0
    spec = seen["spec"]
    assert spec.axes.candidates == ["llama1B"] and spec.base["weights_path"] == str(folder.resolve())


def test_relative_data_path_and_train_rows_from_the_current_directory(tmp_path: Path, hf_home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    csv = tmp_path / "mine" / "qa.csv"
    csv.parent.mkdir()
    shutil.copyfile(REPO_ROOT / "data" / "sample_qa.csv", csv)
    monkeypatch.chdir(tmp_path)
    spec = cli._apply(cli.load_sweep_spec(cli.STUDY_SPEC), cli.build_parser().parse_args(
        ["bench", "--model", "llama1B", "--data", "mine/qa.csv", "--train-rows", "7", "--prompts", "3"]),
        "command line", axes={"candidates": ["llama1B"]}, weights="shape")  # fmt: skip
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests = cli._preflight(spec, "command line", cli.build_parser().parse_args(["bench"]))
    r = requests[0]
    assert r.data.path == str(csv.resolve())  # absolute: the child starts in a scratch folder
    assert (r.data.train_rows, r.data.eval_rows) == (7, 3)
    assert data.stored_data_path("data/sample_qa.csv") == "data/sample_qa.csv"  # the project's sample: as shipped


def test_too_many_rows_names_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bench", "--model", "llama1B", "--train-rows", "60", "--prompts", "25", "--results-root",
                     str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "lower --train-rows or --prompts" in err and not any(tmp_path.iterdir())


def test_no_shipped_spec_names_the_shared_folder_and_each_starts_with_its_command() -> None:
    for spec in (REPO_ROOT / "benchmarks").glob("*.yaml"):
        text = spec.read_text(encoding="utf-8")
        assert "../shared" not in text, spec.name
        if spec.name != "gpu-prices.yaml":
            first = text.splitlines()[0]
            assert first.startswith("# make bench") and (spec.name == "cpu-default.yaml" or spec.name in first)
            raw = cli.load_sweep_spec(spec)
            path = data.resolve_data_path(raw.base.get("data", {}).get("path", "data/sample_qa.csv"))
            assert path.is_file() and REPO_ROOT in path.parents  # the project's own sample data


# ---------------------------------------------------------------- exit codes


@pytest.mark.slow
def test_exit_code_is_1_when_a_run_is_not_ok_and_results_are_still_written(tmp_path: Path) -> None:
    env = {"HARNESS_TEST_HOOKS": "1", "HARNESS_FAULTS": "fake:0.2,r32 ~oom@step:1", "HF_HUB_OFFLINE": "1"}
    args = ["bench", "--ranks", "16", "32", "--max-steps", "2", "--prompts", "2", "--results-root", str(tmp_path / "r")]
    out, _ = _harness(args, tmp_path, env, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    folder = tmp_path / "r" / "cpu-default"
    assert len(list((folder / "runs").glob("*.json"))) >= 2 and (folder / "report.html").is_file()
    env["HARNESS_FAULTS"] = "fake:0.2"
    out, _ = _harness([*args[:-1], str(tmp_path / "r2")], tmp_path, env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


# ---------------------------------------------------------------- the project's files, wherever it runs


def test_project_files_come_from_the_source_tree_here() -> None:
    from harness import project

    assert project.source_root() == REPO_ROOT == project.project_root()
    assert Path("results") == cli.RESULTS_ROOT  # under the current directory


def test_version_and_console_script_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("lora-harness ")
    text = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'lora-harness = "harness.cli:main"' in text and '\nharness = "harness.cli:main"' not in text


def test_readme_keeps_the_two_commands_first_and_has_the_own_machine_section() -> None:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "make bench" in first_block and "make test" in first_block
    section = text.split("## On your own machine", 1)[1].split("\n## ", 1)[0]
    for needed in ("HF_TOKEN", "hf auth login", "DATA=", "HF_HUB_OFFLINE", "pip install", "lora-harness"):
        assert needed in section, needed


# ---------------------------------------------------------------- end to end (slow)


@pytest.mark.slow
def test_the_smollm2_folder_as_model_path_trains_and_reports(tmp_path: Path) -> None:
    cand = load_candidates().get("smollm2-135m")
    folder, _ = weights.convert_gguf(cand)  # the folder the cache holds (converted once)
    out, wall = _harness(["bench", "--model", str(folder), "--ranks", "8", "--max-steps", "2", "--prompts", "2",
                          "--max-new-tokens", "8", "--results-root", str(tmp_path / "res")], tmp_path,
                         {"HF_HOME": str(tmp_path / "hf")})  # fmt: skip
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    sweep = next((tmp_path / "res").iterdir())
    (run,) = [json.loads(p.read_text()) for p in (sweep / "runs").glob("*.json")]
    assert run["status"] == "ok"
    cand_rec = run["request"]["candidate"]
    assert cand_rec["hub_id"] == str(folder) and cand_rec["lora_target_modules"] == sorted(ALL7)
    assert "<|im_start|>user\n{question}<|im_end|>" in cand_rec["prompt_template"]  # its chat template
    assert run["weights"]["source"] == f"local:{folder}"
    assert (sweep / "report.html").is_file()
    print(f"smollm2 folder, 2 steps: {wall:.1f} s")


def _clean_copy(dest: Path) -> Path:
    """What `git clone` of this working tree gives (tracked and new files, nothing git ignores), with no
    ../shared beside it."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.mark.slow
def test_clean_clone_without_shared_runs_llama1b_shape_on_the_sample_data(tmp_path: Path) -> None:
    clone = _clean_copy(tmp_path / "box" / "lora-harness")
    assert not (clone.parent / "shared").exists()
    env = {"PYTHONPATH": str(clone), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HARNESS_CACHE": str(tmp_path / "cache")}  # fmt: skip
    # the done-when command, with 8 new tokens instead of the study's forced 80: on 2 CPU cores those take
    # ~7 of its ~9 minutes (one-at-a-time answers of a 1.2 B model in fp32)
    out, wall = _harness(["bench", "--model", "llama1B", "--weights", "shape", "--max-steps", "2", "--prompts", "2",
                          "--ranks", "16", "--max-new-tokens", "8"], clone, env, timeout=900)  # fmt: skip
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "warning: candidate 'llama1B': no real tokenizer reachable" in out.stderr  # no hub here: said so
    (run,) = [json.loads(p.read_text()) for p in (clone / "results" / "bench-llama1B-shape" / "runs").glob("*.json")]
    assert run["status"] == "ok" and run["request"]["data"]["path"] == "data/sample_qa.csv"
    assert run["weights"]["tokenizer_kind"] in (None, "stand-in")  # filled by the run once it records it
    print(f"llama1B shape, 2 steps: {wall:.1f} s")


def test_bad_sampler_period_stops_before_the_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """$HARNESS_SAMPLER_MS is checked in the preflight: one line, exit 2, no results folder (not a failed run each)."""
    monkeypatch.setenv("HARNESS_SAMPLER_MS", "500")
    code = cli.main(["bench", "--model", "llama1B", "--weights", "shape", "--results-root", str(tmp_path / "res")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: HARNESS_SAMPLER_MS=500: give the sampler's period") and "\n" not in err
    assert not (tmp_path / "res").exists()
