# reescreen: the Streamlit screening app in a container.
#   CPU (default):  docker build -t reescreen .
#   CUDA:           docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#                     --build-arg GPU_DFT=1 -t reescreen:cuda .
#                   (CUDA torch wheels carry the CUDA runtime; the driver comes from the host: run with --gpus all.
#                   GPU_DFT=1 adds gpu4pyscf (requirements-gpu.txt) so DFT refinement runs on the GPU.
#                   BASE_IMAGE may also name a CUDA base image that provides python3.11.)
#   Run:            docker run -p 127.0.0.1:8501:8501 -v reescreen-data:/data reescreen
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG GPU_DFT=""

# npm fetches 3Dmol.js at build time (the app serves it itself); libgomp for xtb/tblite; g++ for torch.compile,
# which evaluates the pre-screen members of large rankings (without it they are evaluated eagerly, ~1.2x slower).
# Debian stable's versions are fixed within a release; pinning them would break on every point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm libgomp1 g++ \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 reescreen \
    && mkdir -p /data \
    && chown reescreen:reescreen /data

WORKDIR /opt/reescreen
COPY requirements.txt requirements-gpu.txt pyproject.toml README.md ./
COPY core ./core
COPY app ./app
COPY pages ./pages
COPY configs ./configs
COPY models ./models
COPY data/templates ./data/templates
COPY data/dft_costs.json ./data/dft_costs.json
COPY .streamlit ./.streamlit

# torch first, from the CPU (or CUDA) wheel index; its own dependencies come with requirements.txt.
RUN python -m pip install --no-cache-dir --no-deps "torch==2.13.0" --index-url "${TORCH_INDEX_URL}" \
    && python -m pip install --no-cache-dir -r requirements.txt \
    && python -m app.assets \
    && if [ -n "${GPU_DFT}" ]; then python -m pip install --no-cache-dir -r requirements-gpu.txt; fi

# The store lives on the volume; one xTB thread per Dask worker process.
ENV REESCREEN_DB=/data/reescreen.db \
    OMP_NUM_THREADS=1 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]
CMD ["streamlit", "run", "app/main.py"]
