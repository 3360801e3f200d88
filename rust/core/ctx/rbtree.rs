//! An arena-based red-black tree: nodes live in one `Vec` and link to each other by `u32`
//! indices, freed slots go on a free list, and index 0 is a black sentinel (`NIL`). There is no
//! `unsafe` and no aliasing: a node is addressed by its [`NodeId`], which stays valid from
//! [`RbTree::insert`] until [`RbTree::remove`] (deletion moves node *links*, never node
//! contents, so handles held elsewhere — like `perf_event::group_node` — never go stale).
//!
//! Models the kernel's `lib/rbtree.c` as used by `perf_event_groups_insert()` (`rb_add()`),
//! `perf_event_groups_delete()` (`rb_erase()`), `rb_find_first()`, `rb_next()` and the cached
//! leftmost of an `rb_root_cached`. The balancing is the textbook (CLRS) formulation, not the
//! kernel's code.

use std::cmp::Ordering;

/// Handle of a node in an [`RbTree`]. `NodeId::NIL` is "no node".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The sentinel: no node.
    pub const NIL: NodeId = NodeId(0);

    /// True for the sentinel.
    #[inline]
    pub fn is_nil(self) -> bool {
        self.0 == 0
    }
}

const NIL: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Node<K, V> {
    key: K,
    val: V,
    left: u32,
    right: u32,
    parent: u32,
    red: bool,
    live: bool,
}

/// A red-black tree keyed by `K` (unique keys are the caller's job; equal keys go right, i.e.
/// after the existing ones) with a cached leftmost node.
#[derive(Clone, Debug)]
pub struct RbTree<K, V> {
    nodes: Vec<Node<K, V>>,
    root: u32,
    leftmost: u32,
    free: Vec<u32>,
    len: usize,
}

impl<K: Ord + Copy + Default, V: Copy + Default> Default for RbTree<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy + Default, V: Copy + Default> RbTree<K, V> {
    /// An empty tree (only the sentinel is allocated).
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tree with room for `n` nodes before reallocating.
    pub fn with_capacity(n: usize) -> Self {
        let mut nodes = Vec::with_capacity(n + 1);
        nodes.push(Node {
            key: K::default(),
            val: V::default(),
            left: NIL,
            right: NIL,
            parent: NIL,
            red: false,
            live: false,
        });
        RbTree { nodes, root: NIL, leftmost: NIL, free: Vec::new(), len: 0 }
    }

    /// Number of nodes in the tree.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tree holds no node.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The root node (NIL when empty).
    #[inline]
    pub fn root(&self) -> NodeId {
        NodeId(self.root)
    }

    /// The cached leftmost (smallest) node, O(1) (`rb_first_cached()`).
    #[inline]
    pub fn first(&self) -> NodeId {
        NodeId(self.leftmost)
    }

    /// Key of a live node. Panics on a stale or NIL handle (a model bug, never user input).
    #[inline]
    pub fn key(&self, n: NodeId) -> &K {
        debug_assert!(self.nodes[n.0 as usize].live);
        &self.nodes[n.0 as usize].key
    }

    /// Value of a live node.
    #[inline]
    pub fn val(&self, n: NodeId) -> V {
        debug_assert!(self.nodes[n.0 as usize].live);
        self.nodes[n.0 as usize].val
    }

    /// True if `n` is a live node of this tree.
    pub fn contains(&self, n: NodeId) -> bool {
        !n.is_nil() && (n.0 as usize) < self.nodes.len() && self.nodes[n.0 as usize].live
    }

    #[inline]
    fn l(&self, x: u32) -> u32 {
        self.nodes[x as usize].left
    }
    #[inline]
    fn r(&self, x: u32) -> u32 {
        self.nodes[x as usize].right
    }
    #[inline]
    fn p(&self, x: u32) -> u32 {
        self.nodes[x as usize].parent
    }
    #[inline]
    fn is_red(&self, x: u32) -> bool {
        self.nodes[x as usize].red
    }

    fn alloc(&mut self, key: K, val: V) -> u32 {
        let node = Node { key, val, left: NIL, right: NIL, parent: NIL, red: true, live: true };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            let i = self.nodes.len() as u32;
            self.nodes.push(node);
            i
        }
    }

    fn rotate_left(&mut self, x: u32) {
        let y = self.r(x);
        let yl = self.l(y);
        self.nodes[x as usize].right = yl;
        if yl != NIL {
            self.nodes[yl as usize].parent = x;
        }
        let xp = self.p(x);
        self.nodes[y as usize].parent = xp;
        if xp == NIL {
            self.root = y;
        } else if x == self.l(xp) {
            self.nodes[xp as usize].left = y;
        } else {
            self.nodes[xp as usize].right = y;
        }
        self.nodes[y as usize].left = x;
        self.nodes[x as usize].parent = y;
    }

    fn rotate_right(&mut self, x: u32) {
        let y = self.l(x);
        let yr = self.r(y);
        self.nodes[x as usize].left = yr;
        if yr != NIL {
            self.nodes[yr as usize].parent = x;
        }
        let xp = self.p(x);
        self.nodes[y as usize].parent = xp;
        if xp == NIL {
            self.root = y;
        } else if x == self.r(xp) {
            self.nodes[xp as usize].right = y;
        } else {
            self.nodes[xp as usize].left = y;
        }
        self.nodes[y as usize].right = x;
        self.nodes[x as usize].parent = y;
    }

    /// Insert `key -> val` and return the new node's handle (`rb_add_cached()`).
    pub fn insert(&mut self, key: K, val: V) -> NodeId {
        let z = self.alloc(key, val);
        let mut y = NIL;
        let mut x = self.root;
        let mut leftmost = true;
        while x != NIL {
            y = x;
            if key < self.nodes[x as usize].key {
                x = self.l(x);
            } else {
                x = self.r(x);
                leftmost = false;
            }
        }
        self.nodes[z as usize].parent = y;
        if y == NIL {
            self.root = z;
        } else if key < self.nodes[y as usize].key {
            self.nodes[y as usize].left = z;
        } else {
            self.nodes[y as usize].right = z;
        }
        if leftmost {
            self.leftmost = z;
        }
        self.insert_fixup(z);
        self.len += 1;
        NodeId(z)
    }

    fn insert_fixup(&mut self, mut z: u32) {
        while self.is_red(self.p(z)) {
            let zp = self.p(z);
            let zpp = self.p(zp);
            if zp == self.l(zpp) {
                let y = self.r(zpp);
                if self.is_red(y) {
                    self.nodes[zp as usize].red = false;
                    self.nodes[y as usize].red = false;
                    self.nodes[zpp as usize].red = true;
                    z = zpp;
                } else {
                    if z == self.r(zp) {
                        z = zp;
                        self.rotate_left(z);
                    }
                    let zp = self.p(z);
                    let zpp = self.p(zp);
                    self.nodes[zp as usize].red = false;
                    self.nodes[zpp as usize].red = true;
                    self.rotate_right(zpp);
                }
            } else {
                let y = self.l(zpp);
                if self.is_red(y) {
                    self.nodes[zp as usize].red = false;
                    self.nodes[y as usize].red = false;
                    self.nodes[zpp as usize].red = true;
                    z = zpp;
                } else {
                    if z == self.l(zp) {
                        z = zp;
                        self.rotate_right(z);
                    }
                    let zp = self.p(z);
                    let zpp = self.p(zp);
                    self.nodes[zp as usize].red = false;
                    self.nodes[zpp as usize].red = true;
                    self.rotate_left(zpp);
                }
            }
        }
        let root = self.root;
        self.nodes[root as usize].red = false;
    }

    fn minimum(&self, mut x: u32) -> u32 {
        while self.l(x) != NIL {
            x = self.l(x);
        }
        x
    }

    fn transplant(&mut self, u: u32, v: u32) {
        let up = self.p(u);
        if up == NIL {
            self.root = v;
        } else if u == self.l(up) {
            self.nodes[up as usize].left = v;
        } else {
            self.nodes[up as usize].right = v;
        }
        // The sentinel's parent is written on purpose (CLRS): delete_fixup starts from it.
        self.nodes[v as usize].parent = up;
    }

    /// Remove a live node (`rb_erase_cached()`), returning its key and value. Other handles
    /// stay valid. Returns `None` for NIL or a stale handle.
    pub fn remove(&mut self, n: NodeId) -> Option<(K, V)> {
        if !self.contains(n) {
            return None;
        }
        let z = n.0;
        if z == self.leftmost {
            self.leftmost = self.next(n).0;
        }
        let mut y = z;
        let mut y_red = self.is_red(y);
        let x;
        if self.l(z) == NIL {
            x = self.r(z);
            self.transplant(z, x);
        } else if self.r(z) == NIL {
            x = self.l(z);
            self.transplant(z, x);
        } else {
            y = self.minimum(self.r(z));
            y_red = self.is_red(y);
            x = self.r(y);
            if self.p(y) == z {
                self.nodes[x as usize].parent = y;
            } else {
                self.transplant(y, x);
                let zr = self.r(z);
                self.nodes[y as usize].right = zr;
                self.nodes[zr as usize].parent = y;
            }
            self.transplant(z, y);
            let zl = self.l(z);
            self.nodes[y as usize].left = zl;
            self.nodes[zl as usize].parent = y;
            self.nodes[y as usize].red = self.is_red(z);
        }
        if !y_red {
            self.delete_fixup(x);
        }
        // Restore the sentinel.
        self.nodes[0].parent = NIL;
        self.nodes[0].red = false;
        let node = &mut self.nodes[z as usize];
        node.live = false;
        let out = (node.key, node.val);
        self.free.push(z);
        self.len -= 1;
        Some(out)
    }

    fn delete_fixup(&mut self, mut x: u32) {
        while x != self.root && !self.is_red(x) {
            let xp = self.p(x);
            if x == self.l(xp) {
                let mut w = self.r(xp);
                if self.is_red(w) {
                    self.nodes[w as usize].red = false;
                    self.nodes[xp as usize].red = true;
                    self.rotate_left(xp);
                    w = self.r(self.p(x));
                }
                if !self.is_red(self.l(w)) && !self.is_red(self.r(w)) {
                    self.nodes[w as usize].red = true;
                    x = self.p(x);
                } else {
                    if !self.is_red(self.r(w)) {
                        let wl = self.l(w);
                        self.nodes[wl as usize].red = false;
                        self.nodes[w as usize].red = true;
                        self.rotate_right(w);
                        w = self.r(self.p(x));
                    }
                    let xp = self.p(x);
                    self.nodes[w as usize].red = self.is_red(xp);
                    self.nodes[xp as usize].red = false;
                    let wr = self.r(w);
                    self.nodes[wr as usize].red = false;
                    self.rotate_left(xp);
                    x = self.root;
                }
            } else {
                let mut w = self.l(xp);
                if self.is_red(w) {
                    self.nodes[w as usize].red = false;
                    self.nodes[xp as usize].red = true;
                    self.rotate_right(xp);
                    w = self.l(self.p(x));
                }
                if !self.is_red(self.r(w)) && !self.is_red(self.l(w)) {
                    self.nodes[w as usize].red = true;
                    x = self.p(x);
                } else {
                    if !self.is_red(self.l(w)) {
                        let wr = self.r(w);
                        self.nodes[wr as usize].red = false;
                        self.nodes[w as usize].red = true;
                        self.rotate_left(w);
                        w = self.l(self.p(x));
                    }
                    let xp = self.p(x);
                    self.nodes[w as usize].red = self.is_red(xp);
                    self.nodes[xp as usize].red = false;
                    let wl = self.l(w);
                    self.nodes[wl as usize].red = false;
                    self.rotate_right(xp);
                    x = self.root;
                }
            }
        }
        self.nodes[x as usize].red = false;
    }

    /// In-order successor (`rb_next()`), NIL after the last node.
    #[inline]
    pub fn next(&self, n: NodeId) -> NodeId {
        let mut x = n.0;
        if x == NIL {
            return NodeId::NIL;
        }
        if self.r(x) != NIL {
            return NodeId(self.minimum(self.r(x)));
        }
        let mut y = self.p(x);
        while y != NIL && x == self.r(y) {
            x = y;
            y = self.p(y);
        }
        NodeId(y)
    }

    /// The leftmost node whose key compares `Equal` under `cmp` (`rb_find_first()`); `cmp`
    /// says how a node's key orders against the search target and must be monotone along the
    /// in-order sequence. Also returns the number of nodes probed.
    #[inline]
    pub fn find_first_by<F: Fn(&K) -> Ordering>(&self, cmp: F) -> (NodeId, u32) {
        let mut x = self.root;
        let mut found = NIL;
        let mut probes = 0;
        while x != NIL {
            probes += 1;
            match cmp(&self.nodes[x as usize].key) {
                Ordering::Less => x = self.r(x),
                Ordering::Equal => {
                    found = x;
                    x = self.l(x);
                }
                Ordering::Greater => x = self.l(x),
            }
        }
        (NodeId(found), probes)
    }

    /// The leftmost node whose key is not `Less` under `cmp` (a lower bound).
    pub fn lower_bound_by<F: Fn(&K) -> Ordering>(&self, cmp: F) -> NodeId {
        let mut x = self.root;
        let mut found = NIL;
        while x != NIL {
            if cmp(&self.nodes[x as usize].key) == Ordering::Less {
                x = self.r(x);
            } else {
                found = x;
                x = self.l(x);
            }
        }
        NodeId(found)
    }

    /// Iterate `(node, key, value)` in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter { tree: self, cur: NodeId(self.leftmost) }
    }

    /// Check every red-black and bookkeeping invariant: root black, no red node with a red
    /// child, equal black height on every root-to-leaf path, in-order keys non-decreasing,
    /// parent links consistent, cached leftmost correct, `len` correct. Returns the black
    /// height. Used by the property tests.
    pub fn check(&self) -> Result<usize, String> {
        if self.is_red(self.root) {
            return Err("root is red".into());
        }
        if self.root != NIL && self.p(self.root) != NIL {
            return Err("root has a parent".into());
        }
        let (bh, count) = self.check_sub(self.root)?;
        if count != self.len {
            return Err(format!("len {} but {} reachable nodes", self.len, count));
        }
        let min = if self.root == NIL { NIL } else { self.minimum(self.root) };
        if min != self.leftmost {
            return Err(format!("cached leftmost {} but minimum is {}", self.leftmost, min));
        }
        let mut prev: Option<K> = None;
        for (_, k, _) in self.iter() {
            if let Some(p) = prev {
                if p > *k {
                    return Err("in-order keys decrease".into());
                }
            }
            prev = Some(*k);
        }
        Ok(bh)
    }

    fn check_sub(&self, x: u32) -> Result<(usize, usize), String> {
        if x == NIL {
            return Ok((1, 0));
        }
        if !self.nodes[x as usize].live {
            return Err(format!("node {x} reachable but freed"));
        }
        let (l, r) = (self.l(x), self.r(x));
        for c in [l, r] {
            if c != NIL && self.p(c) != x {
                return Err(format!("node {c} has a wrong parent link"));
            }
        }
        if self.is_red(x) && (self.is_red(l) || self.is_red(r)) {
            return Err(format!("red node {x} has a red child"));
        }
        let key = &self.nodes[x as usize].key;
        if l != NIL && self.nodes[l as usize].key > *key {
            return Err(format!("left child of {x} is larger"));
        }
        if r != NIL && self.nodes[r as usize].key < *key {
            return Err(format!("right child of {x} is smaller"));
        }
        let (bl, cl) = self.check_sub(l)?;
        let (br, cr) = self.check_sub(r)?;
        if bl != br {
            return Err(format!("black heights differ under node {x}: {bl} vs {br}"));
        }
        Ok((bl + usize::from(!self.is_red(x)), cl + cr + 1))
    }
}

/// In-order iterator over an [`RbTree`].
pub struct Iter<'a, K, V> {
    tree: &'a RbTree<K, V>,
    cur: NodeId,
}

impl<'a, K: Ord + Copy + Default, V: Copy + Default> Iterator for Iter<'a, K, V> {
    type Item = (NodeId, &'a K, V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur.is_nil() {
            return None;
        }
        let n = self.cur;
        self.cur = self.tree.next(n);
        let node = &self.tree.nodes[n.0 as usize];
        Some((n, &node.key, node.val))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_keeps_order_and_invariants() {
        let mut t: RbTree<u32, u32> = RbTree::new();
        let mut ids = Vec::new();
        for k in [5u32, 3, 8, 1, 4, 7, 9, 2, 6] {
            ids.push((k, t.insert(k, k * 10)));
            t.check().unwrap();
        }
        let keys: Vec<u32> = t.iter().map(|(_, k, _)| *k).collect();
        assert_eq!(keys, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(*t.key(t.first()), 1);
        for (k, id) in ids {
            assert_eq!(t.remove(id), Some((k, k * 10)));
            t.check().unwrap();
            assert_eq!(t.remove(id), None, "stale handle must be refused");
        }
        assert!(t.is_empty());
        assert!(t.first().is_nil());
    }

    #[test]
    fn find_first_returns_leftmost_equal() {
        let mut t: RbTree<(u32, u32), ()> = RbTree::new();
        for a in 0..4 {
            for b in 0..5 {
                t.insert((a, b), ());
            }
        }
        let (n, probes) = t.find_first_by(|k| k.0.cmp(&2));
        assert_eq!(*t.key(n), (2, 0));
        assert!(probes >= 1);
        assert!(t.find_first_by(|k| k.0.cmp(&9)).0.is_nil());
    }
}
