//! Restore: the tree (or some paths) made what it was at a retained commit, as one new commit that
//! reuses the stored bytes.

use super::*;
use crate::engine::request::{Content, Request};
use crate::engine::writes::FsWrites;

impl Mount {
    /// Makes the tree (or just `paths`) what it was at `at`, as one new commit that reuses the stored
    /// bytes. History stays linear: nothing before is rewritten.
    pub async fn restore(
        self: &Arc<Self>,
        at: At,
        paths: Option<Vec<String>>,
    ) -> FsResult<CommitInfo> {
        self.check_writable("restore", "/")?;
        let (_, target) = self.tree_at(&at).await?;
        let roots = paths.unwrap_or_else(|| vec!["/".to_string()]);
        let mut plan: Vec<(VPath, Vec<Request>)> = Vec::new();
        for raw in &roots {
            let root = normalize(raw, "restore")?;
            let node = namespace::resolve(&target, root.clone(), false, "restore", raw)
                .ok()
                .and_then(|r| r.node);
            let mut reqs = Vec::new();
            if let Some(node) = node {
                let mut all = vec![(root.clone(), node.clone())];
                if node.kind == Kind::Dir {
                    let mut below = Vec::new();
                    namespace::walk(&target, node.ino, &root, &mut below)?;
                    all.extend(below);
                }
                for (i, (path, n)) in all.into_iter().enumerate() {
                    reqs.extend(recreate(&path, &n, i == 0)?);
                }
            }
            plan.push((root, reqs));
        }
        self.write(Box::new(move |batch| {
            for (root, reqs) in plan {
                let doomed = if root.is_root() {
                    batch.children("/")?
                } else {
                    vec![root.to_string()]
                };
                for p in doomed {
                    let rm = Request::Rm {
                        path: p,
                        recursive: true,
                        force: true,
                    };
                    // Not there now (under what is now a file, say): nothing to remove.
                    match batch.submit(rm) {
                        Err(e) if super::absent(&e) => {}
                        other => other?,
                    }
                }
                for r in reqs {
                    batch.submit(r)?;
                }
            }
            Ok(())
        }))
        .await
    }
}

/// Requests that make `path` the entry `n`, with its missing parents when `parents` (the first entry
/// of a restored subtree; the others come after their parent). The root is left as it is.
fn recreate(path: &VPath, n: &Inode, parents: bool) -> FsResult<Vec<Request>> {
    if path.is_root() {
        return Ok(Vec::new());
    }
    let p = path.to_string();
    let parent = path.split_last().map(|(d, _)| d.to_string());
    let mut reqs: Vec<Request> = parent
        .filter(|d| parents && d != "/")
        .map(|d| Request::Mkdir {
            path: d,
            recursive: true,
        })
        .into_iter()
        .collect();
    match n.kind {
        Kind::Dir => {
            reqs.push(Request::Mkdir {
                path: p.clone(),
                recursive: true,
            });
            reqs.push(Request::SetAttr {
                path: p,
                mode: Some(n.mode),
                mtime: Some(n.mtime),
                syscall: "chmod",
            });
        }
        Kind::File => reqs.push(Request::Write {
            path: p,
            content: Content {
                extents: n.extents()?,
                size: n.size,
            },
            opts: WriteOptions {
                mode: Some(n.mode),
                mtime: Some(n.mtime),
                ..Default::default()
            },
        }),
        Kind::Symlink => reqs.push(Request::Symlink {
            target: n.target.clone().unwrap_or_default(),
            path: p,
        }),
    }
    Ok(reqs)
}
