# ferrocol's image: built from this repository, run as a non-root user on a distroless base
# (no shell, no package manager). Nothing is written to disk at run time, so the container
# runs with readOnlyRootFilesystem: true and needs no writable volume.
#
#   docker build -t ferrocol:latest .
#   docker run --rm -v "$PWD/configs/local.yaml:/conf/config.yaml:ro" --network host ferrocol:latest
#
# The binary also answers to /otelcol, /otelcol-contrib and /otelcol-k8s, so manifests that
# pin `command:` to an otelcol image's binary work after swapping only the image.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and build artifacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ferrocol \
 && mkdir -p /out \
 && cp target/release/ferrocol /out/ferrocol \
 && ln -s ferrocol /out/otelcol \
 && ln -s ferrocol /out/otelcol-contrib \
 && ln -s ferrocol /out/otelcol-k8s

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /
# distroless's nonroot user and group.
USER 65532:65532
# OTLP gRPC and HTTP, self-metrics, health_check.
EXPOSE 4317 4318 8888 13133
ENTRYPOINT ["/ferrocol"]
CMD ["--config", "/conf/config.yaml"]
