//! mmap() rules and errnos (spec §3.1-§3.3), checked against the table the spec verified on 6.18.

use perfcore::output::mmap_rules::*;
use perfcore::Errno;

const P: u64 = 4096;

fn req(pages: u64) -> MmapRequest {
    MmapRequest { len: pages * P, pgoff: 0, shared: true, prot_write: true }
}
fn ev() -> MmapEventView {
    MmapEventView { cpu: 0, pmu_has_aux: true, ..Default::default() }
}
fn errno(r: perfcore::Result<MmapOutcome>) -> Errno {
    r.unwrap_err().errno().unwrap()
}
fn with_rb(data_pages: u64, aux_offset: u64, aux_size: u64) -> MmapEventView {
    MmapEventView {
        rb: Some(RbView { data_pages, mmap_count: 1, aux: None, user_aux_offset: aux_offset, user_aux_size: aux_size }),
        ..ev()
    }
}

#[test]
fn data_ring_rules_in_order() {
    let a = MmapAccounting::default();
    let o = MmapOptions::default();
    // per-task inherited event
    let inh = MmapEventView { cpu: -1, inherit: true, ..ev() };
    assert_eq!(errno(perf_mmap(&inh, &MmapRequest { shared: false, ..req(3) }, &a, &o)), Errno::EINVAL);
    assert_eq!(errno(perf_mmap(&ev(), &MmapRequest { shared: false, ..req(2) }, &a, &o)), Errno::EINVAL);
    // 1+3 pages
    let e = perf_mmap(&ev(), &req(4), &a, &o).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EINVAL));
    assert!(e.to_string().contains("3"), "{e}");
    // 1+0 and 1+2 are fine; len PAGE_SIZE+1 rounds up to 2 pages = 1+1
    assert!(perf_mmap(&ev(), &req(1), &a, &o).is_ok());
    let r = perf_mmap(&ev(), &MmapRequest { len: P + 1, ..req(0) }, &a, &o).unwrap();
    assert_eq!(r.action, MmapAction::CreateRb { data_pages: 1, overwrite: false, backward: false });
    // read-only mapping -> overwrite
    let r = perf_mmap(&ev(), &MmapRequest { prot_write: false, ..req(3) }, &a, &o).unwrap();
    assert!(matches!(r.action, MmapAction::CreateRb { overwrite: true, .. }));
    // remap: same size shares, different size (incl. 1 page) EINVAL
    let e2 = with_rb(2, 0, 0);
    assert_eq!(perf_mmap(&e2, &req(3), &a, &o).unwrap().action, MmapAction::ShareRb);
    assert_eq!(errno(perf_mmap(&e2, &req(1), &a, &o)), Errno::EINVAL);
    assert_eq!(errno(perf_mmap(&e2, &req(5), &a, &o)), Errno::EINVAL);
    // revoked
    assert_eq!(errno(perf_mmap(&MmapEventView { revoked: true, ..ev() }, &req(2), &a, &o)), Errno::ENODEV);
    assert_eq!(
        errno(perf_mmap(&ev(), &req(2), &a, &MmapOptions { lsm_denies: Some(Errno::EACCES), ..o })),
        Errno::EACCES
    );
}

#[test]
fn mlock_accounting_matches_the_verified_numbers() {
    // uid 65534, no caps, 2 CPUs: allowance 258 pages, RLIMIT 2048 pages -> 1+2048 OK, 1+4096 EPERM
    let a = MmapAccounting::default();
    let o = MmapOptions::default();
    let ok = perf_mmap(&ev(), &req(1 + 2048), &a, &o).unwrap();
    assert_eq!((ok.user_extra, ok.extra), (258, 2049 - 258));
    let e = perf_mmap(&ev(), &req(1 + 4096), &a, &o).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EPERM));
    assert!(e.to_string().contains("RLIMIT_MEMLOCK 2048"), "{e}");
    // CAP_IPC_LOCK or paranoid -1 lift it
    assert!(perf_mmap(&ev(), &req(1 + 4096), &MmapAccounting { cap_ipc_lock: true, ..a }, &o).is_ok());
    assert!(perf_mmap(&ev(), &req(1 + 4096), &MmapAccounting { perf_event_paranoid: -1, ..a }, &o).is_ok());
    // locked pages of the same user count against the allowance
    let mut acct = a;
    let first = perf_mmap(&ev(), &req(1 + 128), &acct, &o).unwrap();
    acct.account(&first);
    assert_eq!(acct.user_locked_vm, 129);
    let second = perf_mmap(&ev(), &req(1 + 256), &acct, &o).unwrap();
    assert_eq!((second.user_extra, second.extra), (258 - 129, 257 - (258 - 129)));
    acct.unaccount(&first);
    assert_eq!(acct.user_locked_vm, 0);
}

#[test]
fn aux_rules_in_order() {
    let a = MmapAccounting::default();
    let o = MmapOptions::default();
    let aux = |pgoff: u64, pages: u64| MmapRequest { len: pages * P, pgoff, shared: true, prot_write: true };
    // 1: no rb
    assert_eq!(errno(perf_mmap(&ev(), &aux(3, 2), &a, &o)), Errno::EINVAL);
    // 2: overlap with 1+2 pages (aux_offset < 3 pages)
    assert_eq!(errno(perf_mmap(&with_rb(2, 2 * P, 2 * P), &aux(2, 2), &a, &o)), Errno::EINVAL);
    // 3: offset mismatch, misalignment
    assert_eq!(errno(perf_mmap(&with_rb(2, 4 * P, 2 * P), &aux(3, 2), &a, &o)), Errno::EINVAL);
    assert_eq!(errno(perf_mmap(&with_rb(2, 3 * P + 100, 2 * P), &aux(3, 2), &a, &o)), Errno::EINVAL);
    // 4: already mapped elsewhere
    let mut mapped = with_rb(2, 3 * P, 2 * P);
    mapped.rb.as_mut().unwrap().aux = Some(AuxView { pgoff: 5, nr_pages: 2 });
    assert!(perf_mmap(&mapped, &aux(3, 2), &a, &o).unwrap_err().to_string().contains("pgoff 5"));
    // 5: aux_size != length
    assert_eq!(errno(perf_mmap(&with_rb(2, 3 * P, 4 * P), &aux(3, 2), &a, &o)), Errno::EINVAL);
    // 6: already mapped with another size
    mapped.rb.as_mut().unwrap().aux = Some(AuxView { pgoff: 3, nr_pages: 4 });
    assert!(perf_mmap(&mapped, &aux(3, 2), &a, &o).unwrap_err().to_string().contains("4 pages"));
    // 9: same geometry shares
    mapped.rb.as_mut().unwrap().aux = Some(AuxView { pgoff: 3, nr_pages: 2 });
    assert_eq!(perf_mmap(&mapped, &aux(3, 2), &a, &o).unwrap().action, MmapAction::ShareAux);
    // 7: 3 pages -> EINVAL unless the machine lifts the rule
    let three = with_rb(2, 3 * P, 3 * P);
    let e = perf_mmap(&three, &aux(3, 3), &a, &o).unwrap_err();
    assert!(e.to_string().contains("not a power of two"), "{e}");
    let lifted = MmapOptions { aux_require_pow2: false, ..o };
    assert!(matches!(
        perf_mmap(&three, &aux(3, 3), &a, &lifted).unwrap().action,
        MmapAction::CreateAux { nr_pages: 3, .. }
    ));
    // 8: torn down
    let mut dying = with_rb(2, 3 * P, 2 * P);
    dying.rb.as_mut().unwrap().mmap_count = 0;
    assert_eq!(errno(perf_mmap(&dying, &aux(3, 2), &a, &o)), Errno::EINVAL);
    // 10: mlock
    assert_eq!(errno(perf_mmap(&with_rb(2, 3 * P, 4096 * P), &aux(3, 4096), &a, &o)), Errno::EPERM);
    // 11: PMU without AUX
    let sw = MmapEventView { pmu_has_aux: false, ..with_rb(2, 3 * P, 2 * P) };
    assert_eq!(errno(perf_mmap(&sw, &aux(3, 2), &a, &o)), Errno::EOPNOTSUPP);
    // read-only AUX mapping -> snapshot mode
    let r = perf_mmap(&with_rb(2, 3 * P, 2 * P), &MmapRequest { prot_write: false, ..aux(3, 2) }, &a, &o).unwrap();
    assert_eq!(r.action, MmapAction::CreateAux { nr_pages: 2, pgoff: 3, overwrite: true });
}
