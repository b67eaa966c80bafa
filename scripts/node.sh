#!/usr/bin/env bash
# Usage: scripts/node.sh VERSION [ARGS...]   node ARGS with Node.js VERSION (x.y.z, or a major
#                                            such as 24: its newest release on the npm registry)
#        scripts/node.sh --floor [ARGS...]   node ARGS with the Node.js on PATH when package.json's
#                                            `engines` accept it, else with the image's Node.js 22
#
# Node.js is installed on first use from the npm registry's node-<os>-<arch> package (the official
# Node.js build; the package has no install scripts and downloads nothing else) into
# .cache/node/VERSION/. `npm test` uses it to test on Node.js 22 (the image's runtime) and on the
# newest Node.js 24; `npm run demo` uses --floor, so it works on a machine whose node is older.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage="usage: scripts/node.sh VERSION|--floor [ARGS...]"
version="${1:?${usage}}"
shift

# A field of package.json, read with the node on PATH (any version reads JSON).
pkg() { node -e "const p=require(process.argv[1]);console.log($1)" "${root}/package.json"; }

if [[ "${version}" == "--floor" ]]; then
  floor="$(pkg 'p.engines.node.match(/\d+/)[0]')"
  if command -v node >/dev/null; then
    current="$(node --version)"
    major="${current#v}"
    major="${major%%.*}"
    if ((major >= floor)); then exec node "$@"; fi
  else
    current="none"
  fi
  version="$(pkg 'p.config.imageNodeVersion')"
  echo "[node] the node on PATH is ${current}, older than Node.js ${floor} (package.json engines): running on Node.js ${version}, installed from the npm registry into .cache/node/ (scripts/node.sh)" >&2
fi

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

if [[ "${version}" =~ ^[0-9]+$ ]]; then
  # A major: its newest release for this platform; offline, the newest one installed before.
  resolved="$(npm view "${package}@${version}" version --json 2>/dev/null | tr -d '[]", ' | grep . | sort -V | tail -1 || true)"
  if [[ -z "${resolved}" ]]; then
    resolved="$(ls "${root}/.cache/node" 2>/dev/null | grep -E "^${version}\.[0-9]+\.[0-9]+$" | sort -V | tail -1 || true)"
  fi
  [[ -n "${resolved}" ]] || { echo "scripts/node.sh: no ${package}@${version} on the npm registry" >&2; exit 1; }
  version="${resolved}"
fi

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
