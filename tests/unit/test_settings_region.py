"""Against AWS, the region comes from where the AWS CLI and boto3 take it: an explicit value, the
environment, then the profile in use, the ``[default]`` profile included."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.settings import Settings


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-3\n\n[profile thesis]\nregion = sa-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "REINTENTO_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return config


def test_the_default_profiles_region_is_used_without_aws_profile(aws_config: Path) -> None:
    # GIVEN ~/.aws/config whose [default] profile sets a region, and no AWS_PROFILE
    # THEN the aws target works in that region, as the AWS CLI would
    assert Settings.resolve(target="aws").region == "eu-west-3"
    # AND a named profile's region wins when that profile is used
    assert Settings.resolve(target="aws", profile="thesis").region == "sa-east-1"
    # AND an explicit region or the environment's wins over any profile
    assert Settings.resolve(target="aws", region="us-west-2").region == "us-west-2"


def test_the_environments_region_wins_over_the_profiles(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert Settings.resolve(target="aws").region == "ap-south-1"


def test_the_local_target_keeps_its_own_region(aws_config: Path) -> None:
    # the local target is no account: a profile's region does not move it
    assert Settings.resolve(target="local").region == "us-east-1"


@pytest.mark.parametrize(
    "region", ["cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-iso-east-1"]
)
def test_a_region_of_another_partition_is_refused_naming_it(region: str) -> None:
    # GIVEN a region outside the commercial `aws` partition (its ARNs start arn:aws-cn: or
    # arn:aws-us-gov:, its console has another host)  THEN settings refuse it, saying which
    from ops.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="partition") as refused:
        Settings.resolve(region=region, target="aws")
    assert region in str(refused.value) and "us-east-1" in str(refused.value)


def test_a_commercial_region_is_accepted() -> None:
    assert Settings.resolve(region="ap-southeast-4", target="aws").region == "ap-southeast-4"
