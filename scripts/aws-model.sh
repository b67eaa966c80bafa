#!/usr/bin/env bash
# Usage: scripts/aws-model.sh
#
# Prints the path of AWS's published EMR Serverless service model (botocore's
# `emr-serverless/2021-07-13/service-2.json`), fetching it on first use: the botocore wheel of a
# pinned version is downloaded from PyPI with pip (checked against its pinned SHA-256) and the one
# file is unpacked into .cache/aws-model/botocore-VERSION/. test/emulator/model-coverage.test.ts
# checks the local service against it. The SDK the project ships carries the shapes and required
# members but not the length, range and pattern traits, hence botocore.
#
# To move to a newer model: change VERSION and SHA256 (pip download prints the file; sha256sum it).
set -euo pipefail
VERSION=1.44.18
SHA256=300bc45095e810c5d915cefacdd6ea9ef786fe566aa4e221bf0449b4e0e95076
MEMBER=botocore/data/emr-serverless/2021-07-13/service-2.json.gz

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${root}/.cache/aws-model/botocore-${VERSION}"
model="${dir}/emr-serverless-2021-07-13.json"
if [[ ! -s "${model}" ]]; then
  echo "[aws-model] fetching botocore ${VERSION} from PyPI for the EMR Serverless model" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "${tmp}" "botocore==${VERSION}" >&2
  wheel="${tmp}/botocore-${VERSION}-py3-none-any.whl"
  echo "${SHA256}  ${wheel}" | sha256sum --check --quiet - >&2
  mkdir -p "${dir}"
  python3 - "${wheel}" "${MEMBER}" "${model}.$$.tmp" <<'PY'
import gzip, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(gzip.decompress(z.read(member)))
PY
  mv "${model}.$$.tmp" "${model}" # atomic: two runs at once each write their own copy
fi
echo "${model}"
