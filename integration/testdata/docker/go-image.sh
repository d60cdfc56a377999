#!/usr/bin/env bash
# go-image.sh TAG makes TAG, a local image that stands in for golang:1.26-bookworm as the
# build stage of pinit's Dockerfile on a machine that cannot reach an image registry:
#
#	integration/testdata/docker/go-image.sh pinit-go:local
#	docker build --network none --build-arg GO_IMAGE=pinit-go:local -t pinit .
#
# It is made from this machine's own files, with no network and no base image: one layer
# that `docker import` reads from a tar stream of
#
#	/usr/local/go  the host's GOROOT (wherever it is), without its tests, docs and cmd sources
#	/bin/sh        a static busybox (Debian's busybox-static), for the Dockerfile's RUN lines
#	/goproxy       a module proxy holding exactly the modules pinit's go.mod needs, copied from
#	               the host's module cache (run `go mod download` here first if it is cold);
#	               GOPROXY=file:///goproxy, so `go mod download` in the image never dials out
#	/tmp           empty, for go build's work directory
#	/root/.cache/go-build
#	               GOCACHE: empty, or with GOCACHE_SEED=<dir> (below) already warm
#
# CGO_ENABLED=0 and GOTOOLCHAIN=local are set in the image: there is no C compiler, and the
# toolchain is the host's. The image is for this machine's architecture only.
#
# Compiling the standard library and the modules from a cold cache takes the build stage
# a minute or two here. With GOCACHE_SEED=<dir>, the script first builds pinit on the host
# exactly as the Dockerfile does (CGO_ENABLED=0, -trimpath) with <dir> as GOCACHE, and ships
# <dir> as the image's GOCACHE: the build stage then finds every package compiled and only
# links. Keep <dir> between runs (the tests use ~/.cache/pinit/go-image-gocache), so that the
# host build is incremental too. The seed only saves time: the build is the same without it.
set -euo pipefail

tag=${1:?usage: go-image.sh TAG}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
goroot=$(go env GOROOT)
busybox=${BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || { echo "go-image.sh: no $busybox (apt-get install busybox-static)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tmp" "$stage/root/.cache" "$stage/goproxy"
chmod 1777 "$stage/tmp"
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"

# The module cache's download directory is laid out as a GOPROXY: copy the .info, .mod
# and .zip files of every module `go mod download` needs, at the same relative paths.
cache=$(go env GOMODCACHE)/cache/download
files=$(cd "$repo" && GOFLAGS=-mod=readonly go mod download -json |
	sed -n 's/^[[:space:]]*"\(Info\|GoMod\|Zip\)": "\(.*\)",\{0,1\}$/\2/p')
for f in $files; do
	rel=${f#"$cache"/}
	[[ $rel != "$f" ]] || { echo "go-image.sh: $f is not under $cache" >&2; exit 1; }
	mkdir -p "$stage/goproxy/$(dirname "$rel")"
	cp "$f" "$stage/goproxy/$rel"
done

if [[ -n ${GOCACHE_SEED:-} ]]; then
	mkdir -p "$GOCACHE_SEED"
	(cd "$repo" && GOCACHE=$GOCACHE_SEED GOFLAGS= CGO_ENABLED=0 \
		go build -trimpath -buildvcs=false -o /dev/null .)
	cp -a "$GOCACHE_SEED" "$stage/root/.cache/go-build"
else
	mkdir "$stage/root/.cache/go-build"
fi

g=${goroot#/}
tar -c --numeric-owner -C "$stage" bin tmp root goproxy \
	-C / --exclude="$g/test" --exclude="$g/api" --exclude="$g/doc" --exclude="$g/misc" \
	--exclude="$g/src/cmd" --exclude="$g/pkg/obj" \
	--transform="s,^$g,usr/local/go,S" "$g" |
	docker import \
		--change 'ENV PATH=/go/bin:/usr/local/go/bin:/bin' \
		--change 'ENV GOPATH=/go' \
		--change 'ENV HOME=/root' \
		--change 'ENV GOCACHE=/root/.cache/go-build' \
		--change 'ENV GOPROXY=file:///goproxy' \
		--change 'ENV GOSUMDB=off' \
		--change 'ENV GOTOOLCHAIN=local' \
		--change 'ENV CGO_ENABLED=0' \
		--change 'WORKDIR /go' \
		--message "pinit: local Go build image from $(go version)" \
		- "$tag" >/dev/null
echo "$tag"
