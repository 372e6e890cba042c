"""The stateful model store stack."""

from __future__ import annotations

import json

import pytest
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
        },
    )


def test_no_model_version_ever_expires(synth: Synth) -> None:
    """#34 item 3: after a rollback (or a rolled-back canary) the live model is a noncurrent
    version; a NoncurrentVersionExpiration rule deleted it 90 days later, and every new
    execution environment then failed to load it: a silent outage. Model versions are kept."""
    bucket = synth.raw(synth.settings.model_stack_name)["Resources"]
    (model_bucket,) = [
        r["Properties"]
        for name, r in bucket.items()
        if r["Type"] == "AWS::S3::Bucket" and "ModelBucket" in name
    ]
    for rule in model_bucket.get("LifecycleConfiguration", {}).get("Rules", []):
        assert not {"NoncurrentVersionExpiration", "ExpirationInDays", "ExpirationDate"} & set(
            rule
        ), rule


def test_the_gone_expiry_setting_is_refused_saying_why() -> None:
    from infra.settings import settings_from_context

    with pytest.raises(ValueError, match="keeps every model version"):
        settings_from_context({"noncurrent_version_days": "90"})


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


def test_signing_key_is_asymmetric_retained_and_exported(synth: Synth) -> None:
    # GIVEN the model stack  THEN the deployer's signing key is an ECC SIGN_VERIFY KMS key that
    # outlives the stack (kept models stay verifiable), and its ARN is an output for ops
    raw = synth.raw(synth.settings.model_stack_name)
    (key,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert key["Properties"]["KeySpec"] == "ECC_NIST_P256"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain"
    assert names.OUT_SIGNING_KEY in raw["Outputs"]
    # AND the key policy gives no principal of another account anything
    principals = json.dumps([s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]])
    assert "lambda.amazonaws.com" not in principals and '"*"' not in principals
    # AND it is tagged with its stage, which the operator's policy matches (its id is generated)
    s = synth.settings
    assert {"Key": "reintento:stage", "Value": f"{s.stack_prefix}-{s.stage}"} in key["Properties"][
        "Tags"
    ]


def test_every_request_on_the_model_bucket_is_logged(synth: Synth) -> None:
    # GIVEN the model stack  THEN the model bucket's server access logs go to a second bucket
    raw = synth.raw(synth.settings.model_stack_name)
    resources = raw["Resources"]
    logging = resources[names.MODEL_BUCKET_LOGICAL_ID]["Properties"]["LoggingConfiguration"]
    logs_id = logging["DestinationBucketName"]["Ref"]
    assert logging["LogFilePrefix"] == "model-bucket/"
    # AND that bucket is private, kept with the models, its logs expiring after a year
    logs = resources[logs_id]
    assert logs["DeletionPolicy"] == "Retain"
    assert logs["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    rules = logs["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [r.get("ExpirationInDays") for r in rules] == [365]
    assert "LoggingConfiguration" not in logs["Properties"]  # it does not log into itself
    # AND only S3's logging service may write there, only for the model bucket of this account
    policy = next(
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": logs_id}
    )
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    model_arn = {"Fn::GetAtt": [names.MODEL_BUCKET_LOGICAL_ID, "Arn"]}
    assert allows == [
        {
            "Action": "s3:PutObject",
            "Condition": {
                "ArnLike": {"aws:SourceArn": model_arn},
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            },
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [logs_id, "Arn"]}, "/model-bucket/*"]]},
        }
    ]
