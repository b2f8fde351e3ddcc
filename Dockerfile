# syntax=docker/dockerfile:1
# The Turbine Operator image: `turbine-operator run` as a non-root user. Turbine's CloudFormation templates
# (cfn/) and Lambda sources (lambdas/) are package data of the wheel. Both stages use the same base, so the
# virtualenv built in the first runs unchanged in the second.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# Build stage: the wheel of this repository, and a virtualenv with it and its dependencies.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY devtools/constraints.txt ./
COPY operator ./operator
COPY cfn ./cfn
COPY lambdas ./lambdas
# The image runs the dependency versions `make test` passed with (devtools/constraints.txt).
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --constraint constraints.txt /wheels/turbine_operator-*.whl \
    && /opt/venv/bin/pip uninstall --yes pip

# Runtime stage: the virtualenv and a non-root user; no compilers, no pip, no sources.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin turbine \
    && python -m pip uninstall --yes --root-user-action=ignore pip
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
# 9090: Prometheus /metrics; 8080: kopf's liveness endpoint (/healthz) when started with --liveness.
EXPOSE 9090 8080
ENTRYPOINT ["turbine-operator", "run"]
CMD ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
