"""What every `hashmatch` command promises its caller: exit statuses, one error line per problem, whole outputs, walked folders.

- Exit status 0 when everything ran, 2 for bad input (a file missing, unreadable, empty or not
  what it should be; an option out of range; a stack resource or AWS setting not given), 1 when
  a stack refused or could not be reached where a command says so (`check`, `admin restore`, `review`).
- Each problem is one line on stderr, `hashmatch: error: <what>: <reason>`, never a traceback:
  a command raises BadInput (or lets an OSError or a botocore error through) and `run` prints
  the line. Problems a command can go on after (one bad file among many) are counted by Problems.
- A file a command writes appears whole or not at all (WholeFile: a temporary file beside it,
  renamed on success), so a failure never leaves an empty or partial output behind.
- Folders given where files are expected are walked: their files in sorted order, hidden files
  and folders (names starting with ".") skipped.
- Progress goes to stderr, only when it is a terminal (or with --progress), so it is never in
  what a script reads from stdout.
- A stack resource an option names (--table, buckets, URLs) defaults to its environment variable
  (hashmatch_tools.stack_outputs); one missing is an error naming both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TextIO

from hashmatch_tools.stack_outputs import STACK_VARIABLES, from_environment

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130


class BadInput(Exception):
    """Stop the command: one `hashmatch: error: WHAT: REASON` line, exit status 2."""

    def __init__(self, what: str, reason: str):
        super().__init__(f"{what}: {reason}")
        self.what, self.reason = what, reason


def report(what: str, reason: str) -> None:
    print(f"hashmatch: error: {what}: {reason}", file=sys.stderr, flush=True)


def note(text: str) -> None:
    """A consequence worth knowing that is not a problem of its own (what was not written, what was left as it was)."""
    print(f"hashmatch: note: {text}", file=sys.stderr, flush=True)


def reason_of(error: BaseException) -> str:
    """An exception as one short reason: an OSError's strerror, else the first line of its text, else its type."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Problems:
    """Bad inputs a command goes on after, each reported as it is met; the exit status follows them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, where: str, reason: str) -> None:
        self.count += 1
        report(where, reason)

    @property
    def status(self) -> int:
        return EXIT_BAD_INPUT if self.count else EXIT_OK


class CommandParser(argparse.ArgumentParser):
    """argparse, with a usage error as one `hashmatch: error:` line (exit 2) instead of the usage block."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"hashmatch: error: {message} (see `{self.prog} --help`)\n")


def run(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Parse and run a command (its `run` default) under the contract: always an exit status, never a traceback for bad input."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already reported
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    return guarded(args.run, args)


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return command(args)
    except BadInput as bad:
        report(bad.what, bad.reason)
    except KeyboardInterrupt:
        print("hashmatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader (head, less) went away: not a failure
        return EXIT_OK
    except OSError as error:
        report(str(error.filename) if error.filename else "hashmatch", reason_of(error))
    except Exception as error:
        problem = aws_problem(error)
        if problem is None:
            raise  # a bug, not bad input: its traceback is what a report needs
        report(*problem)
    return EXIT_BAD_INPUT


# ------------------------------------------------------------------ AWS


def aws_problem(error: BaseException) -> tuple[str, str] | None:
    """A botocore/boto3 error as (what, reason), or None for any other exception; botocore is not imported for it."""
    module = type(error).__module__ or ""
    if not module.startswith(("botocore", "boto3")):
        return None
    name = type(error).__name__
    if name == "NoRegionError":
        return "AWS region", "none set: give --region or set AWS_REGION (or a region in the AWS config)"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "AWS credentials", f"{reason_of(error)}: the default chain (environment, ~/.aws, a role) found none to sign with"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        endpoint = getattr(error, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return str(endpoint), f"cannot connect ({reason_of(error)}); check --endpoint-url, the network, or that the stack is up"
    if name == "ClientError":
        answer = getattr(error, "response", {}).get("Error", {})
        operation = getattr(error, "operation_name", "a request")
        return f"AWS {operation}", f"{answer.get('Code', 'error')}: {answer.get('Message', '') or reason_of(error)}"
    return f"AWS ({name})", reason_of(error)


def stack_option(parser: argparse.ArgumentParser, flag: str, variable: str, help: str) -> None:
    """An option naming a stack resource, defaulting to its environment variable (an empty value counts as not given)."""
    output = STACK_VARIABLES[variable]
    parser.add_argument(flag, default=from_environment(variable), help=f"{help} (default ${variable}, the stack output {output})")


def needed(value: str | None, command: str, flag: str, variable: str) -> str:
    """The option's value; BadInput naming the flag and the variable when neither gave one."""
    if not value:
        raise BadInput(command, f"needs {flag} or {variable} (the stack output {STACK_VARIABLES[variable]}; `make local-stack` prints the export lines)")
    return value


# ------------------------------------------------------------------ files


def walk(paths: Iterable[str], problems: Callable[[str, str], None]) -> Iterator[str]:
    """The paths as given, with each folder replaced by the files in it and below: sorted by path, hidden files and folders skipped.

    A path that is not a folder is yielded as it is (a missing file is its reader's to report);
    a folder without a file, or one that cannot be listed, is reported to `problems`.
    """
    for given in paths:
        if not os.path.isdir(given):
            yield given
            continue
        found: list[str] = []
        failed: list[OSError] = []
        for folder, folders, files in os.walk(given, onerror=failed.append):
            folders[:] = [name for name in folders if not name.startswith(".")]
            found.extend(os.path.join(folder, name) for name in files if not name.startswith("."))
        for error in failed:
            problems(str(error.filename or given), f"cannot list: {reason_of(error)}")
        if not found and not failed:
            problems(given, "a folder without files (hidden files are skipped)")
        # By path components: a/x before a-b/x before b.
        yield from sorted(found, key=lambda path: Path(path).parts)


class WholeFile:
    """An output file written whole or not at all: to a temporary file beside it, renamed over it on success.

    Created before the work, so that a path that cannot be written (a folder, a missing folder)
    is refused at once rather than after minutes of hashing.
    """

    def __init__(self, path: str | os.PathLike, option: str = "--output"):
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInput(str(path), f"is a folder: {option} names the file to write")
        folder = self.path.parent
        if not folder.is_dir():
            raise BadInput(str(path), f"its folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise BadInput(str(path), f"cannot write in its folder {folder}")

    def write_bytes(self, data: bytes) -> None:
        self.write_lines([data], binary=True)

    def write_lines(self, lines: Iterable[str | bytes], binary: bool = False) -> None:
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        try:
            os.chmod(temporary, 0o666 & ~_umask())  # as open() would have made it (mkstemp's is 0600)
            with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as out:
                for line in lines:
                    out.write(line)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ progress


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", dest="progress", action="store_true", default=None, help="show progress on stderr (default: when stderr is a terminal)")
    shown.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")


class Progress:
    """Progress lines on stderr: shown on a terminal (or with --progress), never mixed into stdout."""

    def __init__(self, stream: TextIO, enabled: bool | None):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._last = time.monotonic()

    def step(self, position: int, total: int, path: str, what: str) -> float:
        if self.enabled:
            print(f"[{position}/{total}] {what} {path} ...", file=self.stream, flush=True)
        self._last = time.monotonic()
        return self._last

    def line(self, text: str) -> float:
        """One line about a step that is not a file (reading a snapshot, matching hashes)."""
        if self.enabled:
            print(text, file=self.stream, flush=True)
        self._last = time.monotonic()
        return self._last

    def fraction(self, done: float) -> None:
        """Within one long video: a percentage line at most every 2 seconds."""
        now = time.monotonic()
        if self.enabled and now - self._last >= 2.0:
            print(f"      {100 * done:.0f} %", file=self.stream, flush=True)
            self._last = now

    def done(self, started: float, hashes) -> None:
        if self.enabled:
            took = time.monotonic() - started
            print(f"      {hashes.kind}, {hashes.duration:.1f} s, {len(hashes.frames)} frames hashed in {took:.2f} s", file=self.stream, flush=True)
