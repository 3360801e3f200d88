//! `struct perf_event` as far as the open path needs it, kept in an arena with typed ids.
//! States follow `enum perf_event_state` (DEAD -4 ... ACTIVE 2).

use crate::abi::attr::PerfEventAttr;
use crate::pmu::PmuId;
use crate::task::TaskId;
use crate::{Error, Result};

/// Index of an event in its machine's arena (plays the role of the fd).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub u32);

/// `enum perf_event_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventState {
    Dead = -4,
    Revoked = -3,
    Exit = -2,
    Error = -1,
    Off = 0,
    Inactive = 1,
    Active = 2,
}

impl EventState {
    /// Upper-case kernel spelling without the prefix.
    pub fn name(self) -> &'static str {
        match self {
            EventState::Dead => "DEAD",
            EventState::Revoked => "REVOKED",
            EventState::Exit => "EXIT",
            EventState::Error => "ERROR",
            EventState::Off => "OFF",
            EventState::Inactive => "INACTIVE",
            EventState::Active => "ACTIVE",
        }
    }
}

/// One event.
#[derive(Clone, Debug)]
pub struct Event {
    /// `event->id`: the machine-wide unique id reported by PERF_FORMAT_ID / SAMPLE_ID.
    pub id: u64,
    /// The attr as the kernel holds it after `perf_copy_attr()` (size normalised, branch
    /// privilege levels filled in, `sample_max_stack` defaulted).
    pub attr: PerfEventAttr,
    pub pmu: PmuId,
    /// `event->cpu`: -1 for any CPU.
    pub cpu: i32,
    /// `event->hw.target`: the monitored task, or None for a CPU-wide event.
    pub task: Option<TaskId>,
    pub group_leader: EventId,
    /// Siblings in group order (leaders only).
    pub siblings: Vec<EventId>,
    pub state: EventState,
    /// `event->clock`: the clockid, or None for the default `local_clock`.
    pub clock: Option<i32>,
    /// `PERF_EV_CAP_SOFTWARE` of the group (`group_caps`).
    pub group_software: bool,
    /// `event->cgrp`: the cgroup id of a cgroup event (`PERF_FLAG_PID_CGROUP`).
    pub cgroup: Option<u64>,
}

/// The machine's events.
#[derive(Clone, Debug, Default)]
pub struct EventArena {
    slots: Vec<Option<Event>>,
}

impl EventArena {
    /// Store an event; its id is its slot.
    pub fn insert(&mut self, ev: Event) -> EventId {
        self.slots.push(Some(ev));
        EventId(self.slots.len() as u32 - 1)
    }

    /// Keep ids below `upto` from ever being handed out: the scheduling engine created
    /// events of its own (inherited children) under them.
    pub fn reserve(&mut self, upto: u32) {
        if self.slots.len() < upto as usize {
            self.slots.resize(upto as usize, None);
        }
    }

    /// The next id [`EventArena::insert`] will return.
    pub fn next_id(&self) -> EventId {
        EventId(self.slots.len() as u32)
    }

    /// A live event.
    pub fn get(&self, id: EventId) -> Result<&Event> {
        self.slots
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::NotFound(format!("event {} does not exist or was closed", id.0)))
    }

    /// A live event, mutable.
    pub fn get_mut(&mut self, id: EventId) -> Result<&mut Event> {
        self.slots
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::NotFound(format!("event {} does not exist or was closed", id.0)))
    }

    /// Whether the id names a live event.
    pub fn contains(&self, id: EventId) -> bool {
        self.get(id).is_ok()
    }

    /// Remove an event and return it.
    pub fn remove(&mut self, id: EventId) -> Result<Event> {
        self.get(id)?;
        self.slots[id.0 as usize].take().ok_or_else(|| Error::Internal("event vanished".into()))
    }

    /// Live events in id order.
    pub fn iter(&self) -> impl Iterator<Item = (EventId, &Event)> {
        self.slots.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|e| (EventId(i as u32), e)))
    }

    /// Number of live events.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|e| e.is_some()).count()
    }

    /// Whether there are no live events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
