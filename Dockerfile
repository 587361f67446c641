# syntax=docker/dockerfile:1.7
# aurora-logs: one image for every mode (run, discovery, processor, demo, parse, digest).
#
#   docker buildx build --platform linux/arm64 -t REGISTRY/aurora-logs:TAG --push .
#   docker buildx build --platform linux/arm64,linux/amd64 -t REGISTRY/aurora-logs:TAG --push .
#
# Each platform is built natively for its TARGETPLATFORM: on an arm64 (Graviton) builder that is
# a plain build; on an amd64 host buildx runs the arm64 stages under QEMU (binfmt), which works
# but is several times slower. Cross-compiling from BUILDPLATFORM is not used because
# rdkafka-sys runs librdkafka's own ./configure with the host's `cc`.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm
# cargo-chef turns the workspace's manifests into a recipe, so the dependency build is a layer
# of its own that only Cargo.toml/Cargo.lock changes invalidate.
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION
# Build dependencies come with the rust image (buildpack-deps): gcc, make and perl for the
# vendored librdkafka (./configure, no cmake), aws-lc, zstd and mimalloc (cc crate).
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG TARGETPLATFORM
# zlib for librdkafka is built into the binary, so the runtime image needs no libz.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,id=cargo-registry-${TARGETPLATFORM},target=/usr/local/cargo/registry \
    cargo chef cook --release --locked --no-default-features --recipe-path recipe.json --bin aurora-logs
COPY . .
RUN --mount=type=cache,id=cargo-registry-${TARGETPLATFORM},target=/usr/local/cargo/registry \
    cargo build --release --locked --no-default-features --bin aurora-logs \
    && install -D -m 0755 target/release/aurora-logs /out/aurora-logs \
    && install -d -m 0750 /out/state /out/tmp \
    && /out/aurora-logs --version

# distroless/cc: glibc, libgcc, CA certificates and nothing else (no shell, no package manager).
# The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
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
