"""Hugging Face Hub models and data sets for compute nodes without internet (rules/stage_in.smk).

The stage-in rule runs `python -m magicoder_repro.core.hub` on the submit host: `snapshot_download` puts one
repository (a model, or a data set's files, optionally one `data_dir`) into the Hub cache that every
job shares (HF_HUB_CACHE) and writes a manifest of what it fetched. Compute jobs then run offline
(HF_HUB_OFFLINE=1): transformers, sentence-transformers and vLLM find Hub model ids in that cache by
themselves; `datasets` does not (offline it reads only its own processed cache), so `load_dataset`
below reads a Hub id offline from the snapshot the stage-in downloaded.
"""
import argparse
import json
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

from magicoder_repro.core.errors import one_line_errors


def data_dir_files(data_dir: str | None) -> list[str] | None:
    """What is fetched of a data set with a `data_dir` (starcoderdata keeps one per language): its files only."""
    return [f"{data_dir.rstrip('/')}/*"] if data_dir else None


def load_dataset(repo_id: str, revision: str | None = None, **kwargs):
    """datasets.load_dataset for a Hub data set; offline, from its staged snapshot (same files, same loader)."""
    import datasets
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not constants.HF_HUB_OFFLINE:
        return datasets.load_dataset(repo_id, revision=revision, **kwargs)
    try:
        path = snapshot_download(repo_id, repo_type="dataset", revision=revision, local_files_only=True,
                                 allow_patterns=data_dir_files(kwargs.get("data_dir")))
    except LocalEntryNotFoundError:
        raise FileNotFoundError(f"{repo_id}: not in the Hub cache {constants.HF_HUB_CACHE} and the Hub is off "
                                "(HF_HUB_OFFLINE=1); stage it in first (hub.stage_in: true)") from None
    return datasets.load_dataset(path, **kwargs)


def fetch(spec: dict) -> dict:
    """Download one repository into the Hub cache: {kind: model|dataset, repo, revision, data_dir}."""
    from huggingface_hub import snapshot_download

    patterns = data_dir_files(spec.get("data_dir"))
    path = Path(snapshot_download(spec["repo"], repo_type=spec["kind"], revision=spec.get("revision"),
                                  allow_patterns=patterns))
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{spec['repo']}: no files match {patterns} at revision {spec.get('revision') or 'main'}")
    return {**spec, "commit": path.name, "snapshot": str(path), "files": files}


@one_line_errors(HfHubHTTPError)  # a gated or missing repository: the Hub's message names it
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="JSON: kind (model|dataset), repo, revision, data_dir")
    p.add_argument("--manifest", required=True, help="where to write what was fetched (JSON)")
    a = p.parse_args()
    manifest = fetch(json.loads(a.spec))
    Path(a.manifest).write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{manifest['repo']}@{manifest['commit']}: {len(manifest['files'])} files in {manifest['snapshot']}")


if __name__ == "__main__":
    main()
