# dnagpu in a container, for workflow engines (Snakemake's --software-
# deployment-method apptainer, Nextflow, Kubernetes): the `dnagpu` binary
# with its default model built in, the Vulkan loader, and Mesa's Vulkan
# drivers. It runs on the CPU backend anywhere; on a host with an NVIDIA GPU,
# the NVIDIA Container Toolkit mounts the driver's Vulkan ICD in (hence
# NVIDIA_DRIVER_CAPABILITIES below), and `--backend auto` picks the GPU.
#
#   docker build -t dnagpu .
#   docker run --rm -v "$PWD:/data" -w /data dnagpu embed --input seqs.fa --output seqs.npy
#   docker run --rm --gpus all -v "$PWD:/data" -w /data dnagpu info
#
# The browser page is not in it (it needs the wasm build; `dnagpu serve`
# says how to get it).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p dnagpu-cli \
    && strip target/release/dnagpu

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvulkan1 mesa-vulkan-drivers ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/dnagpu /usr/local/bin/dnagpu
# compute for the GPU, graphics for its Vulkan driver (ICD).
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
ENTRYPOINT ["dnagpu"]
CMD ["info"]
