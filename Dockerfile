# syntax=docker/dockerfile:1
# Build stage: a wheel and its dependencies, compiled where needed.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: no build tools, a non-root user, Turbine's templates and Lambda sources alongside.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TURBINE_CFN_DIR=/opt/turbine/cfn \
    TURBINE_LAMBDAS_DIR=/opt/turbine/lambdas
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/turbine_operator-*.whl \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin turbine
COPY cfn /opt/turbine/cfn
COPY lambdas /opt/turbine/lambdas
USER 10001
EXPOSE 9090 8080
ENTRYPOINT ["turbine-operator", "run"]
CMD ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
