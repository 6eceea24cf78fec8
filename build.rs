fn main() {
    // Link settings for a Node addon; the engine alone (no `napi` feature) needs none.
    if std::env::var_os("CARGO_FEATURE_NAPI").is_some() {
        napi_build::setup();
    }
}
