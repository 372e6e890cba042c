"""Distributed Map definitions that AWS accepts and moto's ASL grammar refuses.

https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html: a Distributed
Map's ``ItemProcessor.ProcessorConfig.ExecutionType`` is ``STANDARD`` or ``EXPRESS``, and
``ToleratedFailurePercentage`` is a number from 0 to 100 (``100`` as well as ``100.0``).
moto's grammar knows only ``STANDARD`` and only a decimal-point number, so it refuses the
state machine at CreateStateMachine. Before moto parses a definition, this rewrites those two
values to the forms its grammar reads; the stored definition (DescribeStateMachine) is the one
given; a Map whose children were ``EXPRESS`` is marked so (``EXPRESS_MARK`` in its Comment) and
its children are not stopped with their parent (``install_express_children``). Locally, Express
children otherwise run as moto runs Standard ones (in process, once each): Express's
at-least-once start and 5-minute limit are not emulated (local_target/README.md, fidelity
table).
Values AWS refuses (a percentage outside 0-100, another execution type) are still refused.
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

_job = threading.local()  # the child execution a Map Run worker thread is evaluating
# put in the Comment of a Map whose children are Express (moto parses them as Standard)
EXPRESS_MARK = "[reintento-local: EXPRESS children]"


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
            node["Comment"] = f"{node.get('Comment', '')} {EXPRESS_MARK}".strip()
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
        parsed = original(normalized(definition))
        _mark_express(parsed[0].states.states)
        return parsed

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


def install_child_start_permission() -> None:
    """A Distributed Map starts its child workflows as executions of its own state machine,
    with the state machine's role: that role needs ``states:StartExecution`` on the state
    machine ("IAM policies for using Distributed Map states",
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html). moto
    runs the children in process without asking; here a Map Run whose role may not start them
    fails before any child runs (``States.Runtime``, the cause naming ``AccessDenied`` and the
    missing permission), and so does the execution."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component,
    )

    from reintento_local.iam_enforcement import role_may

    original: Any = component.DistributedIterationComponent._map_run

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        details = env.aws_execution_details
        machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        role = str(details.role_arn or "")
        if role.startswith("arn:") and not role_may(
            details.account, details.region, role, "states:StartExecution", machine
        ):
            runtime = StatesErrorNameType.StatesRuntime.to_name()
            cause = (
                f"AccessDenied: the state machine's role {role} is not authorized to perform "
                f"states:StartExecution on resource {machine}, which its Distributed Map "
                "needs to start its child workflow executions"
            )
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=cast(
                        Any,
                        {
                            "executionFailedEventDetails": ExecutionFailedEventDetails(
                                error=runtime, cause=cause
                            )
                        },
                    ),
                )
            )
        original(self, env, eval_input)

    setattr(component.DistributedIterationComponent, "_map_run", map_run)  # noqa: B010


def _mark_express(states: dict[str, Any]) -> None:
    """Flag the item processor of each Map (at any depth) whose children are Express."""
    for state in states.values():
        component = getattr(state, "iteration_component", None)
        if component is None:
            continue
        comment = getattr(getattr(state, "comment", None), "comment", None) or ""
        if EXPRESS_MARK in comment:
            component.reintento_express = True
        inner = getattr(component, "_states", None)
        if inner is not None:
            _mark_express(inner.states)


def install_express_children() -> None:
    """A stopped parent does not stop its Distributed Map's Express children: StopExecution "is
    not supported by EXPRESS state machines", so a child already running runs to its end, its
    Retry and Catch included; no new child starts (the Map Run is aborted). moto stopped every
    child with its parent.
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html"""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import job
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (  # noqa: E501
        distributed_item_processor as processor,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (  # noqa: E501
        distributed_item_processor_worker as worker,
    )
    from moto.stepfunctions.parser.asl.eval import environment

    create: Any = processor.DistributedItemProcessor._create_worker

    def create_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
        made = create(self, env, eval_input, job_pool)
        made.reintento_express = getattr(self, "reintento_express", False)
        job_pool.reintento_env = env  # the parent's Map: it stops waiting when the parent stops
        return made

    def await_jobs(self: Any) -> None:
        """The parent's Map waits for its children, unless the parent was stopped: then it
        ends now (ABORTED at once, as StopExecution answers) and leaves them running."""
        env = getattr(self, "reintento_env", None)
        while not self._is_terminated():
            if self._termination_event.wait(0.2) or (env is not None and not env.is_running()):
                return

    evaluate: Any = worker.DistributedItemProcessorWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        if getattr(self, "reintento_express", False):
            env.reintento_express_child = True  # this child's frame: not stopped by its parent
        evaluate(self, env, job)

    def stopped(self: Any) -> bool:  # no new child once the parent stopped
        return bool(self._stop_signal_received) or not self._env.is_running()

    set_stop: Any = environment.Environment.set_stop

    def set_stop_unless_express_child(self: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "reintento_express_child", False):
            return
        set_stop(self, *args, **kwargs)

    setattr(processor.DistributedItemProcessor, "_create_worker", create_worker)  # noqa: B010
    setattr(job.JobPool, "await_jobs", await_jobs)  # noqa: B010
    setattr(worker.DistributedItemProcessorWorker, "_eval_job", eval_job)  # noqa: B010
    setattr(worker.DistributedItemProcessorWorker, "stopped", stopped)  # noqa: B010
    setattr(environment.Environment, "set_stop", set_stop_unless_express_child)  # noqa: B010
