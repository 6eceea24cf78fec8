//! What changed between two trees (each a namespace in SQLite): paths added, modified, deleted,
//! renamed (an inode at a new path), or whose type or mode changed, with sizes. Contents are compared
//! by their extents, never read.

use super::*;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed,
    TypeChanged,
    ModeChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub change: ChangeKind,
    /// Where a renamed entry was.
    pub from_path: Option<String>,
    /// The entry's kind (after the change; before it for a deletion).
    pub kind: Kind,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
}

/// Every entry under the root, by path (the root itself excluded).
fn entries(conn: &Connection) -> FsResult<BTreeMap<String, Inode>> {
    let mut all = Vec::new();
    namespace::walk(conn, namespace::ROOT_INO, &VPath::root(), &mut all)?;
    Ok(all.into_iter().map(|(p, n)| (p.to_string(), n)).collect())
}

fn under(path: &str, root: &VPath) -> bool {
    root.is_root() || {
        let r = root.to_string();
        path == r
            || path
                .strip_prefix(&r)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// What changed from tree `a` to tree `b` (both in full), limited to `root`. An inode at a new path is
/// a rename; a renamed directory's contents are not listed again.
pub(crate) fn diff_trees(a: &Connection, b: &Connection, root: &VPath) -> FsResult<Vec<Change>> {
    let (before, after) = (entries(a)?, entries(b)?);
    let path_of = |m: &BTreeMap<String, Inode>| -> HashMap<Ino, String> {
        m.iter().map(|(p, n)| (n.ino, p.clone())).collect()
    };
    let (before_at, after_at) = (path_of(&before), path_of(&after));
    let mut out = Vec::new();
    let mut renamed: Vec<(String, String)> = Vec::new();
    for (path, n) in &after {
        let old_path = before_at
            .get(&n.ino)
            .filter(|p| *p != path && !after.contains_key(*p));
        let change = match (before.get(path), old_path) {
            (None, Some(from)) => {
                let inside_renamed_dir = renamed.iter().any(|(f, t)| {
                    path.strip_prefix(t.as_str()).is_some_and(|rest| {
                        rest.starts_with('/') && from.strip_prefix(f.as_str()) == Some(rest)
                    })
                });
                renamed.push((from.clone(), path.clone()));
                if inside_renamed_dir && before[from].same_content(n) {
                    continue;
                }
                Some((ChangeKind::Renamed, Some(from.clone()), before.get(from)))
            }
            (None, None) => Some((ChangeKind::Added, None, None)),
            (Some(o), _) if o.kind != n.kind => Some((ChangeKind::TypeChanged, None, Some(o))),
            (Some(o), _) if !o.same_content(n) => Some((ChangeKind::Modified, None, Some(o))),
            (Some(o), _) if o.mode != n.mode => Some((ChangeKind::ModeChanged, None, Some(o))),
            _ => None,
        };
        if let Some((change, from_path, old)) = change {
            if under(path, root) || from_path.as_deref().is_some_and(|f| under(f, root)) {
                out.push(Change {
                    path: path.clone(),
                    change,
                    from_path,
                    kind: n.kind,
                    size_before: old.map(|o| o.size),
                    size_after: Some(n.size),
                });
            }
        }
    }
    for (path, o) in &before {
        let moved = after_at
            .get(&o.ino)
            .is_some_and(|p| p != path && !before.contains_key(p));
        if !after.contains_key(path) && !moved && under(path, root) {
            out.push(Change {
                path: path.clone(),
                change: ChangeKind::Deleted,
                from_path: None,
                kind: o.kind,
                size_before: Some(o.size),
                size_after: None,
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}

impl Mount {
    /// What changed from `from` to `to` (this mount's current state when `None`), under `path`.
    pub async fn diff(
        self: &Arc<Self>,
        from: At,
        to: Option<At>,
        path: Option<String>,
    ) -> FsResult<Vec<Change>> {
        self.check_open("diff")?;
        let root = normalize(path.as_deref().unwrap_or("/"), "diff")?;
        let (_, a) = self.tree_at(&from).await?;
        let b = match &to {
            Some(at) => Some(self.tree_at(at).await?.1),
            None => None,
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || match b {
            Some(b) => diff_trees(&a, &b, &root),
            None => {
                let (conn, _) = me.snapshot()?;
                let r = diff_trees(&a, &conn, &root);
                me.release_snapshot(conn);
                r
            }
        })
        .await
        .map_err(|e| FsError::internal("diff", e.to_string()))?
    }
}
