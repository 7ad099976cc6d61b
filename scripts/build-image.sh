#!/usr/bin/env bash
# Builds skiff's container image on this machine, with no registry and no network:
# FROM scratch + the pinned Node 24 binary (node_modules/node/bin/node) and the shared libraries
# ldd lists for it, the project's bin/ and src/ with their types stripped ahead of time (as
# `npm run build` does, tsconfig.build.json: Node's in-process stripper would cost every process
# ~17 MiB), package.json, the dashboard UI (dist/web, when built), the one runtime dependency
# (node_modules/yaml), /etc/passwd with a non-root user (65532) and a writable /tmp.
#
# The image is tagged with a hash of its inputs (localhost/skiff-build:HASH), so an unchanged
# tree is not rebuilt; older such builds are removed. Then it is tagged TAG as well, and TAG is
# printed on stdout.
#
# Usage: scripts/build-image.sh [TAG]      (default TAG: localhost/skiff:dev)
# The Containerfile at the repository root builds the same image anywhere (from npm, not from
# this machine's files).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-localhost/skiff:dev}
node_bin="$root/node_modules/node/bin/node"
tsc="$root/node_modules/.bin/tsc"
runtime_deps=(yaml)

if ! command -v podman >/dev/null 2>&1; then
  echo "build-image: podman is not installed; install it with: apt-get install -y podman runc" >&2
  exit 1
fi
if [ ! -x "$node_bin" ] || [ ! -x "$tsc" ]; then
  echo "build-image: node_modules is incomplete; run npm ci first" >&2
  exit 1
fi

# Every input of the image, as paths relative to the repository root.
list_inputs() {
  cd "$root"
  find bin src -type f ! -name '*.test.ts' ! -path '*/testdata/*' ! -path 'src/dashboard/web/*'
  echo package.json
  echo tsconfig.json
  echo tsconfig.build.json
  [ -d dist/web ] && find dist/web -type f
  for dep in "${runtime_deps[@]}"; do find "node_modules/$dep" -type f; done
}

# The content hash: every input's bytes, plus the Node binary's identity (hashing 120 MB each
# time would cost more than it saves) and this script itself.
hash=$(
  {
    list_inputs | LC_ALL=C sort | (cd "$root" && xargs -d '\n' sha256sum)
    stat -c '%s %Y' "$node_bin"
    sha256sum "$0"
  } | sha256sum | cut -c1-16
)
repo=localhost/skiff-build
content_tag="$repo:$hash"

if ! podman image exists "$content_tag"; then
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  rootfs="$ctx/rootfs"
  app="$rootfs/app"
  mkdir -p "$rootfs/usr/local/bin" "$app/node_modules" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp "$node_bin" "$rootfs/usr/local/bin/node"
  for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  # Types stripped, `.ts` specifiers rewritten to `.js` (type checking is the test suite's job).
  (cd "$root" && "$tsc" -p tsconfig.build.json --noCheck --outDir "$app")
  "$node_bin" -e '
    const pkg = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.stdout.write(JSON.stringify({ name: pkg.name, version: pkg.version, type: "module", bin: { skiff: "bin/skiff.js" } }, null, 2) + "\n");
  ' "$root/package.json" >"$app/package.json"
  if [ -d "$root/dist/web" ]; then mkdir -p "$app/dist" && cp -r "$root/dist/web" "$app/dist/web"; fi
  for dep in "${runtime_deps[@]}"; do cp -r "$root/node_modules/$dep" "$app/node_modules/$dep"; done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nskiff:x:65532:65532:skiff:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nskiff:x:65532:\n' >"$rootfs/etc/group"
  cat >"$ctx/Containerfile" <<'CF'
FROM scratch
COPY rootfs/ /
ENV NODE_ENV=production
USER 65532:65532
WORKDIR /app
EXPOSE 15001 15000 15080 8443
ENTRYPOINT ["/usr/local/bin/node", "/app/bin/skiff.js"]
CMD ["--help"]
CF
  podman build --quiet --label "io.skiff.content-hash=$hash" -t "$content_tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
  # Keep one cached build: older ones go (unless a container still uses them).
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$repo:" | grep -v ":$hash\$" || true); do
    podman rmi "$old" >/dev/null 2>&1 || true
  done
fi
podman tag "$content_tag" "$tag"
echo "$tag"
