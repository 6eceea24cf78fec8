//! The write surface (writeFile, mkdir, rm, rename, ...), defined once for a transaction and for the
//! committer's batch: each call stages its data and submits a `Request`.

use super::request::{Request, WriteOptions};
use super::stager::Stager;
use super::upload::Staged;
use super::*;

/// The write surface, defined once for a transaction and for the committer's batch (mount-level
/// writes): stage the data, then submit the request to be validated and applied whole or not at all.
pub trait FsWrites {
    fn mount(&self) -> &Arc<Mount>;
    fn stager(&mut self) -> &mut Stager;
    /// Validates and applies one request: all of it, or (with an error) none of it.
    fn submit(&mut self, req: Request) -> FsResult<()>;

    /// Creates or replaces a regular file with `data`.
    fn write_file(&mut self, raw: &str, data: &[u8], opts: WriteOptions) -> FsResult<()> {
        self.mount().check_writable("open", raw)?;
        let content = self.stager().place(data);
        self.submit(Request::Write {
            path: raw.to_string(),
            content,
            opts,
        })
    }

    /// Points a path at bytes uploaded beforehand (streamed writes, openWrite).
    fn write_staged(&mut self, raw: &str, staged: Staged, opts: WriteOptions) -> FsResult<()> {
        self.mount().check_writable("open", raw)?;
        let content = self.stager().adopt(staged);
        self.submit(Request::Write {
            path: raw.to_string(),
            content,
            opts,
        })
    }

    fn append_file(&mut self, raw: &str, data: &[u8]) -> FsResult<()> {
        self.mount().check_writable("open", raw)?;
        let content = self.stager().place(data);
        self.submit(Request::Append {
            path: raw.to_string(),
            content,
        })
    }

    fn mkdir(&mut self, raw: &str, recursive: bool) -> FsResult<()> {
        self.mount().check_writable("mkdir", raw)?;
        normalize(raw, "mkdir")?;
        self.submit(Request::Mkdir {
            path: raw.to_string(),
            recursive,
        })
    }

    fn rm(&mut self, raw: &str, recursive: bool, force: bool) -> FsResult<()> {
        self.mount().check_writable("rm", raw)?;
        self.submit(Request::Rm {
            path: raw.to_string(),
            recursive,
            force,
        })
    }

    fn rmdir(&mut self, raw: &str) -> FsResult<()> {
        self.mount().check_writable("rmdir", raw)?;
        self.submit(Request::Rmdir {
            path: raw.to_string(),
        })
    }

    fn rename(&mut self, from: &str, to: &str) -> FsResult<()> {
        self.mount().check_writable("rename", from)?;
        self.submit(Request::Rename {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    fn copy(&mut self, from: &str, to: &str, recursive: bool) -> FsResult<()> {
        self.mount().check_writable("copyfile", from)?;
        self.submit(Request::Copy {
            from: from.to_string(),
            to: to.to_string(),
            recursive,
        })
    }

    fn symlink(&mut self, target: &str, raw: &str) -> FsResult<()> {
        self.mount().check_writable("symlink", raw)?;
        if target.is_empty() || target.contains('\0') {
            return Err(FsError::invalid(
                "symlink",
                Some(raw),
                "symlink target must be a non-empty string without NUL",
            ));
        }
        self.submit(Request::Symlink {
            target: target.to_string(),
            path: raw.to_string(),
        })
    }

    fn set_attr(
        &mut self,
        raw: &str,
        mode: Option<u32>,
        mtime: Option<i64>,
        syscall: &'static str,
    ) -> FsResult<()> {
        self.mount().check_writable(syscall, raw)?;
        self.submit(Request::SetAttr {
            path: raw.to_string(),
            mode,
            mtime,
            syscall,
        })
    }
}
