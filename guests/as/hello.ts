// hello: one line to stdout, one to stderr, exit 0.
// (wasi-shim's console.error writes to stdout with an "Error: " prefix, so
// stderr is written through process.stderr.)
console.log("hello from assemblyscript");
process.stderr.write("hello from assemblyscript on stderr\n");
