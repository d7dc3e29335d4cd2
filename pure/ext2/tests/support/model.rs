//! A model of a tree and random steps done on a volume and the model
//! alike (the write and crash tests), and checks of a dumped tree against
//! the model.

use std::collections::BTreeMap;
use std::path::Path;

use ext2::{Error, Ino, Volume};

use super::{MemDisk, Rng, block_on, debugfs};

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Dir,
    File(usize),
    Link(Vec<u8>),
}

/// The model: paths (without a leading slash) and file contents by id
/// (hard links share an id).
#[derive(Clone, Default)]
pub struct Model {
    pub paths: BTreeMap<String, Node>,
    pub data: Vec<Vec<u8>>,
    /// Leave out renames of a directory into another directory (the crash
    /// test: no order of two entry changes in two directories survives a
    /// crash between them without `e2fsck` asking, as with Linux's ext2).
    pub no_dir_moves: bool,
}

impl Model {
    pub fn dirs(&self) -> Vec<String> {
        let mut d = vec![String::new()];
        d.extend(self.paths.iter().filter(|(_, n)| **n == Node::Dir).map(|(p, _)| p.clone()));
        d
    }
    pub fn files(&self) -> Vec<String> {
        self.paths.iter().filter(|(_, n)| matches!(n, Node::File(_))).map(|(p, _)| p.clone()).collect()
    }
    pub fn children(&self, dir: &str) -> Vec<String> {
        self.paths.keys().filter(|p| parent(p) == dir).cloned().collect()
    }
    pub fn under(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        self.paths.keys().filter(|p| p.starts_with(&prefix)).cloned().collect()
    }
}

pub fn parent(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

pub fn base(p: &str) -> &[u8] {
    p.rsplit('/').next().unwrap().as_bytes()
}

pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

pub fn resolve(vol: &mut Volume<MemDisk>, path: &str) -> Ino {
    let mut ino = vol.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        ino = block_on(vol.lookup(ino, c.as_bytes())).unwrap_or_else(|e| panic!("lookup {c} in {path}: {e}"));
    }
    ino
}

pub fn pick<'a>(rng: &mut Rng, v: &'a [String]) -> Option<&'a String> {
    (!v.is_empty()).then(|| &v[rng.below(v.len() as u64) as usize])
}

pub fn content(rng: &mut Rng) -> Vec<u8> {
    let n = match rng.below(10) {
        0 => 0,
        1..=5 => rng.below(5000),
        6..=8 => rng.below(80_000),
        _ => rng.below(1_500_000),
    };
    rng.bytes(n as usize)
}

/// One random step, done on the volume and the model alike.
pub fn step(vol: &mut Volume<MemDisk>, m: &mut Model, rng: &mut Rng, n: usize) -> String {
    let dirs = m.dirs();
    let files = m.files();
    match rng.below(12) {
        0 | 1 => {
            let dir = pick(rng, &dirs).unwrap().clone();
            let path = join(&dir, &format!("f{n}-{}", "x".repeat(rng.below(60) as usize)));
            let d = resolve(vol, &dir);
            let ino = block_on(vol.create(d, base(&path), 0o644, 0, 0)).unwrap();
            let bytes = content(rng);
            assert_eq!(block_on(vol.write(ino, 0, &bytes)).unwrap(), bytes.len());
            m.data.push(bytes);
            m.paths.insert(path.clone(), Node::File(m.data.len() - 1));
            format!("create {path}")
        }
        2 => {
            let Some(path) = pick(rng, &files).cloned() else { return "nothing to write".into() };
            let Node::File(id) = m.paths[&path] else { unreachable!() };
            let len = m.data[id].len() as u64;
            let at = rng.below(len + 20_000);
            let bytes = content(rng);
            let ino = resolve(vol, &path);
            assert_eq!(block_on(vol.write(ino, at, &bytes)).unwrap(), bytes.len());
            let d = &mut m.data[id];
            let end = at as usize + bytes.len();
            // A write of nothing leaves the size alone.
            if !bytes.is_empty() {
                if d.len() < end {
                    d.resize(end, 0);
                }
                d[at as usize..end].copy_from_slice(&bytes);
            }
            format!("write {} bytes at {at} of {path}", bytes.len())
        }
        3 => {
            let Some(path) = pick(rng, &files).cloned() else { return "nothing to truncate".into() };
            let Node::File(id) = m.paths[&path] else { unreachable!() };
            let size = rng.below(m.data[id].len() as u64 * 2 + 5000);
            let ino = resolve(vol, &path);
            block_on(vol.truncate(ino, size)).unwrap();
            m.data[id].resize(size as usize, 0);
            format!("truncate {path} to {size}")
        }
        4 | 5 => {
            let dir = pick(rng, &dirs).unwrap().clone();
            let path = join(&dir, &format!("d{n}"));
            let d = resolve(vol, &dir);
            block_on(vol.mkdir(d, base(&path), 0o755, 0, 0)).unwrap();
            m.paths.insert(path.clone(), Node::Dir);
            format!("mkdir {path}")
        }
        6 => {
            let Some(path) = pick(rng, &dirs[1..]).cloned() else { return "no directory to remove".into() };
            let d = resolve(vol, parent(&path));
            let r = block_on(vol.rmdir(d, base(&path)));
            if m.children(&path).is_empty() {
                r.unwrap();
                m.paths.remove(&path);
            } else {
                assert_eq!(r, Err(Error::NotEmpty));
            }
            format!("rmdir {path}")
        }
        7 | 8 => {
            let names: Vec<String> = m.paths.iter().filter(|(_, n)| **n != Node::Dir).map(|(p, _)| p.clone()).collect();
            let Some(path) = pick(rng, &names).cloned() else { return "nothing to unlink".into() };
            let d = resolve(vol, parent(&path));
            let gone = block_on(vol.unlink(d, base(&path))).unwrap();
            if gone.last {
                block_on(vol.release(gone.ino)).unwrap();
            }
            m.paths.remove(&path);
            format!("unlink {path}")
        }
        9 => {
            let all: Vec<String> = m.paths.keys().cloned().collect();
            let Some(from) = pick(rng, &all).cloned() else { return "nothing to rename".into() };
            // Onto an existing name of the same kind half the time.
            let same: Vec<String> = all.iter().filter(|p| (m.paths[*p] == Node::Dir) == (m.paths[&from] == Node::Dir)).cloned().collect();
            let to = if rng.below(2) == 0 { pick(rng, &same).unwrap().clone() } else { join(pick(rng, &dirs).unwrap(), &format!("r{n}")) };
            if m.no_dir_moves && m.paths[&from] == Node::Dir && parent(&from) != parent(&to) {
                return format!("(no directory moves: {from} stays)");
            }
            let (fd, td) = (resolve(vol, parent(&from)), resolve(vol, parent(&to)));
            let r = block_on(vol.rename(fd, base(&from), td, base(&to)));
            let is_dir = m.paths[&from] == Node::Dir;
            if is_dir && (to == from || to.starts_with(&format!("{from}/"))) {
                if to != from {
                    assert_eq!(r, Err(Error::Invalid));
                } else {
                    assert_eq!(r, Ok(None));
                }
                return format!("rename {from} into itself");
            }
            if is_dir && m.paths.contains_key(&to) && !m.children(&to).is_empty() {
                assert_eq!(r, Err(Error::NotEmpty));
                return format!("rename {from} onto non-empty {to}");
            }
            let replaced = r.unwrap_or_else(|e| panic!("rename {from} -> {to}: {e}"));
            if let Some(gone) = replaced.filter(|g| g.last) {
                block_on(vol.release(gone.ino)).unwrap();
            }
            // Two names of one file: rename does nothing (POSIX).
            let same_file = matches!(m.paths.get(&to), Some(Node::File(a)) if m.paths[&from] == Node::File(*a));
            if from != to && !same_file {
                let node = m.paths.remove(&from).unwrap();
                let moved: Vec<(String, Node)> = m
                    .under(&from)
                    .into_iter()
                    .map(|p| {
                        let v = m.paths.remove(&p).unwrap();
                        (p, v)
                    })
                    .collect();
                m.paths.insert(to.clone(), node);
                for (p, v) in moved {
                    m.paths.insert(format!("{to}{}", &p[from.len()..]), v);
                }
            }
            format!("rename {from} -> {to}")
        }
        10 => {
            let Some(src) = pick(rng, &files).cloned() else { return "nothing to link".into() };
            let dir = pick(rng, &dirs).unwrap().clone();
            let path = join(&dir, &format!("l{n}"));
            let (ino, d) = (resolve(vol, &src), resolve(vol, &dir));
            block_on(vol.link(d, base(&path), ino)).unwrap();
            let node = m.paths[&src].clone();
            m.paths.insert(path.clone(), node);
            format!("link {src} as {path}")
        }
        _ => {
            let dir = pick(rng, &dirs).unwrap().clone();
            let path = join(&dir, &format!("s{n}"));
            let target = format!("target-{}", "t".repeat(rng.below(300) as usize)).into_bytes();
            let d = resolve(vol, &dir);
            block_on(vol.symlink(d, base(&path), &target, 0, 0)).unwrap();
            m.paths.insert(path.clone(), Node::Link(target));
            format!("symlink {path}")
        }
    }
}

/// `debugfs rdump` of the whole volume must equal the model.
pub fn check_dump(img: &Path, m: &Model, out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    debugfs(img, &format!("rdump / {}", out.display()));
    let root = out.join("root"); // rdump names the root's copy after "/"... see below
    let root = if root.exists() { root } else { out.to_path_buf() };
    for (path, node) in &m.paths {
        let p = root.join(path);
        match node {
            Node::Dir => assert!(p.is_dir(), "{path} is a directory in the model"),
            Node::File(id) => {
                let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
                let want = &m.data[*id];
                let first = got.iter().zip(want.iter()).position(|(a, b)| a != b);
                assert!(
                    got == *want,
                    "contents of {path}: {} bytes on the disk, {} in the model, first difference at {first:?}",
                    got.len(),
                    want.len()
                );
            }
            Node::Link(t) => assert_eq!(std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes(), *t, "{path}"),
        }
    }
    let mut on_disk = 0;
    for e in walk(&root) {
        if !e.starts_with("lost+found") {
            on_disk += 1;
            assert!(m.paths.contains_key(&e), "{e} is on the disk but not in the model");
        }
    }
    assert_eq!(on_disk, m.paths.len());
}

pub fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}
