#!/usr/bin/env bash
# Installs the Debian 12 packages attrun needs (only those missing), as root or via sudo.
#   scripts/setup.sh            build + run dependencies
#   scripts/setup.sh --tests    also what the test suite uses (Python checkers, Chromium, Slurm, clang)
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev libdnnl-dev libssl-dev libjansson-dev libyaml-dev libutf8proc-dev libpcre2-dev librandom123-dev zlib1g-dev libcunit1-dev
  python3-numpy python3-h5py)
TEST_PKGS=(python3-pandas python3-matplotlib python3-scipy python3-xarray chromium
  munge slurmctld slurmd slurm-client clang libclang-rt-14-dev valgrind procps)

pkgs=("${BUILD_PKGS[@]}")
[[ "${1:-}" == "--tests" ]] && pkgs+=("${TEST_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#pkgs[@]} Debian packages present"
  exit 0
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
