# The chargectl image, for those with a registry and a container engine:
#   docker build -t REGISTRY/chargectl:0.1.0 . && docker push REGISTRY/chargectl:0.1.0
# Without either, `make image` builds the same shape from Debian's own tools
# (deploy/image/build.sh): a minimal Debian with Python, chargectl in a venv at /opt/chargectl,
# user 10001, chargectl as the entrypoint.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the wheel, and a venv with it and its dependencies (compilers allowed here) ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/chargectl \
 && /opt/chargectl/bin/pip install "$(ls /wheels/chargectl-*.whl)[kubernetes]" \
 && /opt/chargectl/bin/pip uninstall --yes pip setuptools

# --- final: the venv on a slim Python, no compiler, no installer, not root --------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 chargectl \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/chargectl \
      --shell /usr/sbin/nologin chargectl \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/chargectl
COPY --from=build /opt/chargectl /opt/chargectl
ENV PATH=/opt/chargectl/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/chargectl
VOLUME /var/lib/chargectl
# OCPP endpoint, status API with /metrics and probes, admin channel.
EXPOSE 9000 8080 8081
LABEL org.opencontainers.image.title=chargectl \
      org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["chargectl"]
CMD ["--help"]
