"""botocore's exceptions become ops errors with a next step (``ops.aws.faults.translate``)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

import ops
from ops.aws.faults import translate
from ops.errors import REFUSALS


@pytest.mark.parametrize(
    "err",
    [
        UnauthorizedSSOTokenError(),
        SSOTokenLoadError(error_msg="Token for my-sso does not exist"),
        TokenRetrievalError(provider="sso", error_msg="the SSO session has expired"),
    ],
)
def test_an_expired_or_missing_sso_session_is_a_credentials_error(err: Exception) -> None:
    # GIVEN an AWS profile whose SSO session expired (or was never logged in)
    translated = translate(err)
    # THEN ops says so and what to run, as a refusal (exit 2), not a failure of its own
    assert isinstance(translated, ops.CredentialsError)
    assert isinstance(translated, REFUSALS)
    assert "aws sso login" in str(translated)
