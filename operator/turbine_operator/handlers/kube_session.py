"""The operator's session to the Kubernetes API server: kopf's, with a bounded connection pool.

kopf's own session opens as many connections as there are requests at once. A fleet writing status
at once opened one TLS connection per request, about 1,500 for 1,000 TurbineStacks, each with
asyncio's 256 KiB read buffer: 370 MiB of the operator's peak memory. Requests beyond the pool wait
for a free connection instead (to the API server, a few dozen carry any throughput). Each watch
stream holds a connection for as long as it runs, so the pool has room for every stream on top.
"""

from __future__ import annotations

import os

import aiohttp
import kopf

from turbine_operator.adapters.settings import NAMESPACES_ENV

REQUEST_CONNECTIONS = 64
# kopf watches only TurbineStacks, one stream per namespace served; referenced ConfigMaps and Secrets are
# watched by name on a client of their own (adapters/kube/reference_watches.py).
STREAMS_PER_NAMESPACE = 1
# Unknown (kopf run directly, the tests): room for the streams of this many namespaces.
UNKNOWN_NAMESPACES = 100


def connection_limit(environ: dict[str, str] | None = None) -> int:
    raw = (os.environ if environ is None else environ).get(NAMESPACES_ENV, "")
    namespaces = int(raw) if raw.isdigit() and int(raw) > 0 else UNKNOWN_NAMESPACES
    return REQUEST_CONNECTIONS + STREAMS_PER_NAMESPACE * namespaces


def pooled(info: kopf.ConnectionInfo, limit: int) -> kopf.AiohttpSession:
    """The same server, credentials and TLS settings as kopf's own session, at most `limit` connections."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),  # basic auth too, as a header
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        priority=info.priority,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )
