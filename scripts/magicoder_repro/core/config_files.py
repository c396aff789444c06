"""Check config files (config.yaml and `--configfile` overlays) before Snakemake reads them.

Snakemake reports a broken YAML file as "Config file is not valid JSON or YAML", naming neither the
file nor the line; this names both (`file:line:column: what is wrong`), in one line, before any job
runs. `make run` calls it on the files it passes. The Snakefile then checks the merged config against
the schema (`validate`), whose error names the key in one line.
  python -m magicoder_repro.core.config_files config.yaml overlay.yaml
"""
import os
import sys

import yaml

from magicoder_repro.core.errors import PipelineError, debugging, one_line_errors


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


def validate(config: dict, schema) -> None:
    """Snakemake's schema check, which also fills in the schema's defaults; a config it rejects raises
    PipelineError naming the key and what is wrong, not Snakemake's pages of schema and config."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    try:
        snakemake_validate(config, str(schema))
    except WorkflowError as e:
        cause = e.__context__   # Snakemake raises it while handling jsonschema's error
        if not isinstance(cause, jsonschema.ValidationError) or debugging():
            raise
        key = ".".join(map(str, cause.absolute_path)) or "(top level)"
        raise PipelineError(f"config key {key}: {cause.message} (allowed keys and types: {os.path.relpath(schema)})") from e


@one_line_errors()
def main(argv=None):
    for path in sys.argv[1:] if argv is None else argv:
        check(path)


if __name__ == "__main__":
    main()
