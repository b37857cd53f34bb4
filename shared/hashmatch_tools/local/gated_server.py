"""moto's server behind the local stack's policy gate (policy_gate.py): what `python -m moto.server` runs, with the gate in front.

    python -m hashmatch_tools.local.gated_server -H 127.0.0.1 -p PORT --account ACCOUNT
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from hashmatch_tools.local.policy_gate import PolicyGate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--account", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, PolicyGate(moto, args.account), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
