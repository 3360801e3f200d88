//! `read()` of an event: the values and the exact `read_format` bytes.
//!
//! Models `__perf_read()` (an event in ERROR reads 0 bytes, EOF), `perf_read_one()` and
//! `perf_read_group()` / `__perf_read_group_add()` (a group read reports the leader's
//! enabled/running once, then every member's value and id; group reads use the group of the
//! event's leader) after `perf_event_update_time()`, each value and time summed over the
//! event's inherited children as `__perf_event_read_value()` does (own + `child_count` +
//! live children). Layouts: include/uapi/linux/perf_event.h
//! `struct read_format`. Spec: context-and-scheduling.md §3.10, §5.2.

use super::engine::Engine;
use crate::abi::sample::{
    PERF_FORMAT_GROUP, PERF_FORMAT_ID, PERF_FORMAT_LOST, PERF_FORMAT_TOTAL_TIME_ENABLED, PERF_FORMAT_TOTAL_TIME_RUNNING,
};
use crate::events::EventState;
use crate::Result;

/// One member's value in a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadMember {
    /// The count.
    pub value: u64,
    /// `event->id`.
    pub id: u64,
    /// Lost samples (always 0 here: no ring buffers in this engine).
    pub lost: u64,
}

/// What `read()` returns, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadValue {
    /// `attr.read_format` used.
    pub read_format: u64,
    /// `time_enabled` (ns).
    pub time_enabled: u64,
    /// `time_running` (ns).
    pub time_running: u64,
    /// One member (not a group read) or every group member, leader first.
    pub members: Vec<ReadMember>,
}

impl ReadValue {
    /// The exact bytes `read()` would copy out (native endian, u64 words).
    pub fn to_bytes(&self) -> Vec<u8> {
        let f = self.read_format;
        let mut w: Vec<u64> = Vec::new();
        let times = |w: &mut Vec<u64>| {
            if f & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
                w.push(self.time_enabled);
            }
            if f & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
                w.push(self.time_running);
            }
        };
        let member = |w: &mut Vec<u64>, m: &ReadMember| {
            w.push(m.value);
            if f & PERF_FORMAT_ID != 0 {
                w.push(m.id);
            }
            if f & PERF_FORMAT_LOST != 0 {
                w.push(m.lost);
            }
        };
        if f & PERF_FORMAT_GROUP != 0 {
            w.push(self.members.len() as u64);
            times(&mut w);
            for m in &self.members {
                member(&mut w, m);
            }
        } else {
            let m = self.members[0];
            w.push(m.value);
            times(&mut w);
            if f & PERF_FORMAT_ID != 0 {
                w.push(m.id);
            }
            if f & PERF_FORMAT_LOST != 0 {
                w.push(m.lost);
            }
        }
        w.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }
}

impl Engine {
    /// `perf_event_count()` plus the children (`__perf_event_read_value()`): own count, the
    /// folded counts of exited children and every live child's, with each child's clock
    /// brought up to date. Returns (count, enabled, running).
    pub(crate) fn value_with_children(&mut self, id: u32) -> (f64, u64, u64) {
        self.update_event_time(id);
        let e = self.e(id);
        let (mut n, mut en, mut run) = (
            e.count + e.child_count,
            e.total_time_enabled + e.child_total_time_enabled,
            e.total_time_running + e.child_total_time_running,
        );
        for i in 0..self.e(id).children.len() {
            let c = self.e(id).children[i];
            self.update_event_time(c);
            let ce = self.e(c);
            n += ce.count;
            en += ce.total_time_enabled;
            run += ce.total_time_running;
        }
        (n, en, run)
    }

    /// `read()`: `None` when the event is in ERROR (0 bytes). Values and times include the
    /// inherited children (`perf_read_one()` / `perf_read_group()` sum the child list).
    pub fn read(&mut self, id: u32) -> Result<Option<ReadValue>> {
        let e = self.ev(id)?;
        if e.state == EventState::Error {
            return Ok(None);
        }
        let f = e.spec.read_format;
        let leader = e.leader;
        if f & PERF_FORMAT_GROUP != 0 {
            let members: Vec<u32> = std::iter::once(leader).chain(self.e(leader).siblings.iter().copied()).collect();
            let mut values = Vec::with_capacity(members.len());
            let mut times = (0, 0);
            for (i, &m) in members.iter().enumerate() {
                let (n, en, run) = self.value_with_children(m);
                if i == 0 {
                    times = (en, run);
                }
                values.push(ReadMember { value: n as u64, id: self.e(m).spec.id, lost: 0 });
            }
            Ok(Some(ReadValue { read_format: f, time_enabled: times.0, time_running: times.1, members: values }))
        } else {
            let (n, en, run) = self.value_with_children(id);
            Ok(Some(ReadValue {
                read_format: f,
                time_enabled: en,
                time_running: run,
                members: vec![ReadMember { value: n as u64, id: self.e(id).spec.id, lost: 0 }],
            }))
        }
    }

    /// `read()` as bytes (empty for an event in ERROR).
    pub fn read_bytes(&mut self, id: u32) -> Result<Vec<u8>> {
        Ok(self.read(id)?.map(|v| v.to_bytes()).unwrap_or_default())
    }
}
