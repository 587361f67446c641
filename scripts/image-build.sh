#!/usr/bin/env bash
# The shell steps of the Dockerfile's build stage, so that CI (scripts/arm64.sh) runs the same
# commands: a cross build from the build platform to the image's platform, never an emulated one.
#
#   scripts/image-build.sh toolchain PLATFORM   # the Rust target, Debian's cross gcc and ISA-L's build tools, if missing
#   scripts/image-build.sh cook PLATFORM        # dependencies only (cargo-chef's recipe.json)
#   scripts/image-build.sh build PLATFORM       # the binary, stripped, into $OUT
#
# PLATFORM is an image platform (linux/amd64, linux/arm64: buildx's TARGETPLATFORM) or a Rust
# target (x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu). PROFILE is the cargo profile
# (release; CI builds with dev to stay fast). `build` writes $OUT (default /out):
#   aurora-logs              the shipped binary: no debug sections, a .gnu_debuglink to ...
#   debug/aurora-logs.debug  its debug info, for symbolising backtraces (addr2line, gdb)
#   state/, tmp/             empty directories the runtime image owns
# The binary is built without the default `demo` feature: no simulator in the image.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/image-build.sh toolchain|cook|build PLATFORM" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
case "$2" in
  linux/amd64 | x86_64-unknown-linux-gnu) target=x86_64-unknown-linux-gnu deb_arch=amd64 gnu_arch=x86-64 ;;
  linux/arm64 | linux/arm64/v8 | aarch64-unknown-linux-gnu) target=aarch64-unknown-linux-gnu deb_arch=arm64 gnu_arch=aarch64 ;;
  *) echo "image-build: unsupported platform $2 (linux/amd64, linux/arm64)" >&2; exit 2 ;;
esac
profile="${PROFILE:-release}"
out="${OUT:-/out}"
cross=true; [ "${target%%-*}" = "$(uname -m)" ] && cross=false
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
cargo_args=(--locked --no-default-features --bin aurora-logs --target "$target" --profile "$profile")

case "$action" in
  toolchain)
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    # ISA-L (the sink's gzip encoder, through isal-sys) is built from source with autotools,
    # and its x86_64 kernels with nasm.
    packages=(autoconf automake libtool make)
    [ "$gnu_arch" = x86-64 ] && packages+=(nasm)
    if $cross; then
      packages+=("gcc-$gnu_arch-linux-gnu" "g++-$gnu_arch-linux-gnu" "libc6-dev-$deb_arch-cross")
    fi
    missing=()
    for pkg in "${packages[@]}"; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    ;;
  cook)
    # shellcheck source=scripts/cross-env.sh
    . scripts/cross-env.sh "$target"
    cargo chef cook "${cargo_args[@]}" --recipe-path recipe.json
    ;;
  build)
    # shellcheck source=scripts/cross-env.sh
    . scripts/cross-env.sh "$target"
    # zlib for librdkafka is built into the binary, so the runtime image needs no libz.
    export LIBZ_SYS_STATIC=1
    cargo build "${cargo_args[@]}"
    dir="${CARGO_TARGET_DIR:-target}/$target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
    objcopy=objcopy; $cross && objcopy="${target%%-*}-linux-gnu-objcopy"
    rm -rf "$out/aurora-logs" "$out/debug"
    install -d -m 0755 "$out/debug"
    "$objcopy" --only-keep-debug "$dir/aurora-logs" "$out/debug/aurora-logs.debug"
    "$objcopy" --strip-debug --add-gnu-debuglink="$out/debug/aurora-logs.debug" "$dir/aurora-logs" "$out/aurora-logs"
    chmod 0755 "$out/aurora-logs"
    install -d -m 0750 "$out/state" "$out/tmp"
    size() { stat -c %s "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }
    echo "image-build: $target $profile: linked $(size "$dir/aurora-logs"), shipped $(size "$out/aurora-logs"), debug file $(size "$out/debug/aurora-logs.debug")"
    # The binary starts (natively, or through qemu's binfmt_misc entry where one is registered;
    # a cross build stage without qemu cannot run it and says so).
    if ! $cross || [ -e "/proc/sys/fs/binfmt_misc/qemu-${target%%-*}" ]; then
      "$out/aurora-logs" --version
      if "$out/aurora-logs" demo --help >/dev/null 2>&1; then echo "image-build: the binary has the demo command" >&2; exit 1; fi
    else
      echo "image-build: $target binary not run (no qemu binfmt entry on this $(uname -m) builder)"
    fi
    ;;
  *) usage ;;
esac
