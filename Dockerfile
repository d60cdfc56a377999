# pinit's image: nothing but the static binary at /sbin/pinit.
#
#	docker build -t pinit .
#
# Use it as the entrypoint of your own image:
#
#	COPY --from=pinit /sbin/pinit /sbin/pinit
#	ENTRYPOINT ["/sbin/pinit"]
#	CMD ["uvicorn", "app:app", "--fd", "3", "--no-access-log"]
#
# GO_IMAGE is the build stage's Go toolchain image. Where no registry can be reached,
# integration/testdata/docker/go-image.sh makes a stand-in from the machine's own Go:
#
#	integration/testdata/docker/go-image.sh pinit-go:local
#	docker build --network none --build-arg GO_IMAGE=pinit-go:local -t pinit .
#
# VERSION is what `pinit --version` prints. Builds with the legacy builder and BuildKit
# alike; `docker buildx build --platform linux/arm64` cross-builds through TARGETARCH.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
# The modules first, in their own layer, so that a change to the code does not fetch them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
	go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/pinit .

FROM scratch
COPY --from=build /out/pinit /sbin/pinit
ENTRYPOINT ["/sbin/pinit"]
