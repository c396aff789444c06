"""containers/build.sh's helper (standard library only: it runs on any build host's python3).

  image_lock.py docker-manifest LAYOUT TAG   Docker's manifest.json beside an OCI layout's index, naming
                                             the same blobs (so `docker load` reads the archive too);
                                             prints the image's manifest digest.
  image_lock.py get LOCK ENV KEY             a field of ENV's line in the image lock ("" when none).
  image_lock.py put LOCK ENV JSON            ENV's line set to the JSON mapping; the other lines kept.

The lock has one line per image, `env: {json mapping}` (JSON is YAML), so it diffs line by line and the
rules read it with yaml.safe_load.
"""
import json
import sys
from pathlib import Path

HEADER = ("# The pipeline's images, written by containers/build.sh (do not edit); the rules read it (rules/common.smk).\n"
          "# digest: the OCI manifest's; id: the config's (the image id in Docker and podman); archive: relative to this file.\n")


def docker_manifest(layout: str, tag: str) -> str:
    root = Path(layout)
    digest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((root / "blobs/sha256" / digest.split(":")[1]).read_text())

    def blob(descriptor):
        return "blobs/sha256/" + descriptor["digest"].split(":")[1]

    docker = [{"Config": blob(manifest["config"]), "RepoTags": [tag], "Layers": [blob(d) for d in manifest["layers"]]}]
    (root / "manifest.json").write_text(json.dumps(docker))
    return digest


def read(lock: Path) -> dict:
    lines = lock.read_text().splitlines() if lock.exists() else []
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def main(command, *args):
    if command == "docker-manifest":
        print(docker_manifest(*args))
    elif command == "get":
        lock, env, key = args
        entry = read(Path(lock)).get(env)
        value = json.loads(entry).get(key) if entry else None
        print("" if value is None else value)
    elif command == "put":
        lock, env = Path(args[0]), args[1]
        entry = {key: value or None for key, value in json.loads(args[2]).items()}  # "": none
        lines = {**read(lock), env: json.dumps(entry)}
        lock.write_text(HEADER + "".join(f"{name}: {lines[name]}\n" for name in sorted(lines)))
    else:
        sys.exit(f"image_lock.py: unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
