//! Call-stack scripts: what a simulated task does between context switches, as calls, returns
//! and work, looping forever. Driving an [`LbrCpu`] with it produces the call-stack-mode LBR
//! contents a sample would see. The `tchain_edit` script is the perf test program used by the
//! upstream report (main -> f1 -> f2 -> f3, hot in f3; spec/task-data-slab-page-size.md A.3).
//!
//! Addresses: function `i` of a script starts at `0x400000 + i * 0x1000`; its call site is at
//! `+0x40` and a sample's ip inside it at `+0x80`.

use super::lbr::LbrCpu;
use crate::{Error, Result};

/// One step of a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Call function `i` (index into the script's function names).
    Call(u16),
    /// Return to the caller.
    Ret,
    /// Run in the current function for this many nanoseconds of the task's own time.
    Work(u64),
}

/// A looping call-stack script: a root function (index 0, entered without a call) and ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallScript {
    names: Vec<String>,
    ops: Vec<Op>,
}

const BASE: u64 = 0x40_0000;
const FN_STRIDE: u64 = 0x1000;

impl CallScript {
    /// Build a script; function 0 is the root. Every call targets a known function, returns never
    /// pop the root, the stack is back at the root at the end, and some work is done per loop.
    pub fn new(names: Vec<String>, ops: Vec<Op>) -> Result<Self> {
        if names.is_empty() || names.len() > 256 {
            return Err(Error::Usage(format!("call script needs 1..=256 functions, got {}", names.len())));
        }
        let mut depth = 0i64;
        let mut work = 0u64;
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Call(f) if (f as usize) >= names.len() || f == 0 => {
                    return Err(Error::Usage(format!("op {i}: call of function {f} (have 1..{})", names.len())))
                }
                Op::Call(_) => depth += 1,
                Op::Ret => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(Error::Usage(format!("op {i}: return from the root function")));
                    }
                }
                Op::Work(n) => work = work.saturating_add(n),
            }
        }
        if depth != 0 {
            return Err(Error::Usage(format!("call script ends {depth} frames deep; it must return to the root")));
        }
        if work == 0 {
            return Err(Error::Usage("call script does no work per loop (sum of Work is 0)".into()));
        }
        Ok(CallScript { names, ops })
    }

    /// The `tchain_edit` loop: main works `main_ns`, calls f1 (works `f1_ns`), which calls f2
    /// (`f2_ns`), which calls f3 (hot, `f3_ns`); then all return.
    pub fn tchain_edit(main_ns: u64, f1_ns: u64, f2_ns: u64, f3_ns: u64) -> Result<Self> {
        let names = ["main", "f1", "f2", "f3"].map(String::from).to_vec();
        use Op::*;
        Self::new(
            names,
            vec![Work(main_ns), Call(1), Work(f1_ns), Call(2), Work(f2_ns), Call(3), Work(f3_ns), Ret, Ret, Ret],
        )
    }

    /// A noise task: `root` works, calls g1, which calls g2, then both return (pollutes the LBR).
    pub fn noise(root: &str, work_ns: u64) -> Result<Self> {
        let names = vec![root.to_string(), "g1".into(), "g2".into()];
        use Op::*;
        Self::new(names, vec![Work(work_ns), Call(1), Work(work_ns), Call(2), Work(work_ns), Ret, Ret])
    }

    /// Function names, root first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Own time of one loop iteration.
    pub fn loop_ns(&self) -> u64 {
        self.ops.iter().map(|o| if let Op::Work(n) = o { *n } else { 0 }).sum()
    }

    /// Entry address of function `f`.
    pub fn entry(f: u16) -> u64 {
        BASE + f as u64 * FN_STRIDE
    }

    /// Function index containing `addr`, if any.
    pub fn symbolize(&self, addr: u64) -> Option<&str> {
        let i = addr.checked_sub(BASE)? / FN_STRIDE;
        self.names.get(i as usize).map(|s| s.as_str())
    }
}

/// Execution state of a script (a task's position and its true call stack).
#[derive(Clone, Debug)]
pub struct ScriptCursor {
    idx: usize,
    remaining: Option<u64>,
    stack: Vec<u16>,
}

impl Default for ScriptCursor {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptCursor {
    /// At the start of the script, in the root function.
    pub fn new() -> Self {
        ScriptCursor { idx: 0, remaining: None, stack: vec![0] }
    }

    /// Apply every op due now (calls and returns, and finished work) until the cursor is inside
    /// a piece of work; calls and returns feed `lbr`.
    pub fn settle(&mut self, s: &CallScript, lbr: &mut LbrCpu) {
        loop {
            match self.remaining {
                Some(r) if r > 0 => return,
                Some(_) => {
                    self.remaining = None;
                    self.idx = (self.idx + 1) % s.ops.len();
                    continue;
                }
                None => {}
            }
            match s.ops[self.idx] {
                Op::Call(f) => {
                    let caller = *self.stack.last().expect("root frame");
                    lbr.call(CallScript::entry(caller) + 0x40, CallScript::entry(f));
                    self.stack.push(f);
                    self.idx = (self.idx + 1) % s.ops.len();
                }
                Op::Ret => {
                    self.stack.pop();
                    lbr.ret();
                    self.idx = (self.idx + 1) % s.ops.len();
                }
                Op::Work(n) => self.remaining = Some(n),
            }
        }
    }

    /// Own time until the next op (after [`ScriptCursor::settle`]).
    pub fn until_next_op(&self) -> u64 {
        self.remaining.unwrap_or(0)
    }

    /// Run for `dt` ns of own time (at most [`ScriptCursor::until_next_op`]).
    pub fn advance(&mut self, dt: u64) {
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(dt);
        }
    }

    /// The true call stack, root first.
    pub fn stack(&self) -> &[u16] {
        &self.stack
    }

    /// The sample ip: inside the current function.
    pub fn ip(&self) -> u64 {
        CallScript::entry(*self.stack.last().expect("root frame")) + 0x80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchain_edit_builds_the_full_stack_in_the_lbr() {
        let s = CallScript::tchain_edit(10, 10, 10, 100).unwrap();
        let mut lbr = LbrCpu::new(32);
        lbr.lbr_users = 1;
        let mut c = ScriptCursor::new();
        c.settle(&s, &mut lbr);
        c.advance(10);
        c.settle(&s, &mut lbr);
        c.advance(10);
        c.settle(&s, &mut lbr);
        c.advance(10);
        c.settle(&s, &mut lbr);
        assert_eq!(c.stack(), &[0, 1, 2, 3]);
        let chain: Vec<_> = lbr.callchain(c.ip()).iter().map(|a| s.symbolize(*a).unwrap().to_string()).collect();
        assert_eq!(chain, ["f3", "f2", "f1", "main"]);
        c.advance(100);
        c.settle(&s, &mut lbr);
        assert_eq!(c.stack(), &[0]);
        assert!(lbr.is_empty());
    }

    #[test]
    fn malformed_scripts_are_rejected() {
        let n = || vec!["a".to_string(), "b".to_string()];
        assert!(CallScript::new(n(), vec![Op::Ret, Op::Work(1)]).is_err());
        assert!(CallScript::new(n(), vec![Op::Call(1), Op::Work(1)]).is_err());
        assert!(CallScript::new(n(), vec![Op::Call(5), Op::Ret, Op::Work(1)]).is_err());
        assert!(CallScript::new(n(), vec![Op::Call(1), Op::Ret]).is_err());
        assert!(CallScript::new(vec![], vec![Op::Work(1)]).is_err());
    }
}
