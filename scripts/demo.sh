#!/usr/bin/env bash
# The main job: build examples/hello on a busybox base image (made offline from Debian's busybox-static)
# into an OCI archive, and print its digest.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=.kiln-demo
mkdir -p "$demo"
pnpm exec tsx --conditions=@kiln/source scripts/make-busybox-layout.ts "$demo/busybox" latest >/dev/null
pnpm exec kiln build examples/hello \
  --root "$demo/store" \
  --build-context "busybox=oci-layout://$PWD/$demo/busybox:latest" \
  --tag hello:latest \
  --output "type=oci,dest=$demo/hello.tar" \
  --metadata-file "$demo/metadata.json" \
  --progress plain
digest=$(node -p "require('./$demo/metadata.json')['containerimage.digest']")
echo "built $demo/hello.tar  image digest: $digest"
