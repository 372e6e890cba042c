"""The stateful model store stack."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra import names
from tests.infra.conftest import Synth


def test_bucket_has_pinned_logical_id_and_is_retained(synth: Synth) -> None:
    raw = synth.raw(synth.settings.model_stack_name)
    bucket = raw["Resources"][names.MODEL_BUCKET_LOGICAL_ID]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_bucket_is_private_encrypted_versioned_with_lifecycle(synth: Synth) -> None:
    synth.model.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 45},
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_bucket_policy_refuses_plain_http(synth: Synth) -> None:
    synth.model.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_no_nodejs_custom_resources(synth: Synth) -> None:
    for stack in (synth.settings.model_stack_name, synth.settings.service_stack_name):
        types = {r["Type"] for r in synth.raw(stack)["Resources"].values()}
        assert not any(
            t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource" for t in types
        )
        assert "AWS::Lambda::Function" not in types or stack.endswith("Service")
