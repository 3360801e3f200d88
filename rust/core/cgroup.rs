//! The machine's cgroup hierarchy as perf sees it: cgroup v2 directories with monotonically
//! increasing ids (the root is 1), parent links, names, and open directory fds.
//!
//! Models what `perf_cgroup_connect()` (kernel/events/core.c) needs from cgroupfs:
//! `css_tryget_online_from_dir()` turns an fd into a cgroup, and an fd that is not an open
//! cgroup directory is -EBADF. Directory fds live in their own integer namespace starting at
//! [`CGROUP_FD_BASE`], above the default `fs.nr_open` (1048576), so no small integer (0 =
//! stdin, an event handle, a pid) ever names a cgroup, as on a real system where those fds are
//! not cgroup directories. Task membership lives in the scheduling engine
//! ([`crate::ctx::Engine::set_task_cgroup`]); the Machine methods tie both together.

use crate::ctx::ROOT_CGROUP;
use crate::{Error, Result};
use std::collections::HashMap;

/// First cgroup directory fd handed out by [`CgroupFs::open_fd`].
pub const CGROUP_FD_BASE: i32 = 1 << 20;

/// One cgroup directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// `cgroup_id()` (the kernfs node id; the root is 1).
    pub id: u64,
    /// Directory name ("" for the root).
    pub name: String,
    /// Parent id (None for the root).
    pub parent: Option<u64>,
}

/// The hierarchy and its open directory fds.
#[derive(Clone, Debug)]
pub struct CgroupFs {
    groups: Vec<Cgroup>,
    by_id: HashMap<u64, usize>,
    next_id: u64,
    fds: HashMap<i32, u64>,
    next_fd: i32,
}

impl Default for CgroupFs {
    fn default() -> Self {
        Self::new()
    }
}

impl CgroupFs {
    /// A hierarchy holding only the root (id 1).
    pub fn new() -> Self {
        let root = Cgroup { id: ROOT_CGROUP, name: String::new(), parent: None };
        CgroupFs {
            groups: vec![root],
            by_id: HashMap::from([(ROOT_CGROUP, 0)]),
            next_id: ROOT_CGROUP + 1,
            fds: HashMap::new(),
            next_fd: CGROUP_FD_BASE,
        }
    }

    /// A cgroup by id.
    pub fn get(&self, id: u64) -> Result<&Cgroup> {
        self.by_id.get(&id).map(|&i| &self.groups[i]).ok_or_else(|| Error::NotFound(format!("no cgroup with id {id}")))
    }

    /// `mkdir`: a child of `parent` (the root if None); returns its id. A name must be
    /// non-empty, without '/', and unique among its siblings.
    pub fn create(&mut self, name: &str, parent: Option<u64>) -> Result<u64> {
        let parent = parent.unwrap_or(ROOT_CGROUP);
        self.get(parent)?;
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::Usage(format!("cgroup name {name:?} must be a non-empty directory name without '/'")));
        }
        if self.groups.iter().any(|g| g.parent == Some(parent) && g.name == name) {
            return Err(Error::Usage(format!("cgroup {name:?} already exists under cgroup {parent}")));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, self.groups.len());
        self.groups.push(Cgroup { id, name: name.to_string(), parent: Some(parent) });
        Ok(id)
    }

    /// The path of a cgroup from the root ("/" for the root, "/a/b" otherwise).
    pub fn path(&self, id: u64) -> Result<String> {
        let mut parts = Vec::new();
        let mut g = self.get(id)?;
        while let Some(p) = g.parent {
            parts.push(g.name.clone());
            g = self.get(p)?;
        }
        parts.reverse();
        Ok(format!("/{}", parts.join("/")))
    }

    /// `open()` of a cgroup directory: a new fd naming it.
    pub fn open_fd(&mut self, id: u64) -> Result<i32> {
        self.get(id)?;
        let fd = self.next_fd;
        self.next_fd =
            self.next_fd.checked_add(1).ok_or_else(|| Error::Usage("cgroup directory fds exhausted".into()))?;
        self.fds.insert(fd, id);
        Ok(fd)
    }

    /// The cgroup an fd names, if it is an open cgroup directory.
    pub fn by_fd(&self, fd: i32) -> Option<u64> {
        self.fds.get(&fd).copied()
    }

    /// All cgroups in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Cgroup> {
        self.groups.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_paths_follow_parents() {
        let mut fs = CgroupFs::new();
        let a = fs.create("a", None).unwrap();
        let b = fs.create("b", Some(a)).unwrap();
        let c = fs.create("c", None).unwrap();
        assert_eq!((a, b, c), (2, 3, 4));
        assert_eq!(fs.path(b).unwrap(), "/a/b");
        assert_eq!(fs.path(ROOT_CGROUP).unwrap(), "/");
        assert!(fs.create("a", None).is_err(), "duplicate sibling name");
        assert!(fs.create("x", Some(99)).is_err(), "unknown parent");
        assert!(fs.create("", None).is_err());
        let fd = fs.open_fd(b).unwrap();
        assert!(fd >= CGROUP_FD_BASE);
        assert_eq!(fs.by_fd(fd), Some(b));
        assert_eq!(fs.by_fd(0), None);
    }
}
