//! Nothing to call: this crate only takes part in feature resolution.
//!
//! `wasmhost-cli` depends on it so that `cargo build -p wasmhost-cli` turns on
//! the same features of shared dependencies as `cargo test --workspace`
//! does, and the second build reuses the first one's wasmtime, cranelift and
//! tract instead of compiling them again. See its `Cargo.toml` for the list
//! and `scripts/check-build-units.sh` for the check that keeps it true.
