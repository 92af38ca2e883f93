#!/usr/bin/env bash
# f32 matrix products, the `gemm` crate (candle's CPU backend) against Debian's OpenBLAS, same machine, one
# process, 2 threads each. Installs libopenblas-dev with apt when it is missing.
#   bash bench/gemm_vs_openblas/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so ]; then
  sudo_="" ; [ "$(id -u)" = 0 ] || sudo_="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q libopenblas-dev >/dev/null
fi
cd "$here"
# OpenBLAS picks its kernels from CPUID; in this VM it sees a "Prescott" (SSE3) core and runs 4–6× slower.
# Name the core when the CPU has AVX-512, so that OpenBLAS runs its best kernels.
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}"; fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(detected)}"
RAYON_NUM_THREADS=2 cargo run --release --quiet
