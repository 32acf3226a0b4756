"""`lora-harness report FOLDER --push-to-hub org/name`: the report and its result files as a hub data set repo.

Uploaded: results.csv, the run files (runs/*.json and manifest.json), report.html and report.md with the
per-candidate CSVs and plots they show, and grades.json. Not uploaded: logs (machine paths), scratch
folders, compile caches, earlier attempts and saved adapters (weights belong in a model repo). The report is
written before the upload, so a failed upload loses nothing; it is one line naming what to do.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError

ALLOW_PATTERNS = [
    "results.csv",
    "manifest.json",
    "runs/*.json",
    "report.html",
    "report.md",
    "candidates/*.csv",
    "plots/*.png",
    "grades.json",
]


def check_repo_id(repo_id: str) -> None:
    """Before anything is built: a hub repo id (org/name or name)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserError(
            f"--push-to-hub {repo_id!r}: not a hub repo id; give org/name (e.g. my-team/lora-study)"
        ) from None


def _why(e: Exception) -> str:
    from huggingface_hub.errors import HfHubHTTPError

    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, HfHubHTTPError) and status in (401, 403):
        return f"the hub refused the token (HTTP {status}): use a token with write access (`hf auth login`)"
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def push(folder: Path, repo_id: str) -> str:
    """Upload the folder's report files to the data set repo `repo_id` (created if missing); returns its URL."""
    import huggingface_hub

    where = f"the report is written here: {folder / 'report.html'}"
    if huggingface_hub.get_token() is None:
        raise UserError(f"--push-to-hub {repo_id}: no Hugging Face token; run `hf auth login` or set HF_TOKEN "
                        f"(a token with write access), then run the report again; {where}")  # fmt: skip
    api = huggingface_hub.HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(folder),
            allow_patterns=ALLOW_PATTERNS,
            commit_message=f"lora-harness report {folder.name}",
        )
    except Exception as e:  # network, offline mode, the hub's refusal: one line, the local report stays
        raise UserError(f"--push-to-hub {repo_id}: upload failed ({_why(e)}); {where}") from None
    return f"https://huggingface.co/datasets/{repo_id}"
