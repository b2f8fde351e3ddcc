"""adapters/aws/stack_secrets.py with botocore's Stubber: the requests it makes and the tokens it sends.

Secrets Manager treats a PutSecretValue whose ClientRequestToken it has seen as a retry: with the same value
it creates nothing, with another value it refuses (ResourceExistsException); see API_PutSecretValue. So the
token must repeat for a retry of one write and differ for every write of a new secret version, a document
that comes back after another one (a spec going A, B, A) included.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.stack_secrets import StackSecrets
from turbine_operator.core.errors import AwsError, AwsNotFound

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:users-AbCdEf"
V = {name: f"{name:0>32}" for name in ("new", "v1", "v2", "v3", "v7")}  # version ids are 32 to 64 characters


def stubbed(sessions: AwsSessions) -> tuple[StackSecrets, Stubber]:
    secrets = StackSecrets(sessions, "eu-west-1", None)
    stubber = Stubber(sessions.client("secretsmanager", "eu-west-1", None))
    stubber.activate()
    return secrets, stubber


def test_a_document_that_comes_back_gets_a_new_token_and_a_retry_the_same(sessions: AwsSessions) -> None:
    secrets, stubber = stubbed(sessions)
    sent: list[str] = []
    client = sessions.client("secretsmanager", "eu-west-1", None)
    client.meta.events.register(
        "provide-client-params.secrets-manager.PutSecretValue",
        record := lambda params, **_: sent.append(params["ClientRequestToken"]),
    )
    try:
        for version, replaces in [("A", "v1"), ("B", "v2"), ("A", "v3"), ("A", "v3")]:
            stubber.add_response("put_secret_value", {"ARN": ARN, "VersionId": V["new"]})
            secrets.publish(ARN, version, "{}", V[replaces])
        stubber.assert_no_pending_responses()
    finally:
        stubber.deactivate()
        client.meta.events.unregister("provide-client-params.secrets-manager.PutSecretValue", record)
    first_a, b, second_a, retried_a = sent
    assert len({first_a, b, second_a}) == 3
    assert second_a == retried_a
    assert all(len(token) >= 32 for token in sent)  # the API's minimum


def test_published_reads_our_document_and_the_secret_version(sessions: AwsSessions) -> None:
    secrets, stubber = stubbed(sessions)
    ours = {"ARN": ARN, "VersionId": V["v7"], "SecretString": '{"version": "A"}'}
    stubber.add_response("get_secret_value", ours)
    stubber.add_response("get_secret_value", {"ARN": ARN, "VersionId": V["v1"], "SecretString": "{}"})
    try:
        held = secrets.published(ARN)
        assert held.document == {"version": "A"}
        assert held.version_id == V["v7"]
        assert secrets.published(ARN).document is None  # the template's empty value: none of ours yet
    finally:
        stubber.deactivate()


# What Secrets Manager answers for a secret that is gone and for one scheduled for deletion
# (API_GetSecretValue: ResourceNotFoundException; InvalidRequestException, "The secret is scheduled for
# deletion"), with the messages AWS sends. moto words the second differently ("currently marked deleted"),
# so this follows AWS, not moto.
MISSING = "Secrets Manager can't find the specified secret."
GONE = [
    pytest.param("ResourceNotFoundException", MISSING, id="deleted"),
    pytest.param(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
        id="scheduled-for-deletion",
    ),
]


@pytest.mark.parametrize(("code", "message"), GONE)
def test_a_secret_that_is_gone_or_scheduled_for_deletion_is_not_found(
    sessions: AwsSessions, code: str, message: str
) -> None:
    secrets, stubber = stubbed(sessions)
    stubber.add_client_error("get_secret_value", code, message, http_status_code=400)
    try:
        with pytest.raises(AwsNotFound):
            secrets.published(ARN)
    finally:
        stubber.deactivate()


def test_another_invalid_request_is_not_a_missing_secret(sessions: AwsSessions) -> None:
    secrets, stubber = stubbed(sessions)
    stubber.add_client_error(
        "get_secret_value",
        "InvalidRequestException",
        "You can't perform this operation on the secret because it's managed by another service.",
        http_status_code=400,
    )
    try:
        with pytest.raises(AwsError) as caught:
            secrets.published(ARN)
        assert not isinstance(caught.value, AwsNotFound)
    finally:
        stubber.deactivate()
