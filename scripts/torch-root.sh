#!/usr/bin/env bash
# torch-root.sh [ROOT]: build the Debian sid root the tests run train.py in for real (torch,
# transformers, accelerate and safetensors for the CPU; PEFT comes from ../shared/vendor/peft), at
# ROOT (default /var/cache/correctly/sid-root). Needs root and Debian's mirror; about a minute and
# 1.7 GB. A root that already imports torch and transformers is kept as it is, so CI machines build
# it once.
set -euo pipefail
root=${1:-${CORRECTLY_TORCH_ROOT:-/var/cache/correctly/sid-root}}

if [ -x "$root/usr/bin/python3" ] && chroot "$root" python3 -c 'import torch, transformers, accelerate, safetensors' >/dev/null 2>&1; then
	echo "torch-root: $root is ready" >&2
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "torch-root: building $root needs root (mmdebstrap and chroot): run it with sudo" >&2
	exit 1
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
	echo "torch-root: installing mmdebstrap" >&2
	apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
fi
mkdir -p "$(dirname "$root")"
tmp="$root.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "torch-root: building $root (Debian sid with python3-torch, python3-transformers; about a minute)" >&2
# The mirror serves frozen snapshots whose release files are past their valid-until date.
mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
	--include=python3-transformers,python3-torch,python3-accelerate,python3-safetensors sid "$tmp"
chroot "$tmp" python3 -c 'import torch, transformers; print("torch-root: torch", torch.__version__, "transformers", transformers.__version__)' 2>/dev/null
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
echo "torch-root: $root is ready" >&2
