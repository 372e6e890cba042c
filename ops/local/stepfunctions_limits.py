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
