//go:build !wasmhost_shared

package wasmhost

// Static by default: libwasmhost_capi.a is linked into the Go binary, which
// then needs nothing at run time. The directory comes from CGO_LDFLAGS
// (-L$CARGO_TARGET_DIR/release/deps; the Makefile sets it).

// #cgo LDFLAGS: -l:libwasmhost_capi.a -lpthread -ldl -lm -Wl,-z,noexecstack
import "C"
