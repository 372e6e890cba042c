"""Step Functions' payload limits and terminal errors, as AWS documents them.

https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (256 KB of input or
output per state, task result and execution)
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html (``States.ALL``
does not catch the terminal ``States.DataLimitExceeded`` nor runtime errors)

moto's interpreter already fails a state whose output (a Pass result, a task's result, a Map's
or Parallel's collected output) is 256 KB or more with ``States.DataLimitExceeded``. What it
lacked, added here:

- a ``Catch`` or ``Retry`` on ``States.ALL`` does not match ``States.DataLimitExceeded`` or
  ``States.Runtime``: the execution fails, as on AWS (moto caught them, so a state machine with a
  catch-all looked safe locally while it would die on AWS);
- ``StartExecution`` refuses an input over 262,144 bytes (``ValidationException``).
"""

from __future__ import annotations

from typing import Any

MAX_PAYLOAD_BYTES = 262_144


def install() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl as ed
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    terminal = {
        StatesErrorNameType.StatesStatesDataLimitExceeded,
        StatesErrorNameType.StatesRuntime,
    }
    catch_all = StatesErrorName(typ=StatesErrorNameType.StatesALL)
    original_eval: Any = ed.ErrorEqualsDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1] if env.stack else None
        if (
            catch_all in self.error_names
            and isinstance(error_name, StatesErrorName)
            and error_name.typ in terminal
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        original_eval(self, env)

    original_start: Any = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        given = kwargs.get("execution_input", args[2] if len(args) > 2 else None)
        if isinstance(given, str) and len(given.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise JsonRESTError(
                "ValidationException",
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}",
            )
        return original_start(self, *args, **kwargs)

    setattr(ed.ErrorEqualsDecl, "_eval_body", eval_body)  # noqa: B010
    setattr(StepFunctionsParserBackend, "start_execution", start_execution)  # noqa: B010


# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html ("Maximum execution
# history size: 25,000 events in a single state machine execution history. If the execution
# history reaches this quota, the execution fails.")
MAX_HISTORY_EVENTS = 25_000
HISTORY_LIMIT_CAUSE = (
    f"The execution history reached its quota of {MAX_HISTORY_EVENTS:,} events. Start the "
    "repeated work as child executions (a Distributed Map, or StartExecution) instead"
)


def install_history_limit() -> None:
    """An execution whose history reaches 25,000 events fails with ``States.Runtime`` (not
    catchable), as on AWS; its terminal ``ExecutionFailed`` event is the last one."""
    from moto.stepfunctions.parser.api import (
        ExecutionFailedEventDetails,
        HistoryEventType,
    )
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
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    terminal = {
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
        HistoryEventType.ExecutionSucceeded,
    }
    original: Any = EventManager.add_event

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        # the last event is the execution's end: every other event past the quota fails it
        if event_type not in terminal and len(self._history_event_list) >= MAX_HISTORY_EVENTS - 1:
            failure: Any = FailureEvent.__new__(FailureEvent)  # no Environment here
            failure.state_name = ""
            failure.source_event_id = context.source_event_id
            failure.error_name = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
            failure.event_type = HistoryEventType.ExecutionFailed
            failure.event_details = {
                "executionFailedEventDetails": ExecutionFailedEventDetails(
                    error=StatesErrorNameType.StatesRuntime.to_name(), cause=HISTORY_LIMIT_CAUSE
                )
            }
            raise FailureEventException(failure)
        result: int = original(self, context, event_type, *args, **kwargs)
        return result

    EventManager.add_event = add_event  # type: ignore[method-assign]
