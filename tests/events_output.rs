//! The output paths of the core Machine: `perf_event_overflow()` with the REFRESH countdown,
//! SET_OUTPUT redirection (records land in the target's ring with the writer's id and layout),
//! the side-band records' byte layouts (FORK, EXIT, COMM, SWITCH, SWITCH_CPU_WIDE) checked
//! field by field against the uapi layout in spec/ring-buffer-aux-records.md §5 and decoded
//! with `output::decode`, and which events receive them (perf_iterate_sb()).

use perfcore::abi::attr::{AttrFlag, PerfEventAttr};
use perfcore::abi::ioctl::*;
use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::abi::types::PERF_TYPE_SOFTWARE;
use perfcore::events::ioctl::IoctlArg;
use perfcore::events::rb::{POLL_HUP, POLL_IN};
use perfcore::events::{EventId, EventState};
use perfcore::output::mmap_rules::MmapRequest;
use perfcore::output::{decode_record, OutputFormat, RecordBody, SampleData};
use perfcore::task::TaskId;
use perfcore::{Errno, Error, Machine, MachineConfig};
use proptest::prelude::*;

const PAGE: u64 = 4096;
/// Every `sample_id` field: TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER (48 trailer bytes).
const ALL_IDS: u64 = PERF_SAMPLE_TID
    | PERF_SAMPLE_TIME
    | PERF_SAMPLE_ID
    | PERF_SAMPLE_STREAM_ID
    | PERF_SAMPLE_CPU
    | PERF_SAMPLE_IDENTIFIER;

fn machine() -> Machine {
    Machine::new(MachineConfig { nr_cpus: 2, ..Default::default() }).unwrap()
}

/// A software event attr (cpu-clock = config 0, dummy = 9).
fn attr(config: u64, period: u64, flags: &[AttrFlag]) -> PerfEventAttr {
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_SOFTWARE;
    a.config = config;
    a.sample_period = period;
    a.sample_type = ALL_IDS | PERF_SAMPLE_IP;
    for f in flags {
        a.set_flag(*f, true);
    }
    a
}

fn open(m: &mut Machine, a: &PerfEventAttr, pid: i32, cpu: i32) -> EventId {
    m.perf_event_open(&mut a.to_bytes(136), pid, cpu, None, 0).unwrap()
}

fn mmap(m: &mut Machine, e: EventId, pages: u64) {
    m.perf_mmap(e, MmapRequest { len: (pages + 1) * PAGE, pgoff: 0, shared: true, prot_write: true }, None).unwrap();
}

fn records(m: &Machine, e: EventId) -> Vec<Vec<u8>> {
    let key = m.rb_key(e).expect("event has a ring");
    m.ring_buffer(key).unwrap().consumer().read_records().unwrap()
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}

/// The 48-byte trailer at the end of a record: (pid, tid, time, id, stream_id, cpu, identifier).
fn trailer(b: &[u8]) -> (u32, u32, u64, u64, u64, u32, u64) {
    let t = b.len() - 48;
    (
        u32_at(b, t),
        u32_at(b, t + 4),
        u64_at(b, t + 8),
        u64_at(b, t + 16),
        u64_at(b, t + 24),
        u32_at(b, t + 32),
        u64_at(b, t + 40),
    )
}

fn errno<T>(r: perfcore::Result<T>) -> Option<Errno> {
    match r {
        Err(Error::Perf { errno, .. }) => Some(errno),
        _ => None,
    }
}

fn sample(ip: u64) -> SampleData {
    SampleData { ip, ..Default::default() }
}

#[test]
fn refresh_limits_overflows_then_disables_with_poll_hup() {
    let mut m = machine();
    let e = open(&mut m, &attr(0, 1000, &[AttrFlag::Disabled]), 0, -1);
    mmap(&mut m, e, 1);
    m.perf_ioctl(e, PERF_EVENT_IOC_REFRESH, &IoctlArg::Value(2)).unwrap();
    assert_ne!(m.events.get(e).unwrap().state, EventState::Off, "REFRESH enables the event");
    assert!(!m.perf_event_overflow(e, &sample(1)).unwrap());
    assert_eq!(m.event_limit(e).unwrap(), (1, POLL_IN));
    assert!(m.perf_event_overflow(e, &sample(2)).unwrap(), "the second overflow uses the limit up");
    assert_eq!(m.event_limit(e).unwrap(), (0, POLL_HUP));
    assert_eq!(m.events.get(e).unwrap().state, EventState::Off);
    let recs = records(&m, e);
    assert_eq!(recs.len(), 2, "the last sample is still written");
    assert_eq!(u64_at(&recs[1], 16), 2, "ip of the second sample (after IDENTIFIER)");
}

#[test]
fn refresh_is_einval_for_inherited_or_counting_events() {
    let mut m = machine();
    let counting = open(&mut m, &attr(0, 0, &[]), 0, -1);
    assert_eq!(errno(m.perf_ioctl(counting, PERF_EVENT_IOC_REFRESH, &IoctlArg::Value(1))), Some(Errno::EINVAL));
    let inh = open(&mut m, &attr(0, 1000, &[AttrFlag::Inherit]), 0, -1);
    assert_eq!(errno(m.perf_ioctl(inh, PERF_EVENT_IOC_REFRESH, &IoctlArg::Value(1))), Some(Errno::EINVAL));
    assert!(!m.perf_event_overflow(counting, &sample(1)).unwrap(), "non-sampling events ignore overflows");
}

proptest! {
    /// For any REFRESH n >= 1 and k overflows: all k samples are written (the ring is large),
    /// the event turns OFF iff k >= n, only overflow n reports expiry (POLL_HUP), later ones
    /// queue POLL_IN again.
    #[test]
    fn event_limit_countdown(n in 1i32..12, k in 0usize..20) {
        let mut m = machine();
        let e = open(&mut m, &attr(0, 1000, &[AttrFlag::Disabled]), 0, -1);
        mmap(&mut m, e, 4);
        m.perf_ioctl(e, PERF_EVENT_IOC_REFRESH, &IoctlArg::Value(n as u64)).unwrap();
        for i in 1..=k {
            let expired = m.perf_event_overflow(e, &sample(i as u64)).unwrap();
            prop_assert_eq!(expired, i == n as usize);
        }
        prop_assert_eq!(records(&m, e).len(), k);
        prop_assert_eq!(m.events.get(e).unwrap().state == EventState::Off, k >= n as usize);
        let (limit, kill) = m.event_limit(e).unwrap();
        // once at 0 the limit stays 0: only a non-zero limit counts down
        prop_assert_eq!(limit, (n - k as i32).max(0));
        prop_assert_eq!(kill, if k == 0 { 0 } else if k >= n as usize { if k == n as usize { POLL_HUP } else { POLL_IN } } else { POLL_IN });
    }
}

#[test]
fn set_output_records_land_in_the_targets_ring_with_the_writers_id() {
    let mut m = machine();
    let a = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    let b = open(&mut m, &attr(9, 1000, &[]), 0, -1);
    mmap(&mut m, a, 1);
    m.perf_ioctl(b, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a)).unwrap();
    assert_eq!(m.rb_key(b), Some(a));
    m.perf_event_overflow(b, &SampleData { ip: 7, id: m.events.get(b).unwrap().id, ..Default::default() }).unwrap();
    let recs = records(&m, a);
    assert_eq!(recs.len(), 1);
    assert_eq!(u64_at(&recs[0], 8), m.events.get(b).unwrap().id, "IDENTIFIER is b's id");
    // the ring was consumed; fill a's 4 KiB ring with b's samples (a record needs size bytes of
    // CIRC_SPACE = data_size - 1 - used), drop 3: the LOST record carries b's id
    let size = recs[0].len() as u64;
    let fit = (PAGE - 1) / size;
    for i in 0..fit + 3 {
        m.perf_event_overflow(b, &sample(i)).unwrap();
    }
    assert_eq!(m.lost_samples(b).unwrap(), 3);
    assert_eq!(m.lost_samples(a).unwrap(), 0, "drops count against the writer, not the ring's owner");
    assert_eq!(records(&m, a).len() as u64, fit);
    m.perf_event_overflow(b, &sample(99)).unwrap();
    let recs = records(&m, a);
    assert_eq!(u32_at(&recs[0], 0), PERF_RECORD_LOST);
    assert_eq!((u64_at(&recs[0], 8), u64_at(&recs[0], 16)), (m.events.get(b).unwrap().id, 3));
}

#[test]
fn set_output_rules_and_detach() {
    let mut m = machine();
    let a = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    let b = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    assert_eq!(
        errno(m.perf_ioctl(b, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a))),
        Some(Errno::EINVAL),
        "a unmapped"
    );
    mmap(&mut m, a, 1);
    mmap(&mut m, b, 1);
    assert_eq!(errno(m.perf_ioctl(b, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a))), Some(Errno::EINVAL), "b mapped");
    let c = open(&mut m, &attr(0, 1000, &[]), -1, 0);
    assert_eq!(
        errno(m.perf_ioctl(c, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a))),
        Some(Errno::EINVAL),
        "cpu differs"
    );
    let d = open(&mut m, &attr(0, 1000, &[AttrFlag::WriteBackward]), 0, -1);
    assert_eq!(
        errno(m.perf_ioctl(d, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a))),
        Some(Errno::EINVAL),
        "direction"
    );
    assert_eq!(errno(m.perf_ioctl(a, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a))), Some(Errno::EINVAL), "itself");
    assert_eq!(errno(m.perf_ioctl(a, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Value(0xffff_ffff))), Some(Errno::EBADF));
    let e = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    m.perf_ioctl(e, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a)).unwrap();
    assert!(m.has_ring_buffer(e));
    m.perf_ioctl(e, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Value(u64::MAX)).unwrap();
    assert!(!m.has_ring_buffer(e), "-1 detaches");
    assert!(!m.perf_event_output(e, &sample(1)).unwrap(), "no ring: nothing written, nothing lost");
    assert_eq!(m.lost_samples(e).unwrap(), 0);
}

#[test]
fn last_munmap_detaches_every_redirected_event() {
    let mut m = machine();
    let a = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    let b = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    let out = m.perf_mmap(a, MmapRequest { len: 2 * PAGE, pgoff: 0, shared: true, prot_write: true }, None).unwrap();
    m.perf_ioctl(b, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(a)).unwrap();
    m.perf_munmap(a, &out).unwrap();
    assert!(!m.has_ring_buffer(a) && !m.has_ring_buffer(b));
}

#[test]
fn pause_output_counts_every_record_lost_and_reports_them_on_resume() {
    let mut m = machine();
    let e = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_PAUSE_OUTPUT, &IoctlArg::Value(1))), Some(Errno::EINVAL));
    mmap(&mut m, e, 1);
    m.perf_ioctl(e, PERF_EVENT_IOC_PAUSE_OUTPUT, &IoctlArg::Value(1)).unwrap();
    for i in 0..5 {
        assert!(!m.perf_event_overflow(e, &sample(i)).unwrap_or(true));
    }
    m.perf_ioctl(e, PERF_EVENT_IOC_PAUSE_OUTPUT, &IoctlArg::Value(0)).unwrap();
    m.perf_event_overflow(e, &sample(9)).unwrap();
    let recs = records(&m, e);
    assert_eq!((u32_at(&recs[0], 0), u64_at(&recs[0], 16)), (PERF_RECORD_LOST, 5));
    assert_eq!(m.lost_samples(e).unwrap(), 5);
}

#[test]
fn reset_zeroes_the_count_and_group_flag_reaches_siblings() {
    let mut m = machine();
    let pid = m.tasks.get(m.tasks.current()).unwrap().pid;
    let l = open(&mut m, &attr(0, 0, &[]), pid, -1);
    let s = m.perf_event_open(&mut attr(1, 0, &[]).to_bytes(136), pid, -1, Some(l), 0).unwrap();
    m.set_rate(pid, "cpu-clock", 1e9).unwrap();
    m.set_rate(pid, "task-clock", 1e9).unwrap();
    m.switch_in(0, pid).unwrap();
    m.advance(1_000_000).unwrap();
    let count = |m: &mut Machine, e| m.read_event_value(e).unwrap().unwrap().members[0].value;
    assert!(count(&mut m, l) > 0);
    m.perf_ioctl(s, PERF_EVENT_IOC_RESET, &IoctlArg::Value(PERF_IOC_FLAG_GROUP)).unwrap();
    assert_eq!((count(&mut m, l), count(&mut m, s)), (0, 0), "GROUP on a sibling resets the whole group");
    m.perf_ioctl(s, PERF_EVENT_IOC_DISABLE, &IoctlArg::Value(PERF_IOC_FLAG_GROUP)).unwrap();
    assert_eq!(m.events.get(l).unwrap().state, EventState::Off);
    assert_eq!(m.events.get(s).unwrap().state, EventState::Off);
}

#[test]
fn period_rules() {
    let mut m = machine();
    let e = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    let p = |m: &mut Machine, e, v| errno(m.perf_ioctl(e, PERF_EVENT_IOC_PERIOD, &IoctlArg::Value(v)));
    assert_eq!(p(&mut m, e, 0), Some(Errno::EINVAL));
    assert_eq!(p(&mut m, e, 1 << 63), Some(Errno::EINVAL));
    assert_eq!(p(&mut m, e, 5000), None);
    assert_eq!(m.events.get(e).unwrap().attr.sample_period, 5000);
    let mut fa = attr(9, 1000, &[AttrFlag::Freq]);
    fa.sample_period = 100;
    let f = open(&mut m, &fa, 0, -1);
    assert_eq!(p(&mut m, f, 100_001), Some(Errno::EINVAL), "above perf_event_max_sample_rate");
    assert_eq!(p(&mut m, f, 100_000), None);
    // the hrtimer clocks turned 100 Hz into a 10 ms period at open: no frequency check after
    fa.config = 0;
    let clock = open(&mut m, &fa, 0, -1);
    let a = &m.events.get(clock).unwrap().attr;
    assert_eq!((a.flag(AttrFlag::Freq), a.sample_period), (false, 10_000_000));
    assert_eq!(p(&mut m, clock, 100_001), None);
    let c = open(&mut m, &attr(0, 0, &[]), 0, -1);
    assert_eq!(p(&mut m, c, 10), Some(Errno::EINVAL), "counting event");
}

#[test]
fn other_ioctls() {
    let mut m = machine();
    let e = open(&mut m, &attr(0, 1000, &[]), 0, -1);
    assert_eq!(m.perf_ioctl(e, PERF_EVENT_IOC_ID, &IoctlArg::Value(0)).unwrap(), m.events.get(e).unwrap().id);
    assert_eq!(errno(m.perf_ioctl(e, 0x2499, &IoctlArg::Value(0))), Some(Errno::ENOTTY));
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_SET_FILTER, &IoctlArg::Filter("x".into()))), Some(Errno::EINVAL));
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_QUERY_BPF, &IoctlArg::Value(0))), Some(Errno::EINVAL));
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_SET_BPF, &IoctlArg::Value(12345))), Some(Errno::EBADF));
    // cpu-clock lives under the cpu_clock PMU's own type: type 1 no longer matches (measured)
    let same = attr(0, 1000, &[]).to_bytes(136);
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &IoctlArg::Attr(same))), Some(Errno::EINVAL));
    let d = open(&mut m, &attr(9, 0, &[]), 0, -1);
    let same = attr(9, 0, &[]).to_bytes(136);
    assert_eq!(
        errno(m.perf_ioctl(d, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &IoctlArg::Attr(same))),
        Some(Errno::EOPNOTSUPP)
    );
    let mut other = attr(0, 1000, &[]);
    other.type_ = 0;
    let other = other.to_bytes(136);
    assert_eq!(errno(m.perf_ioctl(e, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &IoctlArg::Attr(other))), Some(Errno::EINVAL));
}

fn spawn(m: &mut Machine, comm: &str) -> (TaskId, u32) {
    let t = m.tasks.spawn(comm, 0, false);
    (t, m.tasks.get(t).unwrap().pid as u32)
}

#[test]
fn switch_records_layout_and_targets() {
    let mut m = machine();
    let (_, pa) = spawn(&mut m, "a");
    let (_, pb) = spawn(&mut m, "b");
    let sb = [AttrFlag::ContextSwitch, AttrFlag::SampleIdAll];
    let cpu_wide = open(&mut m, &attr(9, 0, &sb), -1, 0);
    let on_a = open(&mut m, &attr(9, 0, &sb), pa as i32, -1);
    let other_cpu = open(&mut m, &attr(9, 0, &sb), -1, 1);
    let plain = open(&mut m, &attr(9, 0, &[AttrFlag::SampleIdAll]), -1, 0);
    for e in [cpu_wide, on_a, other_cpu, plain] {
        mmap(&mut m, e, 1);
    }
    m.switch_in(0, pa as i32).unwrap(); // idle -> a
    m.switch_in(0, pb as i32).unwrap(); // a -> b (a preempted)
    m.switch_out(0).unwrap(); // b -> idle (b blocks)
    assert!(records(&m, other_cpu).is_empty() && records(&m, plain).is_empty());

    let cw = records(&m, cpu_wide);
    let fmt = OutputFormat::new(ALL_IDS | PERF_SAMPLE_IP, 0, true, 0, 0, 0).unwrap();
    let want: [(u16, u32, u32); 6] = [
        (PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT, 0, pa), // idle out, next a
        (0, pa, 0),                                                                 // a in, prev idle
        (PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT, pa, pb), // a out, next b
        (0, pb, pa),
        (PERF_RECORD_MISC_SWITCH_OUT, pb, 0), // b out to idle, not preempted
        (0, 0, pb),                           // idle in, prev b
    ];
    assert_eq!(cw.len(), want.len());
    for (r, (misc, cur, other)) in cw.iter().zip(want) {
        assert_eq!(u32_at(r, 0), PERF_RECORD_SWITCH_CPU_WIDE);
        assert_eq!(u16_at(r, 4), misc);
        assert_eq!(u16_at(r, 6), 8 + 8 + 48, "header + next_prev pid/tid + trailer");
        assert_eq!((u32_at(r, 8), u32_at(r, 12)), (other, other));
        let (pid, tid, _, id, stream, cpu, ident) = trailer(r);
        assert_eq!((pid, tid, cpu), (cur, cur, 0));
        let eid = m.events.get(cpu_wide).unwrap().id;
        assert_eq!((id, stream, ident), (eid, eid, eid));
        let d = decode_record(r, &fmt).unwrap();
        assert!(
            matches!(d.record.unwrap().body, RecordBody::SwitchCpuWide { next_prev_pid, .. } if next_prev_pid == other)
        );
    }
    let ta = records(&m, on_a);
    assert_eq!(ta.len(), 2, "a's own context: in, then out");
    assert_eq!((u32_at(&ta[0], 0), u16_at(&ta[0], 4), u16_at(&ta[0], 6)), (PERF_RECORD_SWITCH, 0, 56));
    assert_eq!(u16_at(&ta[1], 4), PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT);
    assert_eq!(trailer(&ta[1]).0, pa);
}

#[test]
fn fork_exec_exit_write_fork_comm_exit_records() {
    let mut m = machine();
    let (_, pp) = spawn(&mut m, "parent");
    let cw = open(&mut m, &attr(9, 0, &[AttrFlag::Comm, AttrFlag::SampleIdAll]), -1, 0);
    let task_only = open(&mut m, &attr(9, 0, &[AttrFlag::Task, AttrFlag::SampleIdAll]), -1, 0);
    let off = open(&mut m, &attr(9, 0, &[AttrFlag::Task, AttrFlag::Disabled]), -1, 0);
    for e in [cw, task_only, off] {
        mmap(&mut m, e, 1);
    }
    m.switch_in(0, pp as i32).unwrap();
    m.advance(5000).unwrap();
    let now = m.sched.now;
    let pc = m.fork(pp as i32, false, None, false).unwrap() as u32;
    m.switch_in(0, pc as i32).unwrap();
    m.exec(pc as i32, "a_rather_long_child_name").unwrap();
    m.exit_task(pc as i32).unwrap();
    assert!(records(&m, off).is_empty(), "OFF events get no side-band records");
    let t = records(&m, task_only);
    assert_eq!(t.iter().filter(|r| u32_at(r, 0) == PERF_RECORD_COMM).count(), 0, "attr.task: FORK and EXIT only");
    assert_eq!(t.len(), 2);
    let c = records(&m, cw);
    assert_eq!(c.len(), 3);
    // FORK: {pid, ppid, tid, ptid, time} = 24 bytes after the header, then 48 trailer bytes
    let f = &c[0];
    assert_eq!((u32_at(f, 0), u16_at(f, 6)), (PERF_RECORD_FORK, 8 + 24 + 48));
    assert_eq!((u32_at(f, 8), u32_at(f, 12), u32_at(f, 16), u32_at(f, 20), u64_at(f, 24)), (pc, pp, pc, pp, now));
    assert_eq!(trailer(f).0, pp, "the forking task is current");
    // COMM: {pid, tid, comm[16]} with MISC_COMM_EXEC, the comm cut to 15 bytes
    let co = &c[1];
    assert_eq!(
        (u32_at(co, 0), u16_at(co, 4), u16_at(co, 6)),
        (PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, 8 + 8 + 16 + 48)
    );
    assert_eq!((u32_at(co, 8), u32_at(co, 12)), (pc, pc));
    assert_eq!(&co[16..32], b"a_rather_long_c\0");
    // EXIT: ptid is the parent's pid (kernel quirk)
    let x = &c[2];
    assert_eq!(
        (u32_at(x, 0), u32_at(x, 8), u32_at(x, 12), u32_at(x, 16), u32_at(x, 20)),
        (PERF_RECORD_EXIT, pc, pp, pc, pp)
    );
    let fmt = OutputFormat::new(ALL_IDS | PERF_SAMPLE_IP, 0, true, 0, 0, 0).unwrap();
    for r in &c {
        let d = decode_record(r, &fmt).unwrap();
        assert_eq!(d.size as usize, r.len());
        assert_eq!(d.record.unwrap().sample_id.id, m.events.get(cw).unwrap().id);
    }
}

#[test]
fn inherited_children_write_into_the_parents_ring_with_their_own_stream_id() {
    let mut m = machine();
    let (_, pp) = spawn(&mut m, "parent");
    let ev = open(&mut m, &attr(0, 1000, &[AttrFlag::Comm, AttrFlag::Inherit, AttrFlag::SampleIdAll]), pp as i32, 0);
    mmap(&mut m, ev, 1);
    let pc = m.fork(pp as i32, false, None, false).unwrap();
    let child_task = m.task_by_pid(pc).unwrap();
    let child = (0..m.sched.events.len() as u32)
        .map(EventId)
        .find(|e| m.sched.ev(e.0).is_ok_and(|se| se.parent == Some(ev.0) && se.spec.task == Some(child_task.0)))
        .expect("fork inherited the event");
    m.switch_in(0, pc).unwrap();
    m.exec(pc, "kid").unwrap();
    m.perf_event_overflow(child, &sample(0x42)).unwrap();
    let recs = records(&m, ev);
    let parent_id = m.events.get(ev).unwrap().id;
    // the engine gives an inherited child its parent's id today (the kernel gives it its own
    // `event->id`); the trailer takes whatever the child's own id is as STREAM_ID
    let child_id = m.sched.ev(child.0).unwrap().spec.id;
    let comm = recs.iter().find(|r| u32_at(r, 0) == PERF_RECORD_COMM).expect("the child's COMM");
    let (pid, _, _, id, stream, _, ident) = trailer(comm);
    assert_eq!((pid, id, stream, ident), (pc as u32, parent_id, child_id, parent_id));
    let smp = recs.iter().find(|r| u32_at(r, 0) == PERF_RECORD_SAMPLE).expect("the child's sample");
    assert_eq!(u64_at(smp, 16), 0x42, "written in the parent's ring and layout");
}

#[test]
fn task_context_events_see_only_their_tasks_records() {
    let mut m = machine();
    let (a, pa) = spawn(&mut m, "a");
    let (b, _) = spawn(&mut m, "b");
    let on_a = open(&mut m, &attr(9, 0, &[AttrFlag::Comm]), pa as i32, -1);
    mmap(&mut m, on_a, 1);
    m.perf_event_comm(b, false).unwrap();
    assert!(records(&m, on_a).is_empty());
    m.perf_event_comm(a, false).unwrap();
    let r = records(&m, on_a);
    assert_eq!(r.len(), 1);
    assert_eq!(u16_at(&r[0], 6), 8 + 8 + 8, "no trailer without sample_id_all; 'a' pads to 8");
}

#[derive(Clone, Debug)]
enum Op {
    Overflow(usize),
    SetOutput(usize, Option<usize>),
    Pause(bool),
    Consume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3).prop_map(Op::Overflow),
        1 => (1usize..3, prop::option::of(0usize..3)).prop_map(|(a, b)| Op::SetOutput(a, b)),
        1 => any::<bool>().prop_map(Op::Pause),
        2 => Just(Op::Consume),
    ]
}

proptest! {
    /// DESIGN.md's output invariant under random overflows, redirections, pauses and reads:
    /// every sample an event generated while it had a ring is either read from the ring (found
    /// by its IDENTIFIER) or counted in that event's `lost_samples`; the LOST records report
    /// exactly the drops (all of them once a record after the last drop was written).
    #[test]
    fn every_sample_is_read_or_counted_lost(ops in prop::collection::vec(op(), 1..120)) {
        let mut m = machine();
        let evs: Vec<EventId> = (0..3).map(|_| open(&mut m, &attr(0, 1000, &[]), 0, -1)).collect();
        mmap(&mut m, evs[0], 1);
        let ids: Vec<u64> = evs.iter().map(|e| m.events.get(*e).unwrap().id).collect();
        let cons = m.ring_buffer(evs[0]).unwrap().consumer();
        let (mut generated, mut read, mut reported) = ([0u64; 3], [0u64; 3], 0u64);
        let drain = |read: &mut [u64; 3], reported: &mut u64| {
            for r in cons.read_records().unwrap() {
                match u32_at(&r, 0) {
                    PERF_RECORD_SAMPLE => read[ids.iter().position(|i| *i == u64_at(&r, 8)).unwrap()] += 1,
                    PERF_RECORD_LOST => *reported += u64_at(&r, 16),
                    t => panic!("unexpected record type {t}"),
                }
            }
        };
        for op in ops {
            match op {
                Op::Overflow(i) => {
                    if m.has_ring_buffer(evs[i]) {
                        generated[i] += 1;
                    }
                    m.perf_event_overflow(evs[i], &SampleData { id: ids[i], ..sample(i as u64) }).unwrap();
                }
                Op::SetOutput(a, b) => {
                    let arg = b.map_or(IoctlArg::Value(u64::MAX), |b| IoctlArg::Event(evs[b]));
                    let _ = m.perf_ioctl(evs[a], PERF_EVENT_IOC_SET_OUTPUT, &arg);
                }
                Op::Pause(p) => {
                    m.perf_ioctl(evs[0], PERF_EVENT_IOC_PAUSE_OUTPUT, &IoctlArg::Value(u64::from(p))).unwrap();
                }
                Op::Consume => drain(&mut read, &mut reported),
            }
        }
        drain(&mut read, &mut reported);
        let pending = m.ring_buffer(evs[0]).unwrap().pending_lost();
        let mut lost_total = 0;
        for i in 0..3 {
            let lost = m.lost_samples(evs[i]).unwrap();
            prop_assert_eq!(read[i] + lost, generated[i], "event {}", i);
            lost_total += lost;
        }
        prop_assert_eq!(reported + pending, lost_total);
    }
}
