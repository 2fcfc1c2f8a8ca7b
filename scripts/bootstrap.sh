#!/usr/bin/env bash
# Installs what the lab and its tests need on a Debian/Ubuntu machine, as root: system packages
# (apt) and a Python virtualenv in .venv with Ansible, Molecule and the test tools (pip).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (the lab creates network namespaces, links and routes)" >&2
  exit 1
fi

packages=(python3 python3-venv python3-pip iproute2 iputils-ping procps util-linux kmod rsync git make bird2 tcpdump shellcheck iperf3 iptables ipset)
if [ "${LAB_WITH_VMS:-1}" = 1 ]; then
  # The QEMU provider: IPIP needs a kernel with the ipip driver, so it is exercised in VMs.
  packages+=(qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client vde2)
fi
if [ "${LAB_WITH_DOCKER:-1}" = 1 ]; then
  # The docker provider: Debian's Docker engine (scripts/dockerd.sh starts it when none runs).
  packages+=(docker.io)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "bootstrap: installing Python requirements into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r tests/requirements.txt
  echo "$wanted" > "$stamp"
fi
