//go:build wasmhost_shared

package wasmhost

const linkMode = "shared"
