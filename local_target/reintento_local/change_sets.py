"""CloudFormation change sets found as AWS finds them: by ARN, or by name within one stack.

A change set's name is unique within its stack only; DescribeChangeSet, ExecuteChangeSet and
DeleteChangeSet take the name with ``StackName`` (or the change set's ARN alone), and a change
set that does not exist is ``ChangeSetNotFound`` (404):
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
moto matched the name across every stack of the account, and answered a missing one
``ValidationError`` ("Stack with id ... does not exist"). The CDK CLI names every stack's change
set ``cdk-deploy-change-set``: before an update it deletes that stack's previous one (which
removed another stack's here) and asks whether it still exists (which failed the deploy), so no
stack could be updated through the CLI. And an executed update sets the stack's
``LastUpdatedTime`` (DescribeStacks; AWS sets it on updates only), which moto never did, so an
update looked like no change.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import CloudFormationError


class ChangeSetNotFoundError(CloudFormationError):
    code = "ChangeSetNotFound"  # the AWS model's error code (HTTP 404)


def find(backend: Any, name_or_arn: str, stack_name: str) -> str | None:
    """The change set's ARN: ``name_or_arn`` is its ARN, or its name in stack ``stack_name``
    (a stack ARN, or a name: the live stack of that name, not a deleted one's)."""
    if name_or_arn in backend.change_sets:
        return name_or_arn
    stack_id = stack_name
    if not stack_name.startswith("arn:"):
        live = [s.stack_id for s in backend.stacks.values() if s.name == stack_name]
        stack_id = live[0] if live else ""
    for arn, change_set in backend.change_sets.items():
        if change_set.change_set_name == name_or_arn and change_set.stack_id == stack_id:
            return str(arn)
    return None


def install() -> None:
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow

    def located(self: Any) -> tuple[str, str, str | None]:
        name = str(self._get_param("ChangeSetName") or "")
        stack = str(self._get_param("StackName") or "")
        return name, stack, find(self.cloudformation_backend, name, stack)

    def describe_change_set(self: Any) -> Any:
        name, _, arn = located(self)
        if arn is None:
            raise ChangeSetNotFoundError(f"ChangeSet [{name}] does not exist")
        return ActionResult(self.cloudformation_backend.describe_change_set(change_set_name=arn))

    def execute_change_set(self: Any) -> Any:
        name, stack, arn = located(self)
        if arn is None:
            raise ChangeSetNotFoundError(f"ChangeSet [{name}] does not exist")
        backend = self.cloudformation_backend
        change_set = backend.change_sets[arn]
        backend.execute_change_set(change_set_name=arn, stack_name=stack or None)
        if change_set.change_set_type == "UPDATE":  # AWS sets it on updates only
            backend.stacks[change_set.stack_id].last_updated_time = utcnow()
        return EmptyResult()

    def delete_change_set(self: Any) -> Any:
        _, _, arn = located(self)
        if arn is not None:  # a missing one is a no-op (DeleteChangeSet's errors: status only)
            self.cloudformation_backend.delete_change_set(change_set_name=arn)
        return EmptyResult()

    setattr(CloudFormationResponse, "describe_change_set", describe_change_set)  # noqa: B010
    setattr(CloudFormationResponse, "execute_change_set", execute_change_set)  # noqa: B010
    setattr(CloudFormationResponse, "delete_change_set", delete_change_set)  # noqa: B010
