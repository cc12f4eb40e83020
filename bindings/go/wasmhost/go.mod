module wasmhost.test/bindings/go/wasmhost

go 1.21
