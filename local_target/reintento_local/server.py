"""The local target's server process: moto on 127.0.0.1 with our fixes and Lambda runtime.

    python -m reintento_local.server --port 4566 --state-dir .local-target

Started and stopped by ``reintento_local.process`` (``ensure_running``); runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from reintento_local.credentials import OperatorCredentials, read_credentials, write_private
from reintento_local.gate import Gate, Secret
from reintento_local.process import DEFAULT_MAX_ENVIRONMENTS


def secret_lookup(operator: OperatorCredentials) -> Callable[[str], Secret | None]:
    """Who may call: the per-start operator key, and keys this server's IAM/STS issued."""

    def secret_for(key: str) -> Secret | None:
        if key == operator.access_key_id:
            return Secret(operator.secret_access_key)
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        for account_id, account in list(iam_backends.items()):
            found = account["aws"].access_keys.get(key)
            if found is None:
                continue
            role = sts_backends[account_id]["aws"].get_assumed_role_from_access_key(key)
            if role is None:
                return Secret(found.secret_access_key)
            expires = role.expiration.replace(tzinfo=UTC).timestamp()  # moto: naive UTC
            return Secret(found.secret_access_key, role.session_token, expires)
        return None

    return secret_for


def _moto_modules_listed_once() -> None:
    """moto finds the backend of every request by listing its own package folder (a directory
    listing and a stat per service, each request); the folder does not change while the server
    runs, so it is listed once."""
    from moto import backends

    listed = tuple(backends.list_of_moto_modules())
    setattr(backends, "list_of_moto_modules", lambda: listed)  # noqa: B010


# A connection that sends nothing for this long is closed (a half-sent request no longer holds
# a server thread forever); clients reconnect for their next request, as on an idle keep-alive.
REQUEST_TIMEOUT_SECONDS = 30


def _quiet_request_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequests(MotoRequestHandler):
        """No line per request in server.log (a batch makes thousands); errors still logged.
        Socket reads and writes time out after ``REQUEST_TIMEOUT_SECONDS``."""

        timeout = REQUEST_TIMEOUT_SECONDS

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return QuietRequests


def serve(port: int, state_dir: Path, max_environments: int) -> None:
    os.environ["MOTO_PORT"] = str(port)  # Step Functions' internal clients call this port
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from reintento_local import aws_metrics, cloudwatch_alarms, lambda_runtime, patches, sandbox

    operator = read_credentials(state_dir)
    if operator is None:
        raise SystemExit(f"no credentials in {state_dir}; start the local target with ops")
    patches.set_service_credentials(operator)
    endpoint = f"http://127.0.0.1:{port}"
    functions_sandbox = sandbox.prepare(state_dir)
    if functions_sandbox.root is None:
        print(
            f"WARNING: functions run as the operator, not sandboxed: {functions_sandbox.why_off}; "
            "a function's code can read what the operator can (SECURITY.md)",
            flush=True,
        )
    runtime = lambda_runtime.configure(endpoint, max_environments, state_dir, functions_sandbox)
    applied = patches.apply_all()
    stop_alarms = cloudwatch_alarms.start_evaluator()
    _moto_modules_listed_once()
    app = Gate(DomainDispatcherApplication(create_backend_app), port, secret_lookup(operator))
    server = make_server("127.0.0.1", port, app, True, request_handler=_quiet_request_handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    info = {
        "pid": os.getpid(),
        "port": port,
        "endpoint": endpoint,
        "patches": applied,
        "started": time.time(),
        "metrics_delay_seconds": aws_metrics.configured_delay(),
        "sandbox": functions_sandbox.state,
    }
    write_private(state_dir / "server.json", json.dumps(info, indent=1))
    print(
        f"local target on {endpoint} (pid {os.getpid()}); fixes: {', '.join(applied)}", flush=True
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stop_alarms.set()
    runtime.shutdown()
    server.shutdown()
    (state_dir / "server.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--max-environments", type=int, default=DEFAULT_MAX_ENVIRONMENTS)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    serve(args.port, args.state_dir, args.max_environments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
