#!/usr/bin/env bash
# Installs, from Debian's packages, everything the loopback cluster runs.
# Idempotent: asks apt only for what is missing. Run as root.
set -euo pipefail
pkgs=(slurm-wlm munge openssh-server openssh-client sudo slapd ldap-utils openssl
  postgresql jupyterhub chromium python3 procps iproute2 curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cluster: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
