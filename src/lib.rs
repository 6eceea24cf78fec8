//! s3-bun-cached-fs: a filesystem-shaped API over S3-compatible object storage.
//! The engine (pure Rust, tested with `cargo test`) sits under thin napi bindings.

pub mod error;
pub mod store;

mod bindings;
