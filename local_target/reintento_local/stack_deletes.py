"""A stack's delete fails, as on AWS, when one of its resources cannot be deleted; the first such
resource here is a bucket that still holds objects.

- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html:
  "You can only delete empty buckets. Deletion fails for buckets that have contents." (every
  object version and delete marker counts: API_DeleteBucket.html). Stock moto skipped the
  bucket silently and reported the stack ``DELETE_COMPLETE``, leaving the bucket behind.
- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html
  ("Delete stack fails"): the stack is then ``DELETE_FAILED``, still listed, with the resources
  it could not delete; DeleteStack again retries them. Stock moto forgot the stack mid-delete.
"""

from __future__ import annotations

from typing import Any

DELETE_FAILED = "DELETE_FAILED"


class BucketNotEmptyError(Exception):
    """What S3 answers DeleteBucket on a bucket with contents (409 BucketNotEmpty)."""


def _refuse_non_empty_buckets() -> None:
    from moto.s3 import models as s3m

    def delete(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.utilities.utils import get_partition

        backend = s3m.s3_backends[account_id][get_partition(region_name)]
        bucket = backend.buckets.get(resource_name)
        if bucket is None:
            return  # gone already: nothing to delete
        if bucket.keys:  # any object version or delete marker
            raise BucketNotEmptyError(
                f"The bucket you tried to delete is not empty (Service: S3, Status Code: 409, "
                f"Error Code: BucketNotEmpty; bucket {resource_name})"
            )
        backend.delete_bucket(resource_name)

    setattr(s3m.FakeBucket, "delete_from_cloudformation_json", classmethod(delete))  # noqa: B010


def _failed_deletes_keep_the_stack() -> None:
    from moto.cloudformation import models as cfm

    def stack_delete(self: Any) -> None:
        self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        try:
            self.resource_map.delete()
        except Exception as err:  # a resource refused its delete: the stack is kept, failed
            self.status = DELETE_FAILED
            self._add_stack_event(
                DELETE_FAILED,
                resource_status_reason=f"The following resource(s) failed to delete: {err}",
            )
            return
        self._add_stack_event("DELETE_COMPLETE")
        self.status = "DELETE_COMPLETE"

    original = cfm.CloudFormationBackend.delete_stack

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None
        )
        original(self, name_or_stack_id)
        if stack is not None and stack.status == DELETE_FAILED:  # listed again, as it was
            self.deleted_stacks.pop(stack.stack_id, None)
            self.stacks[stack.stack_id] = stack
            for export in stack.exports:
                self.exports[export.name] = export

    setattr(cfm.Stack, "delete", stack_delete)  # noqa: B010
    setattr(cfm.CloudFormationBackend, "delete_stack", delete_stack)  # noqa: B010


def install() -> None:
    _refuse_non_empty_buckets()
    _failed_deletes_keep_the_stack()
