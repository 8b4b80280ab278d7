#!/usr/bin/env bash
# Builds the Sluice container image without a container engine or a base
# image from a registry: a root filesystem holding the `sluice` binary, the
# shared libraries it links (copied from this Debian host, found by ldd),
# CA certificates and a non-root user, packed with umoci as an OCI image and
# written by skopeo as a `docker load`/`podman load`/`kind load
# image-archive` tarball.
#
#   deploy/image/build.sh [--binary PATH] [--tag sluice:0.1.0] [--output sluice-image.tar]
#
# Without --binary it builds `cargo build --release --bin sluice` first.
# Push it with `skopeo copy docker-archive:sluice-image.tar docker://REGISTRY/sluice:TAG`.
# Needs umoci and skopeo (Debian packages of those names).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
binary=""
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
tag="sluice:$version"
output="sluice-image.tar"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--tag NAME:TAG] [--output FILE]" >&2; exit 2 ;;
  esac
done
for tool in umoci skopeo ldd; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done
if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --bin sluice)
  binary="${CARGO_TARGET_DIR:-$repo/target}/release/sluice"
fi
[ -x "$binary" ] || { echo "$0: $binary is not an executable" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{usr/local/bin,etc/ssl/certs,etc/sluice,tmp,data}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/usr/local/bin/sluice"
# The dynamic loader and every library the binary links, at their paths.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# librdkafka resolves names through glibc's NSS: files and DNS.
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] && { mkdir -p "$rootfs$(dirname "$lib")"; cp -L "$lib" "$rootfs$lib"; }
done
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nsluice:x:65532:65532:sluice:/data:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nsluice:x:65532:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chown 65532:65532 "$rootfs/data"

layout="$work/oci"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs"
mv "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$layout:$version" "$work/bundle"
umoci config --image "$layout:$version" \
  --config.entrypoint /usr/local/bin/sluice \
  --config.cmd all --config.cmd --config --config.cmd /etc/sluice/sluice.yml \
  --config.user 65532:65532 \
  --config.workingdir /data \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.exposedports 9464/tcp --config.exposedports 9465/tcp \
  --config.label "org.opencontainers.image.title=sluice" \
  --config.label "org.opencontainers.image.version=$version" \
  --os linux --architecture amd64
rm -f "$output"
skopeo copy --quiet "oci:$layout:$version" "docker-archive:$output:$tag"
echo "built $tag into $output ($(du -h "$output" | cut -f1)); binary $(basename "$binary"), $(find "$work/bundle/rootfs" -name '*.so*' | wc -l) shared libraries"
