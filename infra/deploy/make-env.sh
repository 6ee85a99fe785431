#!/usr/bin/env bash
# Writes infra/deploy/.env with a random PostgreSQL password for the compose
# stack (mode 0600, git-ignored). Keeps an existing file: the database volume
# was initialised with that password.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env_file="$here/.env"
if [[ -s "$env_file" ]] && grep -q '^PPF_POSTGRES_PASSWORD=' "$env_file"; then
  echo "kept $env_file (its password initialised the database volume)"
  exit 0
fi
umask 077
# Hex only, so the password needs no escaping inside PPF_POSTGRES_URL.
password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf 'PPF_POSTGRES_PASSWORD=%s\n' "$password" > "$env_file"
chmod 600 "$env_file"
echo "wrote $env_file (mode 0600)"
