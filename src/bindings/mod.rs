//! napi bindings: argument conversion and error mapping only. Every call runs behind a panic guard, so
//! a Rust panic becomes an `EIO` error in JS instead of crossing the boundary.

/// The read surface, defined once for `NativeMount` and `NativeTxn`: each has a `read_view` that runs a
/// closure on its engine view (`&dyn FsRead`) behind the panic guard.
macro_rules! read_surface {
    ($ty:ident) => {
        #[napi]
        impl $ty {
            /// `stat` written into `out` as `[ino, mode, size, mtimeMs, ctimeMs]`, returning the
            /// kind: the hot path builds no object here (that costs more than the lookup).
            #[napi]
            pub fn stat_into(
                &self,
                env: Env,
                path: String,
                follow: bool,
                mut out: Float64ArraySlice,
            ) -> napi::Result<super::types::JsEntryKind> {
                let st = self.read_view(&env, "stat", |fs| fs.stat(&path, follow))?;
                // SAFETY: the JS side passes a private array it does not touch during this call.
                let out = unsafe { out.as_mut() };
                for (slot, v) in out.iter_mut().zip([
                    st.ino as f64,
                    f64::from(st.mode),
                    st.size as f64,
                    st.mtime_ms as f64,
                    st.ctime_ms as f64,
                ]) {
                    *slot = v;
                }
                Ok(st.kind.into())
            }
            #[napi]
            pub fn exists(&self, env: Env, path: String) -> napi::Result<bool> {
                self.read_view(&env, "access", |fs| Ok(fs.exists(&path)))
            }
            #[napi]
            pub fn readdir(
                &self,
                env: Env,
                path: String,
                recursive: bool,
            ) -> napi::Result<Vec<super::types::JsDirent>> {
                self.read_view(&env, "scandir", |fs| {
                    fs.readdir(&path, recursive).map(super::types::dirents)
                })
            }
            /// A small file's bytes when they are in memory, without a promise; `null` means "read
            /// it the async way". An absent path gives its error's message (`"ENOENT: ..."`) rather
            /// than a throw: a throw through napi costs more than the lookup, and scripts poll
            /// missing files in loops.
            #[napi(ts_return_type = "Buffer | string | null")]
            pub fn read_cached(
                &self,
                env: Env,
                path: String,
            ) -> napi::Result<Option<Either<Buffer, String>>> {
                self.read_view(&env, "open", |fs| match fs.read_in_memory(&path) {
                    Ok(hit) => Ok(hit.map(|b| Either::A(Buffer::from(b.as_ref())))),
                    Err(e) if crate::engine::absent(&e) => Ok(Some(Either::B(e.to_string()))),
                    Err(e) => Err(e),
                })
            }
            #[napi]
            pub fn readlink(&self, env: Env, path: String) -> napi::Result<String> {
                self.read_view(&env, "readlink", |fs| fs.readlink(&path))
            }
            #[napi]
            pub fn realpath(&self, env: Env, path: String) -> napi::Result<String> {
                self.read_view(&env, "realpath", |fs| fs.realpath(&path))
            }
        }
    };
}

mod history;
mod io;
mod mount;
mod store;
mod txn;
mod types;

use crate::error::{Code, FsError, FsResult};
use napi::bindgen_prelude::*;
use napi::{Env, JsValue};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Builds a JS `Error` with Node's `code`, `syscall`, `path` (and `dest`, `status`) properties.
pub(crate) fn js_error(env: &Env, e: &FsError) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, e.to_string()))?;
        obj.set_named_property("code", e.code.as_str())?;
        obj.set_named_property("syscall", e.syscall.as_str())?;
        if let Some(p) = &e.path {
            obj.set_named_property("path", p.as_str())?;
        }
        if let Some(d) = &e.dest {
            obj.set_named_property("dest", d.as_str())?;
        }
        if let Some(s) = e.status {
            obj.set_named_property("status", s as u32)?;
        }
        if e.code == Code::Conflict {
            // Callers retry on this flag rather than parse codes (docs/guarantees.md).
            obj.set_named_property("conflict", true)?;
        }
        if let Some(k) = e.store_kind {
            obj.set_named_property("storeError", types::JsStoreErrorKind::from(k))?;
        }
        Ok(napi::Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|err| err)
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// A JS number that must be a non-negative integer (sizes, offsets, lengths, durations).
pub(crate) fn to_u64(syscall: &str, name: &str, v: f64) -> FsResult<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 {
        Ok(v as u64)
    } else {
        Err(FsError::invalid(
            syscall,
            None,
            format!("{name} must be a non-negative integer"),
        ))
    }
}

/// A JS time in milliseconds, refused unless finite.
pub(crate) fn to_mtime(syscall: &str, path: &str, ms: Option<f64>) -> FsResult<Option<i64>> {
    match ms {
        Some(m) if !m.is_finite() => Err(FsError::invalid(
            syscall,
            Some(path),
            "mtime must be a finite number",
        )),
        other => Ok(other.map(|m| m as i64)),
    }
}

/// Runs a synchronous engine call with panics caught and errors made Node-style.
pub(crate) fn sync_call<T>(
    env: &Env,
    syscall: &str,
    f: impl FnOnce() -> FsResult<T>,
) -> napi::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(js_error(env, &e)),
        Err(p) => Err(js_error(env, &FsError::internal(syscall, panic_message(p)))),
    }
}

/// Runs an engine future on tokio and returns a promise; `convert` turns the result into a JS value on
/// the JS thread. A panic in the future rejects the promise with `EIO`.
pub(crate) fn async_call<'env, T, V, F, C>(
    env: &'env Env,
    syscall: &'static str,
    fut: F,
    convert: C,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = FsResult<T>> + Send + 'static,
    C: FnOnce(&Env, T) -> napi::Result<V> + 'static,
{
    env.spawn_future_with_callback(
        async move {
            Ok(match tokio::spawn(fut).await {
                Ok(r) => r,
                Err(join) if join.is_panic() => {
                    Err(FsError::internal(syscall, panic_message(join.into_panic())))
                }
                Err(join) => Err(FsError::internal(syscall, join.to_string())),
            })
        },
        move |env, r| match r {
            Ok(v) => convert(env, v),
            Err(e) => Err(js_error(env, &e)),
        },
    )
}
