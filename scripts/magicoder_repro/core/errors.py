"""One error style for every stage: a problem the user can fix (bad config, a broken input line, a
wrong API key, a missing file) ends the step with one line on stderr that names the file, config key
or URL and the fix; `MAGICODER_DEBUG=1` shows the traceback instead. Anything else is a bug and keeps
its traceback. Each module's `main()` is wrapped with `@one_line_errors`; Snakemake shows the failed
step's log (profiles/default: show-failed-logs), so that line is what the user reads. The rule files'
own checks (config lookups, input functions at DAG time) raise PipelineError in Snakemake's process:
`one_line_in_snakemake` makes Snakemake report those in the same one line.
"""
import functools
import logging
import os
import re
import sys


class PipelineError(Exception):
    """A problem the user can fix; the message names the file, config key or URL, and the fix."""


# Errors from bad input that the standard library already words well (they name the path).
INPUT_ERRORS = (PipelineError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def one_line_errors(*extra: type[BaseException]):
    """Decorate a module's `main()`: INPUT_ERRORS and `extra` (that module's own user-facing error
    types) exit with status 1 and the message on one line."""
    caught = INPUT_ERRORS + extra

    def wrap(main):
        spec = main.__globals__.get("__spec__")   # the module's real name, also when run as __main__
        # "data.generate", "evaluate.score": two stages may share a module name in different packages.
        stage = (spec.name if spec else main.__module__).removeprefix("magicoder_repro.")

        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except caught as e:
                if debugging():
                    raise
                print(f"{stage}: error: {one_line(e)}", file=sys.stderr)
                sys.exit(1)
        return run

    return wrap


def debugging() -> bool:
    return bool(os.environ.get("MAGICODER_DEBUG"))


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# How Snakemake words an input function's error: it keeps only the text (`Error:\n  Class: message`).
WRAPPED = re.compile(r"^Error:\n  PipelineError: (.*?)\nWildcards:", re.DOTALL)


def pipeline_error(error: BaseException | None) -> str | None:
    """The message of the PipelineError that `error` is, was raised from, or (an input function's,
    which Snakemake re-raises as its own exception) wraps as text; None for any other error."""
    while error is not None:
        if isinstance(error, PipelineError):
            return one_line(error)
        wrapped = WRAPPED.match(str(error))
        if wrapped:
            return one_line(wrapped[1])
        error = error.__cause__ or error.__context__
    return None


class _OneLineInSnakemake(logging.Filter):
    """Snakemake logs an exception it caught as one error record (its class, file and line, a traceback),
    from inside its `except` block: when that exception comes from a PipelineError, the record becomes
    the error's one line. Every other error (a broken rule, a missing input) is left as Snakemake words it."""

    def filter(self, record):
        message = pipeline_error(sys.exc_info()[1]) if record.levelno >= logging.ERROR else None
        if message and not debugging():
            record.msg, record.args = f"error: {message}", ()
        return True


def one_line_in_snakemake() -> None:
    """Called from the Snakefile, before the rule files' checks can raise."""
    from snakemake.logging import logger as snakemake_log
    if not any(isinstance(f, _OneLineInSnakemake) for f in snakemake_log.filters):
        snakemake_log.addFilter(_OneLineInSnakemake())
