//! The workspace's integration tests, as one test binary.
//!
//! Each file was its own `[[test]]` target once; every such binary linked
//! wasmtime, cranelift, tract and onnxruntime again, which made the link step
//! most of a cold `make test`. One binary links them once (wasmtime's own
//! `tests/all` does the same). A file is still one area: run it alone with
//! `cargo test --release --workspace --test all -- harden::`.
//!
//! Most tests run the real `wasmhost` binary on the guests the Makefile
//! builds (`common`); `embed` and `embed_harden` drive the library in-process
//! as a gateway does (`shared`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/shared.rs"]
mod shared;

mod cli;
mod component;
mod detect;
mod embed;
mod embed_harden;
mod export;
mod fuzz_corpus;
mod harden;
mod lift;
mod limits;
mod logs;
mod nn;
mod routing;
mod run;
mod serve;
mod testsuite;
