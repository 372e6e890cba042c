"""The local target's server process: moto on 127.0.0.1 with our fixes and Lambda runtime.

    python -m ops.local.server --port 4566 --state-dir .local-target

Started and stopped by ``ops.local.process`` (``ensure_running``); runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ops.local.environment import default_python


def serve(port: int, state_dir: Path, max_environments: int) -> None:
    os.environ["MOTO_PORT"] = str(port)  # Step Functions' internal clients call this port
    from moto.server import ThreadedMotoServer

    from ops.local import lambda_runtime, patches

    applied = patches.apply_all()
    endpoint = f"http://127.0.0.1:{port}"
    runtime = lambda_runtime.install(endpoint, default_python(), max_environments, state_dir)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    info = {
        "pid": os.getpid(),
        "port": port,
        "endpoint": endpoint,
        "patches": applied,
        "started": time.time(),
    }
    (state_dir / "server.json").write_text(json.dumps(info, indent=1))
    print(
        f"local target on {endpoint} (pid {os.getpid()}); fixes: {', '.join(applied)}", flush=True
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    runtime.shutdown()
    server.stop()
    (state_dir / "server.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--max-environments", type=int, default=4)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    serve(args.port, args.state_dir, args.max_environments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
