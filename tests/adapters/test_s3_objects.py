"""Reading `s3Url` templates: conditional reads of remembered objects, the size cap, the store's bounds."""

from __future__ import annotations

import concurrent.futures
import io
import threading
import time

import pytest
from botocore.response import StreamingBody

from stubbed.aws import BUCKET, REGION, RecordingStubber
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.aws.s3_objects import RememberedObject, RememberedObjects, UploadedBundles
from turbine_operator.core.errors import AwsAccessDenied
from turbine_operator.core.render.additions import LARGEST_TEMPLATE

KEY = "templates/data-lake.yaml"


def _object(body: bytes, etag: str) -> dict[str, object]:
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ETag": etag, "ContentLength": len(body)}


def _expect_read(stub: RecordingStubber, body: bytes, etag: str, if_none_match: str | None = None) -> None:
    request = {"Bucket": BUCKET, "Key": KEY, **({"IfNoneMatch": if_none_match} if if_none_match else {})}
    stub.add_response("get_object", _object(body, etag), request)


def _expect_failure(stub: RecordingStubber, code: str, status: int, if_none_match: str | None = None) -> None:
    request = {"Bucket": BUCKET, "Key": KEY, **({"IfNoneMatch": if_none_match} if if_none_match else {})}
    stub.add_client_error("get_object", code, "", status, expected_params=request)


@pytest.fixture
def remembered() -> RememberedObjects:
    return RememberedObjects()


@pytest.fixture
def reader(sessions: AwsSessions, s3_stub: RecordingStubber, remembered: RememberedObjects) -> StackGateway:
    return StackGateway(sessions, REGION, None, remembered)


def test_an_unchanged_object_is_asked_for_conditionally_and_served_from_memory(
    reader: StackGateway, s3_stub: RecordingStubber
) -> None:
    _expect_read(s3_stub, b"first", '"e1"')
    _expect_failure(s3_stub, "304", 304, if_none_match='"e1"')
    assert reader.read_object(BUCKET, KEY) == b"first"
    assert reader.read_object(BUCKET, KEY) == b"first"
    s3_stub.verify()


def test_a_changed_object_is_read_again_and_remembered_under_its_new_etag(
    reader: StackGateway, s3_stub: RecordingStubber
) -> None:
    _expect_read(s3_stub, b"first", '"e1"')
    _expect_read(s3_stub, b"second", '"e2"', if_none_match='"e1"')
    _expect_failure(s3_stub, "304", 304, if_none_match='"e2"')
    assert [reader.read_object(BUCKET, KEY) for _ in range(3)] == [b"first", b"second", b"second"]
    s3_stub.verify()


def test_a_deleted_object_is_forgotten(reader: StackGateway, s3_stub: RecordingStubber) -> None:
    _expect_read(s3_stub, b"first", '"e1"')
    _expect_failure(s3_stub, "NoSuchKey", 404, if_none_match='"e1"')
    _expect_failure(s3_stub, "NoSuchKey", 404)
    assert [reader.read_object(BUCKET, KEY) for _ in range(3)] == [b"first", None, None]
    s3_stub.verify()


def test_lost_access_is_not_hidden_by_memory(reader: StackGateway, s3_stub: RecordingStubber) -> None:
    _expect_read(s3_stub, b"first", '"e1"')
    _expect_failure(s3_stub, "AccessDenied", 403, if_none_match='"e1"')
    assert reader.read_object(BUCKET, KEY) == b"first"
    with pytest.raises(AwsAccessDenied):
        reader.read_object(BUCKET, KEY)
    s3_stub.verify()


def test_a_gateway_without_a_store_reads_whole_objects_every_time(
    sessions: AwsSessions, s3_stub: RecordingStubber
) -> None:
    gateway = StackGateway(sessions, REGION, None)
    _expect_read(s3_stub, b"first", '"e1"')
    _expect_read(s3_stub, b"first", '"e1"')
    assert [gateway.read_object(BUCKET, KEY) for _ in range(2)] == [b"first", b"first"]
    s3_stub.verify()


def test_reads_stop_one_byte_past_the_template_limit_and_are_not_remembered(
    reader: StackGateway, s3_stub: RecordingStubber, remembered: RememberedObjects
) -> None:
    _expect_read(s3_stub, b"x" * (LARGEST_TEMPLATE + 100), '"big"')
    assert len(reader.read_object(BUCKET, KEY) or b"") == LARGEST_TEMPLATE + 1
    assert remembered.get(BUCKET, KEY) is None
    s3_stub.verify()


@pytest.mark.parametrize(
    ("sizes", "kept"),
    [
        ([4, 4], ["a", "b"]),
        ([4, 4, 4], ["b", "c"]),  # the oldest goes first
        ([9], []),  # larger than the whole store: never held
        ([4, 5], ["b"]),
    ],
)
def test_the_store_keeps_the_most_recent_objects_within_its_capacity(
    sizes: list[int], kept: list[str]
) -> None:
    store = RememberedObjects(capacity_bytes=8)
    for name, size in zip("abc", sizes, strict=False):
        store.put(BUCKET, name, f'"{name}"', b"x" * size)
    assert [name for name in "abc" if store.get(BUCKET, name)] == kept
    assert store.size <= 8


def test_reading_an_object_keeps_it_longer() -> None:
    store = RememberedObjects(capacity_bytes=8)
    store.put(BUCKET, "a", '"a"', b"1234")
    store.put(BUCKET, "b", '"b"', b"1234")
    assert store.get(BUCKET, "a") is not None
    store.put(BUCKET, "c", '"c"', b"1234")
    assert [name for name in "abc" if store.get(BUCKET, name)] == ["a", "c"]


def test_putting_an_object_again_replaces_it() -> None:
    store = RememberedObjects(capacity_bytes=8)
    store.put(BUCKET, "a", '"1"', b"1234")
    store.put(BUCKET, "a", '"2"', b"123456")
    assert store.get(BUCKET, "a") == RememberedObject('"2"', b"123456")
    assert store.size == 6


# Bundles: a fleet that needs the same bundle at once uploads it once.


def test_a_bundle_is_uploaded_once_by_stacks_that_need_it_together() -> None:
    uploads = UploadedBundles()
    started = threading.Barrier(8)
    runs: list[int] = []

    def upload() -> int:
        runs.append(1)
        time.sleep(0.05)  # the others arrive while the first one uploads
        return 3

    def stack() -> int:
        started.wait()
        return uploads.ensure(("role", "eu-west-1", "bucket", "bundles/abc/"), upload)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: stack(), range(8)))
    assert len(runs) == 1
    assert sorted(results) == [0] * 7 + [3]


def test_another_role_or_an_expired_record_or_a_failed_upload_uploads_again() -> None:
    now = [0.0]
    uploads = UploadedBundles(ttl_seconds=300.0, clock=lambda: now[0])
    key = ("role-a", "eu-west-1", "bucket", "bundles/abc/")
    assert uploads.ensure(key, lambda: 2) == 2
    assert uploads.ensure(key, lambda: 2) == 0
    assert uploads.ensure(("role-b", *key[1:]), lambda: 1) == 1
    now[0] = 300.0
    assert uploads.ensure(key, lambda: 0) == 0  # listed again: nothing missing

    def failing() -> int:
        raise RuntimeError("throttled")

    other = ("role-a", "eu-west-1", "bucket", "bundles/def/")
    with pytest.raises(RuntimeError):
        uploads.ensure(other, failing)
    assert uploads.ensure(other, lambda: 2) == 2
