"""`hashmatch review`: the desk served on 127.0.0.1 only, as the reviewer whose AWS credentials boto3's default chain finds.

    hashmatch review [--port 8711] [--endpoint-url URL] [--region R] [--review-queue-url URL] [--review-table T] ...

No internet-facing endpoint ever serves the material: the desk binds to the loopback interface
and refuses any other --host, and answers only requests addressed to that loopback address.
The stack's names default to the HASHMATCH_* variables (`make local-stack` and the stack outputs).
Bad input (another --host, a stack name missing) is one `hashmatch: error:` line and exit 2 as
hashmatch_tools.contract says; a stack that cannot be reached, or a port taken, exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Sequence

from hashmatch_tools.contract import EXIT_FAILED, EXIT_OK, BadInput, CommandParser, report, stack_option
from hashmatch_tools.contract import run as contract_run
from hashmatch_tools.review.desk import CareSettings, MissingStackName, StackNames

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8711


class DeskServer:
    """The desk's app on 127.0.0.1 (a threaded WSGI server in a thread of its own), until stopped."""

    def __init__(self, app, port: int = 0, host: str = LOOPBACK):
        from werkzeug.serving import make_server

        if host not in (LOOPBACK, "localhost"):
            raise ValueError(f"the review desk binds to the loopback interface only ({LOOPBACK}), not {host!r}")
        self._server = make_server(LOOPBACK, port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{LOOPBACK}:{self.port}/"
        app.config["ALLOWED_HOSTS"] = {f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"}
        self._thread: threading.Thread | None = None

    def start(self) -> "DeskServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="review-desk", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=LOOPBACK, help=f"only {LOOPBACK} (or localhost): the desk is never served beyond this machine")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    for name, variable in StackNames.VARIABLES.items():
        stack_option(parser, f"--{name.replace('_', '-')}", variable, "the " + name.replace("_", " ").replace(" url", " URL"))
    parser.add_argument("--break-after-items", type=int, default=CareSettings.break_after_items, help="suggest a break after this many items (default %(default)s)")
    parser.add_argument("--break-after-minutes", type=int, default=CareSettings.break_after_minutes, help="... or this many minutes (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from hashmatch_tools.review.app import create_app
    from hashmatch_tools.review.desk import Desk

    if args.host not in (LOOPBACK, "localhost"):
        raise BadInput(f"--host {args.host}", f"the review desk binds to {LOOPBACK} only; pictures of this content are never served to a network")
    try:
        names = StackNames.of({name: getattr(args, name) for name in StackNames.VARIABLES})
    except (MissingStackName, ValueError) as error:
        raise BadInput("review", str(error)) from None
    try:
        desk = Desk(boto3.session.Session(region_name=args.region), names, args.endpoint_url)
    except (BotoCoreError, ClientError) as error:
        report("review", f"cannot reach the stack with these credentials: {error}")
        return EXIT_FAILED
    try:
        server = DeskServer(create_app(desk, CareSettings(args.break_after_items, args.break_after_minutes)), args.port, args.host)
    except OSError as error:
        report(f"{LOOPBACK}:{args.port}", f"cannot listen: {error.strerror or error}")
        return EXIT_FAILED
    print(f"review desk for {desk.reviewer} at {server.url} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog="hashmatch review", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.set_defaults(run=run)
    return contract_run(parser, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
