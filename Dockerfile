# The image of the testbed's own services (docker-compose.yml): static Go
# binaries of every command on an empty base, so an entry point is always a
# binary in exec form and never needs a shell.
#
#   docker build -t ocluster-go .                    (or: docker-compose build)
#   docker build --build-arg GO_IMAGE=my/golang:1.26 -t ocluster-go .
#
# GO_IMAGE is the builder: any image with Go 1.26 or newer and a shell. The
# final stage is `scratch`, which nothing has to pull.
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Modules first, so that a change in the sources reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The folders the services write are writable by whichever user they run as
# (OCLUSTER_USER in docker-compose.yml); a fresh named volume copies these
# modes.
RUN go build -ldflags=-s -o /out/usr/local/bin/ \
        ./cmd/ocluster-scheduler ./cmd/ocluster-worker ./cmd/ocluster-client \
        ./cmd/ocluster-admin ./cmd/ocluster-stress ./cmd/ocluster-sim \
    && mkdir -p /out/tmp /out/capnp-secrets /out/var/lib/ocluster /out/var/lib/worker /out/var/lib/ocluster-sim \
    && chmod 1777 /out/tmp /out/capnp-secrets /out/var/lib/ocluster /out/var/lib/worker /out/var/lib/ocluster-sim

FROM scratch
COPY --from=build /out/ /
ENV PATH=/usr/local/bin
WORKDIR /var/lib/ocluster
CMD ["ocluster-scheduler", "--help"]
