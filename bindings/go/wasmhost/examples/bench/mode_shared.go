//go:build wasmhost_shared

package main

const linkMode = "shared"
