"""`make local-stack`: a local stack kept up for a person at a shell, and what they paste into another shell to use it.

The export block is the one place that names the variables a shell needs: boto3's endpoint, region
and keys (LocalStack.client_environment) and the stack variables the hashmatch commands read
(stack_outputs.STACK_VARIABLES, the same list the commands take their defaults from).
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import TextIO

from hashmatch_tools.local.runner import local_pipeline
from hashmatch_tools.local.stack import LocalStack
from hashmatch_tools.stack_outputs import export_lines

EXPORTS_BEGIN = "# ---- paste into another shell: the local stack for boto3 and the hashmatch commands ----"
EXPORTS_END = "# ---- end of the exports ----"


def shell_exports(stack: LocalStack) -> list[str]:
    """`export NAME=value` lines that point a shell, and the hashmatch commands run in it, at the stack.

    boto3's endpoint, keys (the operator's) and region first, then every stack variable the commands
    read (stack_outputs.STACK_VARIABLES) with the value of the stack output it names.
    """
    return [f"export {name}={shlex.quote(value)}" for name, value in stack.client_environment.items()] + export_lines(stack.outputs())


def print_shell_setup(stack: LocalStack, out: TextIO | None = None) -> None:
    """What `make local-stack` prints: the export block between its markers, then (as shell comments) what to run, the outputs and the identities.

    Every line that is not an export is a comment, so the whole text can be pasted into a shell too.
    """
    restorer = stack.identity("restorer")
    reviewer = next((identity for identity in stack.identities if identity.name == "reviewer"), None)
    review = [f"#   {' '.join(f'{name}={shlex.quote(value)}' for name, value in reviewer.environment.items())} hashmatch review   (the review desk, as a reviewer)"] if reviewer else []
    lines = [
        f"# local stack up at {stack.endpoint_url}, its pollers running; Ctrl-C stops it.",
        EXPORTS_BEGIN,
        *shell_exports(stack),
        EXPORTS_END,
        "# then, with the venv's hashmatch (.venv/bin/hashmatch, or after source .venv/bin/activate):",
        "#   hashmatch admin hashset stats",
        "#   hashmatch hash --lookup-request PICTURE | hashmatch check --hashes -",
        f"#   AWS_ACCESS_KEY_ID={restorer.access_key} AWS_SECRET_ACCESS_KEY={restorer.secret_key} hashmatch admin restore UPLOAD_ID --reason REASON   (as the restore role)",
        *review,
        "# stack outputs:",
        *(f"#   {name}: {value}" for name, value in stack.outputs().items()),
        "# identities the function URLs accept (sign with these keys; the exported ones are the operator's):",
        *(f"#   {identity.name}: {' '.join(f'{name}={shlex.quote(value)}' for name, value in identity.environment.items())}  ({identity.arn})" for identity in stack.identities),
    ]
    print("\n".join(lines), file=out or sys.stdout, flush=True)


def main() -> int:
    """Run the local stack with background pollers until interrupted, after printing how to reach it."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on SIGTERM too
    with local_pipeline() as (stack, runner):
        print_shell_setup(stack)
        runner.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
