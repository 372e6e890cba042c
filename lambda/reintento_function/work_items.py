"""Batch work items only from the run ops started: a signed run ticket, checked per work item.

A realtime caller may invoke the function with any event, a ``batch_slice`` included, and run
ids appear in logs and execution names. So a work item is run only when it is one of the items
of a run ops started: ops writes ``batch/<run>/run.json`` (the run's function version, row
count, slice size, format and whether results carry probabilities) signed with the deployer's
KMS key (``contract.RunTicket``), and the function checks, before reading any row,
that the ticket's signature is valid, that it is the function version the run was started on,
and that the item is exactly one of the run's slices. Anything else is refused as data
(``WorkItemRefusedError``, answered and counted, never a function error that would trip the errors
alarm): a caller can at most replay a real item on the run's own version, which writes the
same results again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from reintento_function.batch_slice import SliceRef
from reintento_function.contract import (
    SLICE_FORMATS,
    SLICE_INPUT_KEY,
    SLICE_OUTPUT_KEY,
    SLICE_PROBABILITIES,
    RunTicket,
    batch_key,
    run_ticket_key,
)


class WorkItemRefusedError(Exception):
    """A work item that is not one of a signed run's items (answered, never raised out)."""


def _parse(run_id: str, body: bytes) -> tuple[RunTicket, bytes]:
    """A stored ticket and its raw signature, refused when it is not this run's."""
    try:
        ticket = RunTicket.from_body(body)
        signature = base64.b64decode(ticket.signature, validate=True)
    except (ValueError, KeyError, TypeError) as err:
        raise WorkItemRefusedError(
            f"the run's ticket is not readable ({type(err).__name__})"
        ) from err
    if ticket.run_id != run_id or ticket.slice_format not in SLICE_FORMATS:
        raise WorkItemRefusedError("the run's ticket is for another run or format")
    if ticket.rows < 1 or ticket.slice_rows < 1:
        raise WorkItemRefusedError("the run's ticket has no rows")
    return ticket, signature


def admit(ticket: RunTicket, ref: SliceRef, executed_version: str) -> None:
    """Refuse (``WorkItemRefusedError``) a work item that is not exactly one of the (verified) run's
    slices, on the function version the run was started on."""
    if executed_version != ticket.function_version:
        raise WorkItemRefusedError(
            f"the run was started on function version {ticket.function_version}, not "
            f"{executed_version}"
        )
    first_row = ref.first_row
    if first_row % ticket.slice_rows or not 0 <= first_row < ticket.rows:
        raise WorkItemRefusedError("first_row is not where one of the run's slices starts")
    expected = {
        SLICE_INPUT_KEY: batch_key(ticket.run_id, "input", first_row, ticket.slice_format),
        SLICE_OUTPUT_KEY: batch_key(ticket.run_id, "output", first_row, ticket.slice_format),
        SLICE_PROBABILITIES: ticket.probabilities,
    }
    for field, value in expected.items():
        if getattr(ref, field) != value:
            raise WorkItemRefusedError(f"{field} is not the run's")


def read_ticket(
    get_object: Callable[[str], bytes],
    verify: Callable[[bytes, bytes], bool],
    run_id: str,
    cache: dict[str, RunTicket],
) -> RunTicket:
    """The run's ticket, its signature verified (read once per run by each execution
    environment; ``get_object`` raises ``WorkItemRefusedError`` for a ticket that is not there)."""
    ticket = cache.get(run_id)
    if ticket is None:
        ticket, signature = _parse(run_id, get_object(run_ticket_key(run_id)))
        if not verify(ticket.message, signature):
            raise WorkItemRefusedError("the run's ticket is not signed by the deployer's key")
        if len(cache) >= 16:  # runs follow each other: keep the latest few
            cache.pop(next(iter(cache)))
        cache[run_id] = ticket
    return ticket
