"""One error style for every stage: a problem the user can fix (bad config, a broken input line, a
wrong API key, a missing file) ends the step with one line on stderr that names the file, config key
or URL and the fix; `MAGICODER_DEBUG=1` shows the traceback instead. Anything else is a bug and keeps
its traceback. Each module's `main()` is wrapped with `@one_line_errors`; Snakemake shows the failed
step's log (profiles/default: show-failed-logs), so that line is what the user reads.
"""
import functools
import os
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
        stage = (spec.name if spec else main.__module__).rsplit(".", 1)[-1]

        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except caught as e:
                if os.environ.get("MAGICODER_DEBUG"):
                    raise
                message = " ".join(str(e).split()) or type(e).__name__
                print(f"{stage}: error: {message}", file=sys.stderr)
                sys.exit(1)
        return run

    return wrap
