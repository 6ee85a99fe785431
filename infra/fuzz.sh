#!/usr/bin/env bash
# Coverage-guided fuzzing of the file readers (issue 16 §5): the GGUF checkpoint
# loader and the safetensors reader, through libFuzzer and AddressSanitizer
# (both ship with the Swift toolchain).
#
#   make fuzz                              (or: bash infra/fuzz.sh)
#   FUZZ_SECONDS=600 TARGETS=gguf make fuzz
#
# 1. builds `ppf-fuzz` twice: normally (it writes the seed corpus, and replays
#    files) and into .build-fuzz with -sanitize=fuzzer,address -D PPF_LIBFUZZER;
# 2. per target, seeds .run/fuzz/corpus/<target> (kept between runs, so a later
#    run continues where this one stopped) and runs libFuzzer for FUZZ_SECONDS;
# 3. a crash leaves its input in .run/fuzz/artifacts/ and fails the run. Fix the
#    reader so the input gets a named error, then copy the file into
#    Tests/PPFPruningTests/Fixtures/fuzz/<target>/ so `make test` replays it
#    for good (FuzzReplayTests).
#
# Settings (environment):   default
#   FUZZ_SECONDS            60 per target
#   TARGETS                 "gguf safetensors"
#   FUZZ_RSS_MB             2048 (libFuzzer's -rss_limit_mb: an allocation sized by a crafted count is a finding)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="${PPF_RUN_DIR:-$root/.run}/fuzz"
seconds="${FUZZ_SECONDS:-60}"
targets="${TARGETS:-gguf safetensors}"
rss="${FUZZ_RSS_MB:-2048}"

log() { printf '\033[1mfuzz:\033[0m %s\n' "$*"; }
die() { printf '\033[31mfuzz: error:\033[0m %s\n' "$*" >&2; exit 1; }
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer, not '$seconds'"
[[ "$rss" =~ ^[1-9][0-9]*$ ]] || die "FUZZ_RSS_MB must be a positive integer, not '$rss'"

cd "$root"
log "building ppf-fuzz (normal, for seeds and replay)"
swift build --product ppf-fuzz >/dev/null
log "building ppf-fuzz with libFuzzer and AddressSanitizer into .build-fuzz"
# --sanitize=fuzzer keeps SwiftPM from renaming main (libFuzzer brings its own);
# -Xswiftc instruments every module, not only the executable.
swift build --scratch-path .build-fuzz --product ppf-fuzz --sanitize=fuzzer --sanitize=address \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPPF_LIBFUZZER >/dev/null
plain="$(swift build --show-bin-path)/ppf-fuzz"
fuzzer="$(swift build --scratch-path .build-fuzz --show-bin-path)/ppf-fuzz"

mkdir -p "$run/artifacts"
failed=()
for target in $targets; do
  case "$target" in gguf|safetensors) ;; *) die "unknown target '$target' (gguf, safetensors)";; esac
  corpus="$run/corpus/$target"
  mkdir -p "$corpus"
  "$plain" seeds "$target" "$corpus"
  # Inputs that once crashed are part of the corpus too.
  cp -n Tests/PPFPruningTests/Fixtures/fuzz/"$target"/* "$corpus"/ 2>/dev/null || true
  log "$target: $seconds s from $(ls "$corpus" | wc -l) corpus files"
  if PPF_FUZZ_TARGET="$target" "$fuzzer" -max_total_time="$seconds" -max_len=131072 -rss_limit_mb="$rss" \
       -artifact_prefix="$run/artifacts/$target-" -print_final_stats=1 "$corpus" > "$run/$target.log" 2>&1; then
    log "$target: $(grep -E '^stat::number_of_executed_units' "$run/$target.log" | awk '{print $2}') inputs, no crash ($(grep -Eo 'cov: [0-9]+' "$run/$target.log" | tail -1))"
  else
    failed+=("$target")
    grep -E "ERROR|SUMMARY|Fatal error|artifact_prefix|Test unit written" "$run/$target.log" | head -8 >&2 || true
    log "$target: a crash; the input and the log are in $run/artifacts and $run/$target.log"
  fi
done
[ ${#failed[@]} -eq 0 ] || die "crashes in: ${failed[*]} (replay one with: $plain replay <target> <file>)"
log "done"
