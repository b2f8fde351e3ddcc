"""The API server session is kopf's, with a connection pool bounded by what the operator serves."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from turbine_operator.adapters.settings import NAMESPACES_ENV
from turbine_operator.handlers.kube_session import connection_limit, pooled


@pytest.mark.parametrize(
    ("served", "limit"),
    [
        ("1", 64 + 1),  # all namespaces: the one TurbineStack stream
        ("4", 64 + 4),  # one watch stream per namespace, beyond the requests
        ("", 64 + 100),  # unknown (kopf run directly): room for a hundred namespaces
        ("zero", 64 + 100),
    ],
)
def test_the_pool_has_room_for_every_watch_stream_and_the_requests(served: str, limit: int) -> None:
    assert connection_limit({NAMESPACES_ENV: served}) == limit


def test_the_session_keeps_kopfs_server_and_credentials() -> None:
    info = kopf.ConnectionInfo(
        server="https://127.0.0.1:6443", scheme="Bearer", token="t0ken", insecure=True, default_namespace="ns"
    )

    async def build() -> tuple[kopf.AiohttpSession, int, str]:
        context = pooled(info, 70)
        try:
            connector = context.aiohttp_session.connector
            assert connector is not None
            return context, connector.limit, context.aiohttp_session.headers["Authorization"]
        finally:
            await context.aiohttp_session.close()

    context, limit, authorization = asyncio.run(build())
    assert limit == 70  # kopf's own session has none
    assert authorization == "Bearer t0ken"
    assert (context.server, context.default_namespace) == ("https://127.0.0.1:6443", "ns")
