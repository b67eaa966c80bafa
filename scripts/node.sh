#!/usr/bin/env bash
# Usage: scripts/node.sh VERSION [ARGS...]
#
# Runs `node ARGS...` with Node.js VERSION, installed on first use from the npm registry's
# node-<os>-<arch> package (the official Node.js build; the package has no install scripts and
# downloads nothing else) into .cache/node/VERSION/. CI uses it to run the test suite on the
# Node.js of the operator's image as well as on the one on PATH.
set -euo pipefail
version="${1:?usage: scripts/node.sh VERSION [ARGS...]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "scripts/node.sh: no node package for $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "scripts/node.sh: no node package for $(uname -m)" >&2; exit 1 ;;
esac
package="node-${os}-${arch}"
prefix="${root}/.cache/node/${version}"
node="${prefix}/node_modules/${package}/bin/node"

if [[ ! -x "${node}" || "$("${node}" --version 2>/dev/null)" != "v${version}" ]]; then
  echo "[node] installing Node.js ${version} (${package}@${version} from the npm registry) into ${prefix}" >&2
  rm -rf "${prefix}"
  mkdir -p "${prefix}"
  npm install --prefix "${prefix}" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --loglevel=error "${package}@${version}" >&2
  [[ "$("${node}" --version)" == "v${version}" ]] || { echo "scripts/node.sh: ${node} is not v${version}" >&2; exit 1; }
fi
exec "${node}" "$@"
