"""Check config files (config.yaml and `--configfile` overlays) before Snakemake reads them.

Snakemake reports a broken YAML file as "Config file is not valid JSON or YAML", naming neither the
file nor the line; this names both (`file:line:column: what is wrong`), in one line, before any job
runs. `make run` calls it on the files it passes; the schema check that follows is Snakemake's.
  python -m magicoder_repro.config_files config.yaml overlay.yaml
"""
import sys

import yaml

from .errors import PipelineError, one_line_errors


def check(path) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise PipelineError(f"{where}: not valid YAML ({e.problem or e.context})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PipelineError(f"{path}: not valid YAML ({e})") from None
    if data is not None and not isinstance(data, dict):
        raise PipelineError(f"{path}:1: a config file holds a mapping of keys, not a {type(data).__name__}")


@one_line_errors()
def main(argv=None):
    for path in sys.argv[1:] if argv is None else argv:
        check(path)


if __name__ == "__main__":
    main()
