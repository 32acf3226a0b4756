"""A data set on the Hugging Face hub (`DATA=org/name[:split]`), fetched the way the weights are: the HF cache
first, else a download through huggingface_hub (progress bars, resumable); cache only under HF_HUB_OFFLINE=1.

The result is the repository's snapshot folder and its commit sha: the sha is pinned in the run request
(`data.revision`), so every run of a sweep, and a resumed sweep, loads the same files, and the run key
changes when the data set does. Reading the rows (datasets.load_dataset) and their format are `hub_rows`'.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError

# What a data set repository holds that load_dataset reads (its card names the splits and files).
DATA_PATTERNS = ["*.parquet", "*.json", "*.jsonl", "*.csv", "*.tsv", "*.txt", "*.arrow", "README.md", "*.json.gz",
                 "*.jsonl.gz", "*.csv.gz"]  # fmt: skip


def dataset_page(repo: str) -> str:
    from harness.weights.hub import hub_endpoint

    return f"{hub_endpoint()}/datasets/{repo}"


def fetch_dataset(repo: str, revision: str | None, label: str) -> tuple[Path, str]:
    """(snapshot folder, commit sha) of a hub data set; a one-line UserError when it cannot be had."""
    from huggingface_hub import snapshot_download

    from harness.weights.hf_cache import hub_cache_dir, hub_offline
    from harness.weights.hub import hub_endpoint, hub_reachable

    cache = hub_cache_dir()
    try:
        folder = Path(
            snapshot_download(repo, repo_type="dataset", revision=revision, local_files_only=True, cache_dir=cache)
        )
        return folder, folder.name
    except Exception:  # not in the cache (LocalEntryNotFoundError, or a revision it has never seen)
        pass
    at = f" at revision {revision}" if revision else ""
    local = "no local file of that name, and "
    if hub_offline():
        raise UserError(
            f"{label}: {local}data set {repo}{at} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 "
            f"is set; unset it to download, or give a local data file"
        )
    if not hub_reachable():
        raise UserError(
            f"{label}: {local}data set {repo}{at} is not in the Hugging Face cache and the hub ({hub_endpoint()}) "
            f"cannot be reached; check the network or proxy (HTTPS_PROXY), or give a local data file"
        )
    print(f"{label}: downloading data set {repo} into the Hugging Face cache ({cache})", flush=True)
    try:
        folder = Path(
            snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=DATA_PATTERNS,
                              cache_dir=cache)
        )  # fmt: skip
    except Exception as e:
        raise UserError(_problem(label, repo, revision, e)) from None
    return folder, folder.name


def _problem(label: str, repo: str, revision: str | None, e: BaseException) -> str:
    from huggingface_hub import get_token
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    page = dataset_page(repo)
    if isinstance(e, GatedRepoError):
        how = "log in with `hf auth login` (or set HF_TOKEN)" if get_token() is None else "use a token with access"
        return f"{label}: data set {repo} is gated: accept its terms at {page}, {how}, and run again"
    if isinstance(e, RevisionNotFoundError):
        return f"{label}: data set {repo} has no revision '{revision}' ({page}); give a branch, tag or commit it has"
    if isinstance(e, RepositoryNotFoundError):
        return (f"{label}: no local file of that name and no data set '{repo}' on the hub ({page}); check the path "
                f"or the id; if it is private, log in with `hf auth login` (or set HF_TOKEN)")  # fmt: skip
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return f"{label}: fetching data set {repo} stopped ({type(e).__name__}: {first}); run again (downloads resume)"
