"""The fault rules' file is read by tests while the server spends rules: never half a file."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from reintento_local import faults


def test_a_reader_never_sees_the_rules_file_half_written(tmp_path: Path) -> None:
    # GIVEN many slow rules, spent one by one by the server's invocations
    faults.inject(tmp_path, [{"function": "f", "kind": "slow", "seconds": 0, "count": 3000}])
    payload = json.dumps({"batch_slice": {}}).encode()
    errors: list[Exception] = []
    done = threading.Event()

    def spend() -> None:
        for _ in range(3000):
            faults.delay(tmp_path, "f", payload)
        done.set()

    spender = threading.Thread(target=spend)
    spender.start()
    # WHEN a test polls what is left meanwhile (in another thread, as a test process would)
    reads = 0
    while not done.is_set():
        try:
            faults.remaining(tmp_path)
            reads += 1
        except ValueError as err:  # an empty or half-written file
            errors.append(err)
    spender.join()
    # THEN every read parsed, and every rule was spent
    assert errors == [] and reads > 0
    assert faults.remaining(tmp_path)[0]["count"] == 0
