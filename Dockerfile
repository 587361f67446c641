# syntax=docker/dockerfile:1.7
# aurora-logs: one image for every mode (run, discovery, processor, parse, digest).
#
#   docker buildx build --platform linux/arm64 -t REGISTRY/aurora-logs:TAG --push .
#   docker buildx build --platform linux/arm64,linux/amd64 -t REGISTRY/aurora-logs:TAG --push .
#   docker buildx build --platform linux/arm64 --target debug --output type=local,dest=debug .
#
# The build stage runs on the builder's own platform (BUILDPLATFORM) and cross-compiles for each
# TARGETPLATFORM with Debian's cross gcc: an x86_64 laptop builds the arm64 image without
# emulating the compiler, and the reverse. Its shell steps are scripts/image-build.sh, which CI
# runs too (scripts/arm64.sh). The third command exports the shipped binary's debug info
# (debug/aurora-logs.debug), which symbolises its backtraces.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=trixie
# cargo-chef turns the workspace's manifests into a recipe, so the dependency build is a layer
# of its own that only Cargo.toml/Cargo.lock changes invalidate.
ARG CARGO_CHEF_VERSION=0.1.78

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION
# Build dependencies come with the rust image (buildpack-deps): gcc, make and perl for the
# vendored librdkafka (./configure, no cmake), aws-lc and zstd (cc crate); ISA-L's autotools
# and nasm are added by `image-build.sh toolchain` below.
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG TARGETPLATFORM
ENV CARGO_TERM_COLOR=never
# The Rust target, the cross gcc for TARGETPLATFORM and ISA-L's build tools (autotools, nasm).
COPY scripts/image-build.sh scripts/cross-env.sh scripts/
RUN scripts/image-build.sh toolchain "${TARGETPLATFORM}"
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,id=cargo-registry,sharing=locked,target=/usr/local/cargo/registry \
    scripts/image-build.sh cook "${TARGETPLATFORM}"
COPY . .
# Release build without the `demo` feature, its debug info split off into /out/debug.
RUN --mount=type=cache,id=cargo-registry,sharing=locked,target=/usr/local/cargo/registry \
    OUT=/out PROFILE=release scripts/image-build.sh build "${TARGETPLATFORM}"

# The shipped binary's debug info, for `--target debug --output type=local,dest=DIR`.
FROM scratch AS debug
COPY --from=builder /out/debug/ /

# distroless/cc: glibc, libgcc, CA certificates and nothing else (no shell, no package manager).
# Its Debian release is the build stage's (DEBIAN_RELEASE), so the binary finds the glibc it was
# linked against. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
COPY --from=builder /out/aurora-logs /usr/local/bin/aurora-logs
# state_dir (dead-letter file, standalone checkpoints) and a scratch dir, owned by the runtime
# user. Under Kubernetes both are volumes, so the root filesystem can be read-only.
COPY --from=builder --chown=65532:65532 /out/state /var/lib/aurora-logs
COPY --from=builder --chown=65532:65532 /out/tmp /tmp
USER 65532:65532
EXPOSE 9090
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: the image has no shell or HTTP client to run one, and Kubernetes ignores it; the pods' liveness and readiness probes call /healthz and /readyz on port 9090 (k8s/deployments/).
ENTRYPOINT ["/usr/local/bin/aurora-logs"]
CMD ["--help"]
