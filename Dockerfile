# syntax=docker/dockerfile:1
#
# s2s on a GPU box: the dashboard (default) and the `s2s` command (pretrain, finetune, evaluate, ...,
# also under torchrun). Build and run: see docs/deploy.md, or `docker compose up -d` with compose.yaml.
#
# Base: the official PyTorch runtime image (Ubuntu 22.04, Python 3.11 in /opt/conda, torch + torchvision
# built for CUDA 12.8 with cuDNN 9; no compiler, no curl). The host needs an NVIDIA driver recent enough
# for CUDA 12.8 (R570 or newer) and the NVIDIA Container Toolkit. For another torch/CUDA pair pass e.g.
#   --build-arg BASE_IMAGE=pytorch/pytorch:2.8.0-cuda12.9-cudnn9-runtime
ARG BASE_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

# uid/gid of the user the container runs as: match them to the owner of the host directories you
# bind-mount (checkpoints, runs, torch cache), e.g. --build-arg S2S_UID="$(id -u)".
ARG S2S_UID=1000
ARG S2S_GID=1000

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Runtime packages: graphviz (`dot`, for rendering concept lattices to files) and tini (PID 1: forwards
# SIGTERM to the dashboard or the training process, which checkpoints on it, and reaps zombies).
# Versions come with the base image's Ubuntu release, which the pinned base tag fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends graphviz tini \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# The project, installed with the README's steps (a venv, then `pip install -e '.[test]'`) except that
# torch and torchvision are not installed again: the venv is created with --system-site-packages, so
# it sees the base image's CUDA build of torch (~5 GB that a second copy would double), while every other
# dependency goes into the venv and leaves the base image's conda environment untouched. The constraints
# file pins torch and torchvision to the base image's versions, so pip fails loudly instead of silently
# replacing them with a different build. The [test] extra stays so that the test suite can be run inside
# the container (`docker run --gpus all IMAGE pytest -q`), GPU code paths included.
#
# Step 1 installs only the dependencies listed in pyproject.toml, so that this slow layer is rebuilt when
# they change and not on every source edit; step 2 is the README's install command itself.
COPY pyproject.toml /app/
RUN python3 -m venv --system-site-packages /opt/venv \
    && python3 -c "from importlib.metadata import version as v; print('torch==' + v('torch')); print('torchvision==' + v('torchvision'))" > /opt/venv/torch-constraints.txt \
    && python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > /tmp/requirements.txt \
    && pip install -c /opt/venv/torch-constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . /app
RUN pip install -c /opt/venv/torch-constraints.txt -e '.[test]' \
    && python -c "import torch, s2s_core; assert torch.version.cuda, 'the CUDA build of torch was replaced'" \
    && chmod 0755 /app/docker/entrypoint.sh

# A non-root user, and the directories that volumes are mounted on (owned by it, so that named volumes,
# which copy the image's ownership on first use, are writable):
#   /app/checkpoints/user  the users' zoos; the demo zoo ships in the image at /app/checkpoints/demo,
#                          beside the volume, so mounting it does not hide the demo
#   /runs                  training runs and the dashboard's jobs (/app/runs points here, so relative
#                          default output paths such as runs/train also land in the volume)
#   /cache/torch           TORCH_HOME: torchvision weights in hub/checkpoints/<file>.pth
#   /data                  data sets, mounted read-only (nothing is written there)
RUN groupadd --gid "${S2S_GID}" s2s \
    && useradd --uid "${S2S_UID}" --gid "${S2S_GID}" --create-home --shell /bin/bash s2s \
    && mkdir -p /app/checkpoints/user /runs /cache/torch /data \
    && ln -sfn /runs /app/runs \
    && chown s2s:s2s /app/checkpoints/user /runs /cache/torch

# Where s2s looks: torchvision weights (TORCH_HOME), the dashboard script, the jobs' run dir and the data
# roots that jobs started from the dashboard may read (zoos: /app/checkpoints, demo and user volume).
ENV TORCH_HOME=/cache/torch \
    S2S_RUNS_DIR=/runs \
    S2S_DATA_ROOTS=/data \
    S2S_APP=/app/app.py \
    S2S_ADDRESS=0.0.0.0 \
    S2S_PORT=8501 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

VOLUME ["/app/checkpoints/user", "/runs", "/cache/torch"]

USER ${S2S_UID}:${S2S_GID}
EXPOSE 8501

# Streamlit answers "ok" on /_stcore/health once it serves. Python instead of curl: the base image has no curl.
# Containers started for a training command (not the dashboard) report "unhealthy"; that does not stop them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('S2S_PORT', '8501'), timeout=4); sys.exit(0 if r.read().strip() == b'ok' else 1)"]

ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD []
