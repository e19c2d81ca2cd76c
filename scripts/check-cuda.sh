#!/usr/bin/env bash
# Checks that the CUDA build compiles: installs Debian's nvidia-cuda-toolkit (CUDA 11.8,
# from the contrib and non-free components) when nvcc is absent, then builds every binary
# and test with `--features cuda` (into target/cuda). No GPU is needed to compile.
#
#   CUDA_COMPUTE_CAP  the GPU's compute capability without the dot (default 80). CUDA
#                     11.8's nvcc knows up to 90 only partly; sm_80 code also runs on
#                     newer GPUs (Ada 89, Hopper 90). Use 75 for Turing, 86 for Ampere
#                     consumer cards, 89 for Ada, 80 for A100 and anything newer.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/lib/nvidia-cuda-toolkit/bin/nvcc ]; then
  echo "check-cuda: installing nvidia-cuda-toolkit (contrib non-free)"
  if [ "$(id -u)" != 0 ]; then
    echo "check-cuda: run as root (or install nvidia-cuda-toolkit yourself)" >&2
    exit 1
  fi
  list=/etc/apt/sources.list.d/crossent-cuda.sources
  if [ ! -f "$list" ]; then
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    cat > "$list" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nvidia-cuda-toolkit
fi

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
# A target folder of its own, so that the CPU build beside it is not rebuilt.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cuda}"
nvcc --version | tail -n 2
time cargo build --release --features cuda --bins --tests
echo "check-cuda: the cuda build compiles (compute capability $CUDA_COMPUTE_CAP)"
