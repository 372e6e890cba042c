"""Distributed Map definitions that AWS accepts and moto's ASL grammar refuses.

https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html: a Distributed
Map's ``ItemProcessor.ProcessorConfig.ExecutionType`` is ``STANDARD`` or ``EXPRESS``, and
``ToleratedFailurePercentage`` is a number from 0 to 100 (``100`` as well as ``100.0``).
moto's grammar knows only ``STANDARD`` and only a decimal-point number, so it refuses the
state machine at CreateStateMachine. Before moto parses a definition, this rewrites those two
values to the forms its grammar reads; the stored definition (DescribeStateMachine) is the one
given. Locally, Express children then run as moto runs Standard ones (in process, once each):
Express's at-least-once start and 5-minute limit are not emulated (local_target/README.md,
fidelity table).
Values AWS refuses (a percentage outside 0-100, another execution type) are still refused.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_job = threading.local()  # the child execution a Map Run worker thread is evaluating


def normalized(definition: str) -> str:
    """``definition`` with Distributed Map values moto's grammar reads; else unchanged."""
    try:
        document = json.loads(definition)
    except ValueError:
        return definition  # moto reports the syntax error itself
    changed = _visit(document)
    return json.dumps(document) if changed else definition


def _visit(node: Any) -> bool:
    changed = False
    if isinstance(node, dict):
        config = (node.get("ItemProcessor") or {}).get("ProcessorConfig")
        if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
            config["ExecutionType"] = "STANDARD"
            changed = True
        percentage = node.get("ToleratedFailurePercentage")
        if type(percentage) is int and 0 <= percentage <= 100:
            node["ToleratedFailurePercentage"] = float(percentage)
            changed = True
        for value in node.values():
            changed |= _visit(value)
    elif isinstance(node, list):
        for value in node:
            changed |= _visit(value)
    return changed


def install() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original: Any = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original(normalized(definition))

    setattr(AmazonStateLanguageParser, "parse", staticmethod(parse))  # noqa: B010


def install_execution_counts() -> None:
    """DescribeMapRun's ``executionCounts.running`` is the child executions in progress
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_MapRunExecutionCounts.html).
    moto counted a child out of ``running`` only when it succeeded: a failed or aborted one
    stayed "running" for ever, so a caller waiting for the children would wait in vain."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (  # noqa: E501
        distributed_item_processor_worker as worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (  # noqa: E501
        map_run_record as record,
    )

    offset: Any = record.Counter.offset

    def counted_offset(self: Any, by: int) -> None:
        if by < 0 and getattr(_job, "running", None) is self:
            _job.counted_out = True
        offset(self, by)

    evaluate: Any = worker.DistributedItemProcessorWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        running = self._map_run_record.execution_counter.running
        _job.running, _job.counted_out = running, False
        try:
            evaluate(self, env, job)
        finally:
            if not _job.counted_out:  # it failed, was aborted or timed out: no longer running
                running.offset(-1)
            _job.running = None

    setattr(record.Counter, "offset", counted_offset)  # noqa: B010
    setattr(worker.DistributedItemProcessorWorker, "_eval_job", eval_job)  # noqa: B010
