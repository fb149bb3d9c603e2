#!/usr/bin/env bash
# All set-up for a fresh Debian machine with Python >= 3.10: a virtual environment in .venv
# (created once, reused after), the project with its test extras, and Fashion-MNIST
# (Debian's dataset-fashion-mnist when apt is available as root, else torchvision's download).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.rsmooth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
    touch "$stamp"
fi

fmnist=/usr/share/datasets/fashion-mnist
if [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        .venv/bin/python - <<'PY'
from pathlib import Path
from torchvision.datasets import FashionMNIST

root = Path("~/.cache/rsmooth/data/fashion-mnist").expanduser()
FashionMNIST(str(root), download=True)
FashionMNIST(str(root), train=False, download=True)
PY
    fi
fi
