#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 from Debian bookworm's source package
# `kubernetes`, once, into a cache outside the repository. Later runs (tests, demo, CI on the same
# machine) find the binaries there and return at once.
#
# Why from source: there is no container engine and no downloadable Kubernetes binary on these machines,
# but Debian ships the whole v1.20.2 tree with its vendor/ directory. Facts this script relies on:
# - GOPATH mode (GO111MODULE=off) with golang-1.19; module mode fails with "updates to go.mod needed";
# - the tarball lacks pkg/generated/openapi/zz_generated.openapi.go: generate it with the vendored
#   openapi-gen;
# - vendored reflect2 v1.0.1 crashes under Go >= 1.18 (SIGSEGV encoding maps): replace it with Debian's
#   golang-github-modern-go-reflect2-dev (1.0.2);
# - the version must be stamped into both component-base and client-go (by their vendor/ import paths),
#   or /version says v0.0.0.
set -euo pipefail

K8S_VERSION=v1.20.2
CACHE_DIR=${TENANT_PROXY_CACHE:-$HOME/.cache/tenant-proxy}
OUT_DIR="$CACHE_DIR/kubernetes-$K8S_VERSION"
BIN_DIR="$OUT_DIR/bin"
BINARIES=(kube-apiserver kube-controller-manager)
# Bump when the recipe changes, so binaries cached by an older recipe are rebuilt.
RECIPE=3

log() { printf '[control-plane build] %s\n' "$*" >&2; }

all_built() {
  local b
  [ "$(cat "$BIN_DIR/.recipe" 2>/dev/null)" = "$RECIPE" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$BIN_DIR/$b" ] || return 1; done
}

if all_built && [ "${1:-}" != "--force" ]; then
  log "binaries present in $BIN_DIR"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  local missing=()
  local p
  for p in golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev dpkg-dev openssl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Writes a private apt configuration whose deb-src entries are derived from the machine's own Debian
# entries (same URIs and suites), so no mirror host is ever written into the repository and the system's
# configuration is left untouched.
private_apt_options() {
  local apt_dir="$CACHE_DIR/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d"
  : >"$apt_dir/sources.list"
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -qi 'debian' "$f" || continue
    sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$apt_dir/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    grep -E '^deb[[:space:]]' "$f" | grep -i debian | sed -E 's/^deb[[:space:]]/deb-src /' >>"$apt_dir/sources.list" || true
  done
  printf '%s\n' \
    -o "Dir::Etc::SourceList=$apt_dir/sources.list" \
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d" \
    -o "Dir::State::Lists=$apt_dir/lists" \
    -o "Dir::Cache=$apt_dir/cache" \
    -o "APT::Get::List-Cleanup=0" \
    -o "APT::Sandbox::User=root"
}

fetch_source() {
  local src_dir="$OUT_DIR/src"
  if [ -d "$src_dir/kubernetes/cmd/kube-apiserver" ]; then return; fi
  local opts
  mapfile -t opts < <(private_apt_options)
  mkdir -p "$CACHE_DIR/apt/cache/archives/partial"
  log "fetching Debian's kubernetes source package (about 30 MB)"
  apt-get "${opts[@]}" update -qq
  rm -rf "$OUT_DIR/fetch" && mkdir -p "$OUT_DIR/fetch"
  (cd "$OUT_DIR/fetch" && apt-get "${opts[@]}" source --download-only -qq kubernetes >/dev/null)
  local dsc
  dsc=$(ls "$OUT_DIR"/fetch/kubernetes_*.dsc | head -n 1)
  (cd "$OUT_DIR/fetch" && dpkg-source --no-check -x "$dsc" tree >/dev/null)
  # GOPATH mode wants the tree at $GOPATH/src/k8s.io/kubernetes.
  mkdir -p "$src_dir/gopath/src/k8s.io"
  rm -rf "$src_dir/gopath/src/k8s.io/kubernetes"
  mv "$OUT_DIR/fetch/tree" "$src_dir/gopath/src/k8s.io/kubernetes"
  ln -sfn "gopath/src/k8s.io/kubernetes" "$src_dir/kubernetes"
  rm -rf "$OUT_DIR/fetch"
}

patch_source() {
  local tree="$1"
  local reflect2="$tree/vendor/github.com/modern-go/reflect2"
  if ! grep -q 'reflect2 1.0.2' "$reflect2/.tenant-proxy-patched" 2>/dev/null; then
    log "replacing vendored reflect2 1.0.1 with Debian's 1.0.2 (Go >= 1.18 crash)"
    rm -rf "$reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$reflect2"
    rm -f "$reflect2/go.mod" "$reflect2/go.sum"
    echo 'reflect2 1.0.2' >"$reflect2/.tenant-proxy-patched"
  fi
}

go_env() {
  export GOPATH="$OUT_DIR/src/gopath" GO111MODULE=off GOFLAGS= CGO_ENABLED=0
  export GOCACHE="$CACHE_DIR/go-build-cache" PATH="/usr/lib/go-1.19/bin:$PATH"
}

generate_openapi() {
  local tree="$1"
  local target="$tree/pkg/generated/openapi/zz_generated.openapi.go"
  [ -s "$target" ] && return
  log "generating pkg/generated/openapi (about a minute)"
  (cd "$tree" && go build -o "$OUT_DIR/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen)
  # The input packages are the ones Kubernetes' own build feeds openapi-gen (Makefile.generated_files):
  # every package with a Go file carrying the +k8s:openapi-gen tag, on the package or on a type.
  local inputs
  inputs=$(cd "$tree" && grep -rl --include='*.go' --exclude='*_test.go' '+k8s:openapi-gen=' pkg staging/src 2>/dev/null \
    | xargs -n1 dirname | sed -E 's#^(vendor/|staging/src/)##; s#^pkg/#k8s.io/kubernetes/pkg/#' \
    | sort -u | paste -sd, -)
  (cd "$tree" && "$OUT_DIR/openapi-gen" \
    --input-dirs "$inputs" \
    --output-package k8s.io/kubernetes/pkg/generated/openapi \
    --output-base "$GOPATH/src" \
    -O zz_generated.openapi \
    --go-header-file hack/boilerplate/boilerplate.generatego.txt \
    --report-filename /dev/null)
}

build_binaries() {
  local tree="$1"
  local ldflags="" pkg
  # In GOPATH mode vendored packages live under k8s.io/kubernetes/vendor/: -X must name that path.
  for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2021-01-13T13:20:00Z"
    ldflags+=" -X $pkg.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56"
  done
  mkdir -p "$BIN_DIR"
  local b
  for b in "${BINARIES[@]}"; do
    [ -x "$BIN_DIR/$b" ] && [ "${FORCE:-}" != 1 ] && [ "$(cat "$BIN_DIR/.recipe" 2>/dev/null)" = "$RECIPE" ] && continue
    log "building $b (kube-apiserver takes about 3 minutes on 2 cores)"
    (cd "$tree" && go build -ldflags "$ldflags" -o "$BIN_DIR/$b.tmp" "./cmd/$b")
    mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
  done
  echo "$RECIPE" >"$BIN_DIR/.recipe"
}

main() {
  [ "${1:-}" = "--force" ] && FORCE=1
  install_packages
  mkdir -p "$OUT_DIR"
  fetch_source
  go_env
  local tree="$OUT_DIR/src/gopath/src/k8s.io/kubernetes"
  patch_source "$tree"
  generate_openapi "$tree"
  build_binaries "$tree"
  log "done: $(ls "$BIN_DIR" | tr '\n' ' ')in $BIN_DIR"
}

main "$@"
