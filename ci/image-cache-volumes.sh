#!/usr/bin/env bash
# Pre-creates the Docker named volumes of neuroscale's pull-through image cache registries as
# bind mounts of directories under CACHE_DIR, so actions/cache can save and restore the cached
# image blobs between nightly runs. `neuroscale up` then finds the volumes and reuses them.
# The registry names come from `registries.use` of the k3d config (e.g.
# `k3d-neuroscale-cache-docker:5000` -> volume `k3d-neuroscale-cache-docker-data`).
set -euo pipefail

config="${1:?usage: $0 K3D_CONFIG CACHE_DIR}"
cache_dir="${2:?usage: $0 K3D_CONFIG CACHE_DIR}"

registries=$(sed -n '/^registries:/,/^[^ ]/p' "$config" \
  | sed -n 's/^ *- *\(k3d-[a-z0-9-]*\):[0-9]*$/\1/p')
if [ -z "$registries" ]; then
  echo "no registries.use entries in $config: nothing to bind"
  exit 0
fi

for registry in $registries; do
  volume="${registry}-data"
  dir="$cache_dir/$registry"
  mkdir -p "$dir"
  if docker volume inspect "$volume" >/dev/null 2>&1; then
    echo "volume $volume exists; leaving it as it is"
    continue
  fi
  docker volume create --driver local \
    --opt type=none --opt o=bind --opt device="$dir" "$volume" >/dev/null
  echo "volume $volume -> $dir"
done
