# shellcheck shell=bash
# Sourced, not run: `. scripts/cross-env.sh RUST_TARGET` exports what a cross build for
# RUST_TARGET (x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu) needs on this host, and
# nothing when RUST_TARGET is the host's own. Used by scripts/arm64.sh and, through
# scripts/image-build.sh, by the Dockerfile's build stage.
#
# - the linker: CARGO_TARGET_<TRIPLE>_LINKER, the Debian cross gcc (<arch>-linux-gnu-gcc);
# - the C and C++ compilers: the cc crate reads CC_<triple> first, but rdkafka-sys runs
#   librdkafka's own ./configure, which reads only plain CC, CXX and AR; so those are the cross
#   tools, and HOST_CC/HOST_CXX/HOST_AR keep build scripts' own C on the host's compilers;
# - running the target's binaries (tests, build-time checks): qemu-<arch> with the cross libc
#   (CARGO_TARGET_<TRIPLE>_RUNNER, QEMU_LD_PREFIX for binaries started directly via binfmt).
cross_target="${1:?usage: . scripts/cross-env.sh RUST_TARGET}"
cross_arch="${cross_target%%-*}"
if [ "$cross_arch" != "$(uname -m)" ]; then
  cross_prefix="$cross_arch-linux-gnu"
  cross_var="$(printf '%s' "$cross_target" | tr 'a-z-' 'A-Z_')"
  export "CARGO_TARGET_${cross_var}_LINKER=$cross_prefix-gcc"
  export "CARGO_TARGET_${cross_var}_RUNNER=qemu-$cross_arch -L /usr/$cross_prefix"
  export CC="$cross_prefix-gcc" CXX="$cross_prefix-g++" AR="$cross_prefix-ar"
  export HOST_CC=gcc HOST_CXX=g++ HOST_AR=ar
  export QEMU_LD_PREFIX="/usr/$cross_prefix"
  # pkg-config must not hand the host's libraries to a cross build.
  export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_PATH='' PKG_CONFIG_LIBDIR="/usr/lib/$cross_prefix/pkgconfig"
  unset cross_prefix cross_var
fi
unset cross_target cross_arch
