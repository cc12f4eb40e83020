module wasmhost.test/guests

go 1.21
