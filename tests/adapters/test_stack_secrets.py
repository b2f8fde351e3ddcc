"""adapters/stack_secrets.py with botocore's Stubber: the requests it makes and the tokens it sends.

Secrets Manager treats a PutSecretValue whose ClientRequestToken it has seen as a retry: with the same value
it creates nothing, with another value it refuses (ResourceExistsException); see API_PutSecretValue. So the
token must repeat for a retry of one write and differ for every write of a new secret version, a document
that comes back after another one (a spec going A, B, A) included.
"""

from __future__ import annotations

from botocore.stub import Stubber

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.stack_secrets import StackSecrets

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
