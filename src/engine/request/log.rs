//! A transaction's requests, held encoded until its commit replays them (only needed when something was
//! committed since its snapshot), beside the ops they made (`OpLog`). Each request notes how many ops it
//! made, and a `writeFile` leaves its content out: it is the content of the file op it made. So a
//! `writeFile` costs its path and a few bytes instead of a `Request` with its strings (~350 bytes).

use super::{Content, Request, WriteOptions};
use crate::namespace::Op;
use crate::protocol::codec::{CodecError, CodecResult, Reader, Writer};
use crate::protocol::extents::{ExtentReader, ExtentWriter};
use crate::protocol::op_log::OpLog;

#[derive(Default)]
pub struct RequestLog {
    w: Writer,
    count: u64,
    extents: ExtentWriter,
    last_at: i64,
}

const WRITE: u8 = 0;
const APPEND: u8 = 1;
const MKDIR: u8 = 2;
const RM: u8 = 3;
const RMDIR: u8 = 4;
const RENAME: u8 = 5;
const COPY: u8 = 6;
const SYMLINK: u8 = 7;
const SET_ATTR: u8 = 8;

/// The syscalls a `SetAttr` request names, so a decoded one is the same `&'static str`.
const SET_ATTR_SYSCALLS: &[&str] = &["chmod", "utime", "utimes", "lchmod", "setattr"];

fn flags(bits: &[bool]) -> u8 {
    bits.iter()
        .enumerate()
        .fold(0, |acc, (i, b)| acc | (u8::from(*b) << i))
}

impl RequestLog {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `req`, made at `at` (ms since the epoch), which made the last `ops` ops of the log.
    pub fn push(&mut self, req: &Request, at: i64, ops: u64) {
        let w = &mut self.w;
        w.uvar(ops);
        match req {
            Request::Write { path, opts, .. } => {
                w.u8(WRITE);
                w.str(path);
                w.u8(flags(&[
                    opts.create_parents,
                    opts.exclusive,
                    opts.mode.is_some(),
                    opts.mtime.is_some(),
                ]));
                if let Some(m) = opts.mode {
                    w.uvar(u64::from(m));
                }
                if let Some(t) = opts.mtime {
                    w.ivar(t);
                }
            }
            Request::Append { path, content } => {
                w.u8(APPEND);
                w.str(path);
                w.uvar(content.size);
                self.extents.write(w, &content.extents);
            }
            Request::Mkdir { path, recursive } => {
                w.u8(MKDIR);
                w.str(path);
                w.u8(flags(&[*recursive]));
            }
            Request::Rm {
                path,
                recursive,
                force,
            } => {
                w.u8(RM);
                w.str(path);
                w.u8(flags(&[*recursive, *force]));
            }
            Request::Rmdir { path } => {
                w.u8(RMDIR);
                w.str(path);
            }
            Request::Rename { from, to } => {
                w.u8(RENAME);
                w.str(from);
                w.str(to);
            }
            Request::Copy {
                from,
                to,
                recursive,
            } => {
                w.u8(COPY);
                w.str(from);
                w.str(to);
                w.u8(flags(&[*recursive]));
            }
            Request::Symlink { target, path } => {
                w.u8(SYMLINK);
                w.str(target);
                w.str(path);
            }
            Request::SetAttr {
                path,
                mode,
                mtime,
                syscall,
            } => {
                w.u8(SET_ATTR);
                w.str(path);
                w.str(syscall);
                w.u8(flags(&[mode.is_some(), mtime.is_some()]));
                if let Some(m) = mode {
                    w.uvar(u64::from(*m));
                }
                if let Some(t) = mtime {
                    w.ivar(*t);
                }
            }
        }
        w.ivar(at.wrapping_sub(self.last_at));
        self.last_at = at;
        self.count += 1;
    }

    /// The requests with the times they were made, in order; `ops` is the log their ops went to.
    pub fn iter<'a>(
        &'a self,
        ops: &'a OpLog,
    ) -> impl Iterator<Item = CodecResult<(Request, i64)>> + 'a {
        let mut r = Reader::new(self.w.as_slice());
        let mut x = ExtentReader::with_keys(self.extents.keys().to_vec());
        let mut ops = ops.iter();
        let mut at = 0i64;
        let count = self.count;
        // One step past the last request, to find ops no request made.
        (0..=count).map_while(move |i| {
            if i == count {
                return ops
                    .next()
                    .map(|_| Err(CodecError("more ops than the requests made".into())));
            }
            Some(read_request(&mut r, &mut x, &mut ops, &mut at))
        })
    }
}

/// The next request, with the ops it made taken from `ops`.
fn read_request(
    r: &mut Reader,
    x: &mut ExtentReader,
    ops: &mut impl Iterator<Item = CodecResult<Op>>,
    at: &mut i64,
) -> CodecResult<(Request, i64)> {
    let made = (0..r.uvar()?)
        .map(|_| {
            ops.next()
                .unwrap_or_else(|| Err(CodecError("fewer ops than requests made".into())))
        })
        .collect::<CodecResult<Vec<Op>>>()?;
    let req = read(r, x, &made)?;
    *at = at.wrapping_add(r.ivar()?);
    Ok((req, *at))
}

/// A `writeFile`'s content: that of the file op it made.
fn written(made: &[Op]) -> CodecResult<Content> {
    made.iter()
        .find_map(|op| match op {
            Op::Create { size, extents, .. } | Op::SetContent { size, extents, .. } => {
                Some(Content {
                    extents: extents.clone(),
                    size: *size,
                })
            }
            _ => None,
        })
        .ok_or_else(|| CodecError("a write request made no file op".into()))
}

fn read(r: &mut Reader, x: &mut ExtentReader, made: &[Op]) -> CodecResult<Request> {
    let bit = |f: u8, i: u8| f & (1 << i) != 0;
    Ok(match r.u8()? {
        WRITE => {
            let path = r.str()?;
            let content = written(made)?;
            let f = r.u8()?;
            let mode = if bit(f, 2) { Some(r.u32()?) } else { None };
            let mtime = if bit(f, 3) { Some(r.ivar()?) } else { None };
            Request::Write {
                path,
                content,
                opts: WriteOptions {
                    create_parents: bit(f, 0),
                    exclusive: bit(f, 1),
                    mode,
                    mtime,
                },
            }
        }
        APPEND => Request::Append {
            path: r.str()?,
            content: Content {
                size: r.uvar()?,
                extents: x.read(r)?,
            },
        },
        MKDIR => Request::Mkdir {
            path: r.str()?,
            recursive: bit(r.u8()?, 0),
        },
        RM => {
            let path = r.str()?;
            let f = r.u8()?;
            Request::Rm {
                path,
                recursive: bit(f, 0),
                force: bit(f, 1),
            }
        }
        RMDIR => Request::Rmdir { path: r.str()? },
        RENAME => Request::Rename {
            from: r.str()?,
            to: r.str()?,
        },
        COPY => Request::Copy {
            from: r.str()?,
            to: r.str()?,
            recursive: bit(r.u8()?, 0),
        },
        SYMLINK => Request::Symlink {
            target: r.str()?,
            path: r.str()?,
        },
        SET_ATTR => {
            let path = r.str()?;
            let name = r.str()?;
            let syscall = SET_ATTR_SYSCALLS
                .iter()
                .find(|s| **s == name)
                .copied()
                .unwrap_or("setattr");
            let f = r.u8()?;
            Request::SetAttr {
                path,
                mode: if bit(f, 0) { Some(r.u32()?) } else { None },
                mtime: if bit(f, 1) { Some(r.ivar()?) } else { None },
                syscall,
            }
        }
        t => return Err(CodecError(format!("unknown request {t}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::Extent;

    #[test]
    fn every_request_reads_back_as_it_was_pushed() {
        let extent = |key: &str, off: u64| {
            Extent::new(
                key.into(),
                off,
                5,
                blake3::hash(key.as_bytes()).to_hex().to_string(),
            )
        };
        let content = Content {
            extents: vec![
                extent("packs/a", 0),
                extent("chunks/b", 0),
                extent("packs/a", 5),
            ],
            size: 15,
        };
        let reqs = vec![
            Request::Write {
                path: "/a/b.txt".into(),
                content: content.clone(),
                opts: WriteOptions {
                    create_parents: true,
                    exclusive: false,
                    mode: Some(0o600),
                    mtime: Some(-5),
                },
            },
            Request::Write {
                path: "/c".into(),
                content: Content {
                    extents: vec![],
                    size: 0,
                },
                opts: WriteOptions::default(),
            },
            Request::Append {
                path: "/a/b.txt".into(),
                content,
            },
            Request::Mkdir {
                path: "/d".into(),
                recursive: true,
            },
            Request::Rm {
                path: "/d".into(),
                recursive: false,
                force: true,
            },
            Request::Rmdir { path: "/e".into() },
            Request::Rename {
                from: "/x".into(),
                to: "/y".into(),
            },
            Request::Copy {
                from: "/y".into(),
                to: "/z".into(),
                recursive: true,
            },
            Request::Symlink {
                target: "../t".into(),
                path: "/l".into(),
            },
            Request::SetAttr {
                path: "/l".into(),
                mode: None,
                mtime: Some(1_700_000_000_000),
                syscall: "utime",
            },
            Request::SetAttr {
                path: "/l".into(),
                mode: Some(0o755),
                mtime: None,
                syscall: "chmod",
            },
        ];
        // What each request made: writes a file op with their content (the first after a parent).
        let file_op = |ino: i64, c: &Content| Op::Create {
            parent: 2,
            name: format!("f{ino}"),
            ino,
            mode: 0o644,
            mtime: 9,
            size: c.size,
            extents: c.extents.clone(),
        };
        let mut ops = OpLog::default();
        let mut log = RequestLog::default();
        for (i, r) in reqs.iter().enumerate() {
            let made: Vec<Op> = match r {
                Request::Write { content, .. } if i == 0 => vec![
                    Op::Mkdir {
                        parent: 1,
                        name: "a".into(),
                        ino: 2,
                        mode: 0o755,
                        mtime: 9,
                    },
                    file_op(3, content),
                ],
                Request::Write { content, .. } => vec![file_op(10 + i as i64, content)],
                _ => vec![],
            };
            made.iter().for_each(|op| ops.push(op));
            log.push(r, 1_000 + i as i64 * 7, made.len() as u64);
        }
        let back: Vec<(Request, i64)> = log.iter(&ops).collect::<CodecResult<_>>().unwrap();
        let mut extra = ops.clone();
        extra.push(&Op::Remove {
            parent: 1,
            name: "x".into(),
        });
        assert!(
            log.iter(&extra).any(|r| r.is_err()),
            "an op no request made is an error"
        );
        assert_eq!(back.len(), reqs.len());
        for (i, ((got, at), want)) in back.iter().zip(&reqs).enumerate() {
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
            assert_eq!(*at, 1_000 + i as i64 * 7);
        }
    }
}
