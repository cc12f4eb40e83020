package wasmhost

// The record callback the C library calls (on its own thread, never
// concurrently). This file's preamble may only declare, not define: cgo
// copies it into two C files because of the //export below.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export wasmhostGoRecord
func wasmhostGoRecord(userData unsafe.Pointer, line *C.uint8_t, n C.size_t) {
	sink := cgo.Handle(uintptr(userData)).Value().(*recordSink)
	// The bytes are valid only during the call: the sink gets its own copy.
	sink.deliver(C.GoBytes(unsafe.Pointer(line), C.int(n)))
}
