//! s3-bun-cached-fs: a filesystem-shaped API over S3-compatible object storage.
//! The engine (pure Rust, tested with `cargo test`) sits under thin napi bindings.

pub mod cache;
pub mod engine;
pub mod error;
pub mod namespace;
pub mod path;
pub mod protocol;
pub mod store;

#[cfg(feature = "napi")]
mod bindings;

#[cfg(test)]
mod fuzz_tests;
