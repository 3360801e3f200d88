//! ioctl(2) on an event fd: `perf_ioctl()` -> `_perf_ioctl()` and the helpers it calls
//! (_perf_event_enable/_disable/_reset with PERF_IOC_FLAG_GROUP through perf_event_for_each(),
//! _perf_event_refresh(), _perf_event_period(), perf_event_set_output(),
//! perf_event_set_filter(), the BPF calls, rb_toggle_paused(), perf_event_modify_attr()) in
//! kernel/events/core.c. Facts: spec/ring-buffer-aux-records.md §2.7, §3.1 and
//! spec/anchors-performance-reliability.md §4 (errno map, SET_OUTPUT's 64-bit -1).
//!
//! The model passes what the kernel reads through the pointer argument by value: PERIOD's u64,
//! SET_FILTER's string, MODIFY_ATTRIBUTES' attr bytes; ID returns the id it would write.

use super::{EventId, EventState};
use crate::abi::ioctl::*;
use crate::abi::types::{PERF_TYPE_BREAKPOINT, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT};
use crate::abi::AttrFlag;
use crate::events::attr_copy::perf_copy_attr;
use crate::machine::Machine;
use crate::pmu::{caps, PmuId};
use crate::task::TaskId;
use crate::{Errno, Error, Result};

/// The `unsigned long` argument of an event ioctl, as the model takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoctlArg {
    /// An integer: flags, a count, a period, a file descriptor number (`u64::MAX` is -1).
    Value(u64),
    /// The fd of another event of the same machine (SET_OUTPUT, SET_BPF).
    Event(EventId),
    /// The string SET_FILTER would copy in.
    Filter(String),
    /// The `struct perf_event_attr` bytes MODIFY_ATTRIBUTES would copy in.
    Attr(Vec<u8>),
}

/// What perf_event_set_output() looks at on either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputPeer {
    /// The event (a not-yet-installed event at open time has the id it will get).
    pub id: EventId,
    /// `event->cpu`.
    pub cpu: i32,
    /// `event->hw.target`.
    pub task: Option<TaskId>,
    /// `event->clock` (None: the default clock).
    pub clock: Option<i32>,
    /// `is_write_backward()`.
    pub backward: bool,
    /// `has_aux()`: the PMU has an AUX area.
    pub has_aux: bool,
    /// `event->pmu`.
    pub pmu: PmuId,
    /// `event->state`.
    pub state: EventState,
}

/// The checks of `perf_event_set_output(event, output_event)`, in the kernel's order;
/// `event_mmapped` is `event->mmap_count != 0`, `target_rb_mapped` whether the target has a
/// ring with a live mapping. `target == None` detaches. Every refusal is EINVAL.
pub fn set_output_rules(event: &OutputPeer, event_mmapped: bool, target: Option<(&OutputPeer, bool)>) -> Result<()> {
    let einval = |why: String| Err(Error::perf(Errno::EINVAL, why));
    if let Some((t, _)) = target {
        if t.id == event.id {
            return einval(format!("SET_OUTPUT: event {} cannot redirect its output to itself", event.id.0));
        }
        if t.cpu != event.cpu {
            return einval(format!("SET_OUTPUT: target cpu = {} differs from the event's cpu = {}", t.cpu, event.cpu));
        }
        if t.cpu == -1 && t.task != event.task {
            return einval("SET_OUTPUT: per-task target (cpu = -1) monitors a different task".into());
        }
        if t.clock != event.clock {
            return einval(format!(
                "SET_OUTPUT: target clock {:?} differs from the event's {:?}",
                t.clock, event.clock
            ));
        }
        if t.backward != event.backward {
            return einval("SET_OUTPUT: attr.write_backward differs between the event and the target".into());
        }
        if event.has_aux && t.has_aux && event.pmu != t.pmu {
            return einval("SET_OUTPUT: both events have AUX areas on different PMUs".into());
        }
    }
    if event_mmapped {
        return einval(format!("SET_OUTPUT: event {} has its own ring buffer mapped", event.id.0));
    }
    if let Some((t, mapped)) = target {
        if t.state <= EventState::Revoked {
            return einval(format!("SET_OUTPUT: target event {} was revoked", t.id.0));
        }
        if !mapped {
            return einval(format!("SET_OUTPUT: target event {} has no mapped ring buffer", t.id.0));
        }
    }
    Ok(())
}

/// The ioctl number of a name (`enable`, `PERF_EVENT_IOC_ENABLE`, ... case-insensitive).
pub fn ioctl_by_name(name: &str) -> Option<u32> {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("perf_event_ioc_").unwrap_or(&n);
    Some(match n {
        "enable" => PERF_EVENT_IOC_ENABLE,
        "disable" => PERF_EVENT_IOC_DISABLE,
        "refresh" => PERF_EVENT_IOC_REFRESH,
        "reset" => PERF_EVENT_IOC_RESET,
        "period" => PERF_EVENT_IOC_PERIOD,
        "set_output" => PERF_EVENT_IOC_SET_OUTPUT,
        "set_filter" => PERF_EVENT_IOC_SET_FILTER,
        "id" => PERF_EVENT_IOC_ID,
        "set_bpf" => PERF_EVENT_IOC_SET_BPF,
        "pause_output" => PERF_EVENT_IOC_PAUSE_OUTPUT,
        "query_bpf" => PERF_EVENT_IOC_QUERY_BPF,
        "modify_attributes" => PERF_EVENT_IOC_MODIFY_ATTRIBUTES,
        _ => return None,
    })
}

fn value(cmd: &str, arg: &IoctlArg) -> Result<u64> {
    match arg {
        IoctlArg::Value(v) => Ok(*v),
        other => Err(Error::Usage(format!("{cmd} takes an integer argument, not {other:?}"))),
    }
}

impl Machine {
    /// What SET_OUTPUT checks about an installed event.
    pub fn output_peer(&self, id: EventId) -> Result<OutputPeer> {
        let e = self.events.get(id)?;
        Ok(OutputPeer {
            id,
            cpu: e.cpu,
            task: e.task,
            clock: e.clock,
            backward: e.attr.flag(AttrFlag::WriteBackward),
            has_aux: self.pmus.get(e.pmu).pmu.capabilities() & caps::ITRACE != 0,
            pmu: e.pmu,
            state: e.state,
        })
    }

    /// Whether `target` has a ring with a live mapping (`rb && rb->mmap_count`).
    pub fn rb_mapped(&self, target: EventId) -> bool {
        self.ring_view(target).is_some_and(|v| v.mmap_count > 0)
    }

    /// `perf_event_set_output()`: redirect `event`'s output into `target`'s ring (None
    /// detaches it, giving it no ring).
    pub fn perf_event_set_output(&mut self, event: EventId, target: Option<EventId>) -> Result<()> {
        let me = self.output_peer(event)?;
        let t = match target {
            Some(t) => Some((self.output_peer(t)?, self.rb_mapped(t))),
            None => None,
        };
        set_output_rules(&me, self.buffers.output(event).mmap_count != 0, t.as_ref().map(|(p, m)| (p, *m)))?;
        let key = target.and_then(|t| self.buffers.rb_of(t));
        self.buffers.attach(event, key);
        Ok(())
    }

    /// `ioctl(fd, cmd, arg)` on event `event` (`_perf_ioctl()`). Returns the ioctl's result:
    /// 0, or for PERF_EVENT_IOC_ID the id written to `*arg`.
    pub fn perf_ioctl(&mut self, event: EventId, cmd: u32, arg: &IoctlArg) -> Result<u64> {
        if self.events.get(event)?.state <= EventState::Revoked {
            return Err(Error::perf(Errno::ENODEV, format!("event {} was revoked (its PMU is gone)", event.0)));
        }
        match cmd {
            PERF_EVENT_IOC_ENABLE | PERF_EVENT_IOC_DISABLE | PERF_EVENT_IOC_RESET => {
                // `u32 flags = arg`
                let flags = value("ENABLE/DISABLE/RESET", arg)? as u32;
                let targets = if u64::from(flags) & PERF_IOC_FLAG_GROUP != 0 {
                    let l = self.events.get(event)?.group_leader;
                    std::iter::once(l).chain(self.events.get(l)?.siblings.iter().copied()).collect()
                } else {
                    vec![event]
                };
                for t in targets {
                    match cmd {
                        PERF_EVENT_IOC_ENABLE => self.enable_event(t)?,
                        PERF_EVENT_IOC_DISABLE => self.disable_event(t)?,
                        _ => self.perf_event_reset(t)?,
                    }
                }
                Ok(0)
            }
            PERF_EVENT_IOC_REFRESH => {
                self.perf_event_refresh(event, value("REFRESH", arg)? as i32)?;
                Ok(0)
            }
            PERF_EVENT_IOC_PERIOD => {
                self.perf_event_period(event, value("PERIOD", arg)?)?;
                Ok(0)
            }
            PERF_EVENT_IOC_ID => Ok(self.events.get(event)?.id),
            PERF_EVENT_IOC_SET_OUTPUT => {
                let target = match arg {
                    IoctlArg::Event(t) => Some(*t),
                    IoctlArg::Value(u64::MAX) => None,
                    IoctlArg::Value(fd) => {
                        return Err(Error::perf(
                            Errno::EBADF,
                            format!("SET_OUTPUT: arg = {fd:#x} is not a perf event fd"),
                        ))
                    }
                    other => return Err(Error::Usage(format!("SET_OUTPUT takes an event or -1, not {other:?}"))),
                };
                if let Some(t) = target {
                    self.events
                        .get(t)
                        .map_err(|_| Error::perf(Errno::EBADF, format!("SET_OUTPUT: event {} is closed", t.0)))?;
                }
                self.perf_event_set_output(event, target)?;
                Ok(0)
            }
            PERF_EVENT_IOC_SET_FILTER => {
                let IoctlArg::Filter(f) = arg else {
                    return Err(Error::Usage(format!("SET_FILTER takes a filter string, not {arg:?}")));
                };
                let e = self.events.get(event)?;
                if e.attr.type_ != PERF_TYPE_TRACEPOINT {
                    return Err(Error::perf(
                        Errno::EINVAL,
                        format!(
                            "SET_FILTER {f:?}: event type {} is not a tracepoint and its PMU has no address filters",
                            e.attr.type_
                        ),
                    ));
                }
                Ok(0)
            }
            PERF_EVENT_IOC_SET_BPF => Err(match arg {
                IoctlArg::Event(t) => {
                    Error::perf(Errno::EINVAL, format!("SET_BPF: fd of event {} is not a BPF program", t.0))
                }
                IoctlArg::Value(fd) => Error::perf(
                    Errno::EBADF,
                    format!("SET_BPF: fd {} names no BPF program (the model loads none)", *fd as u32),
                ),
                other => Error::Usage(format!("SET_BPF takes a BPF program fd, not {other:?}")),
            }),
            PERF_EVENT_IOC_PAUSE_OUTPUT => {
                let pause = value("PAUSE_OUTPUT", arg)? != 0;
                match self.buffers.get_mut(event) {
                    Some(b) => b.ring.pause_output(pause)?,
                    None => {
                        return Err(Error::perf(
                            Errno::EINVAL,
                            format!("PAUSE_OUTPUT: event {} has no ring buffer", event.0),
                        ))
                    }
                }
                Ok(0)
            }
            PERF_EVENT_IOC_QUERY_BPF => {
                if !self.caller.cap_perfmon {
                    return Err(Error::perf(Errno::EPERM, "QUERY_BPF needs CAP_PERFMON"));
                }
                let t = self.events.get(event)?.attr.type_;
                if t != PERF_TYPE_TRACEPOINT {
                    return Err(Error::perf(Errno::EINVAL, format!("QUERY_BPF: event type {t} is not a tracepoint")));
                }
                Ok(0)
            }
            PERF_EVENT_IOC_MODIFY_ATTRIBUTES => {
                let IoctlArg::Attr(bytes) = arg else {
                    return Err(Error::Usage(format!("MODIFY_ATTRIBUTES takes attr bytes, not {arg:?}")));
                };
                let new = perf_copy_attr(bytes, &self.sysctl, &self.caller).result?;
                let e = self.events.get(event)?;
                // perf_swevent_init() moves cpu-clock / task-clock to their own PMUs' dynamic
                // types: `event->attr.type` is the PMU's type for software-typed events
                let old = if e.attr.type_ == PERF_TYPE_SOFTWARE { self.pmus.get(e.pmu).type_ } else { e.attr.type_ };
                if new.type_ != old {
                    return Err(Error::perf(
                        Errno::EINVAL,
                        format!("MODIFY_ATTRIBUTES: attr.type = {} differs from the event's type {old}", new.type_),
                    ));
                }
                Err(Error::perf(
                    Errno::EOPNOTSUPP,
                    format!(
                        "MODIFY_ATTRIBUTES: only breakpoint events (type {PERF_TYPE_BREAKPOINT}) can be modified, not type {old}"
                    ),
                ))
            }
            other => Err(Error::perf(Errno::ENOTTY, format!("ioctl cmd {other:#x} is not a perf event ioctl"))),
        }
    }

    /// `_perf_event_reset()`: read the event (fold its time), then zero its count.
    pub fn perf_event_reset(&mut self, event: EventId) -> Result<()> {
        self.events.get(event)?;
        self.sched.ev(event.0)?;
        self.sched.update_event_time(event.0);
        self.sched.em(event.0).count = 0.0;
        Ok(())
    }

    /// `_perf_event_refresh()`: EINVAL for inherited or non-sampling events; else add `refresh`
    /// to `event_limit` and enable the event.
    pub fn perf_event_refresh(&mut self, event: EventId, refresh: i32) -> Result<()> {
        let a = &self.events.get(event)?.attr;
        if a.flag(AttrFlag::Inherit) {
            return Err(Error::perf(Errno::EINVAL, "REFRESH: attr.inherit events cannot be refreshed"));
        }
        if a.sample_period == 0 {
            return Err(Error::perf(Errno::EINVAL, "REFRESH: the event is not sampling (attr.sample_period = 0)"));
        }
        let o = self.buffers.output_mut(event);
        o.event_limit = o.event_limit.wrapping_add(refresh);
        self.enable_event(event)
    }

    /// `_perf_event_period()`: a new sample period (or frequency for `attr.freq` events).
    pub fn perf_event_period(&mut self, event: EventId, value: u64) -> Result<()> {
        let max_rate = self.sysctl.perf_event_max_sample_rate;
        let a = &mut self.events.get_mut(event)?.attr;
        let einval = |why: String| Err(Error::perf(Errno::EINVAL, why));
        if a.sample_period == 0 {
            return einval("PERIOD: the event is not sampling (attr.sample_period = 0)".into());
        }
        if value == 0 {
            return einval("PERIOD: value = 0".into());
        }
        if a.flag(AttrFlag::Freq) {
            if value > max_rate {
                return einval(format!(
                    "PERIOD: sample_freq = {value} > kernel.perf_event_max_sample_rate = {max_rate}"
                ));
            }
        } else if value & (1 << 63) != 0 {
            return einval(format!("PERIOD: sample_period = {value:#x} has bit 63 set"));
        }
        a.sample_period = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32) -> OutputPeer {
        OutputPeer {
            id: EventId(id),
            cpu: -1,
            task: Some(TaskId(1)),
            clock: None,
            backward: false,
            has_aux: false,
            pmu: PmuId(0),
            state: EventState::Inactive,
        }
    }

    fn errno(r: Result<()>) -> Option<Errno> {
        match r {
            Err(Error::Perf { errno, .. }) => Some(errno),
            _ => None,
        }
    }

    #[test]
    fn names_map_to_uapi_numbers() {
        assert_eq!(ioctl_by_name("ENABLE"), Some(0x2400));
        assert_eq!(ioctl_by_name("perf_event_ioc_set_output"), Some(0x2405));
        assert_eq!(ioctl_by_name("bogus"), None);
    }

    #[test]
    fn set_output_refuses_each_mismatch_with_einval() {
        let a = peer(1);
        assert_eq!(set_output_rules(&a, false, Some((&peer(2), true))).ok(), Some(()));
        let cases: Vec<(OutputPeer, bool, bool)> = vec![
            (peer(1), false, true),                                         // itself
            (OutputPeer { cpu: 0, task: None, ..peer(2) }, false, true),    // other cpu
            (OutputPeer { task: Some(TaskId(9)), ..peer(2) }, false, true), // other task
            (OutputPeer { clock: Some(1), ..peer(2) }, false, true),        // other clock
            (OutputPeer { backward: true, ..peer(2) }, false, true),        // other direction
            (peer(2), true, true),                                          // source mmapped
            (OutputPeer { state: EventState::Revoked, ..peer(2) }, false, true),
            (peer(2), false, false), // target not mapped
        ];
        for (t, mmapped, mapped) in cases {
            assert_eq!(errno(set_output_rules(&a, mmapped, Some((&t, mapped)))), Some(Errno::EINVAL), "{t:?}");
        }
        assert_eq!(errno(set_output_rules(&a, true, None)), Some(Errno::EINVAL), "detach while mmapped");
        assert_eq!(set_output_rules(&a, false, None).ok(), Some(()));
    }

    #[test]
    fn aux_events_must_share_the_pmu() {
        let a = OutputPeer { has_aux: true, ..peer(1) };
        let t = OutputPeer { has_aux: true, pmu: PmuId(3), ..peer(2) };
        assert_eq!(errno(set_output_rules(&a, false, Some((&t, true)))), Some(Errno::EINVAL));
        let t2 = OutputPeer { has_aux: false, pmu: PmuId(3), ..peer(2) };
        assert_eq!(set_output_rules(&a, false, Some((&t2, true))).ok(), Some(()));
    }
}
