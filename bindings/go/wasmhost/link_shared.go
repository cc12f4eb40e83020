//go:build wasmhost_shared

package wasmhost

// With `-tags wasmhost_shared`, libwasmhost_capi.so is loaded at start-up
// (found through CGO_LDFLAGS' -L at link time and an rpath or
// LD_LIBRARY_PATH at run time).

// #cgo LDFLAGS: -lwasmhost_capi
import "C"
