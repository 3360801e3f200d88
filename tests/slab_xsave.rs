//! On real hardware: every object of a 64-aligned cache (the Arch LBR XSAVE cache, 1512 / 64,
//! and the 788 / 64 example) accepts XSAVE and XSAVEC, the image lands inside the object
//! (MXCSR at offset 24 equals the CPU's, XCOMP_BV bit 63 set by XSAVEC) and the neighbours are
//! untouched; a misaligned kmalloc object (red zone, pre-5.4 alignment) is refused before the
//! instruction could fault. The fault itself is shown in a child process by
//! tests/test_slab_xsave.py.

use perfcore::slab::xsave::{current_mxcsr, xsave_support, MXCSR_OFFSET, XCOMP_BV_OFFSET};
use perfcore::slab::{KmallocAlignRule, KmallocModel, KmemCache, Misaligned, SlabFlags, XsaveKind};

fn has_xsave() -> bool {
    let s = xsave_support();
    if !s.xsave || !s.xsavec {
        eprintln!("skipped: this CPU lacks XSAVE or XSAVEC ({s:?})");
        return false;
    }
    true
}

#[test]
fn every_object_of_a_64_aligned_cache_accepts_xsave() {
    if !has_xsave() {
        return;
    }
    let mxcsr = current_mxcsr();
    for (size, cpus) in [(1512usize, 8usize), (788, 2), (788, 64)] {
        let mut c = KmemCache::new("x86_lbr", size, 64, SlabFlags::empty(), cpus).unwrap();
        let n = 3 * c.layout().objects + 1;
        let addrs: Vec<usize> = (0..n).map(|i| c.zalloc(i % cpus).unwrap()).collect();
        for &a in &addrs {
            c.object_bytes_mut(a).unwrap().fill(0x5a);
        }
        for (i, &a) in addrs.iter().enumerate() {
            let kind = if i % 2 == 0 { XsaveKind::Standard } else { XsaveKind::Compacted };
            c.xsave(a, kind, Misaligned::Refuse).unwrap();
            let o = c.object_bytes(a).unwrap();
            let mx = u32::from_le_bytes(o[MXCSR_OFFSET..MXCSR_OFFSET + 4].try_into().unwrap());
            assert_eq!(mx, mxcsr, "object {i} at 0x{a:x}");
            let xcomp = u64::from_le_bytes(o[XCOMP_BV_OFFSET..XCOMP_BV_OFFSET + 8].try_into().unwrap());
            assert_eq!(xcomp >> 63, (i % 2) as u64, "XCOMP_BV compaction bit of object {i}");
            assert!(o[576..].iter().all(|&b| b == 0x5a), "XSAVE wrote past 576 bytes");
        }
        for &a in &addrs {
            c.free(a, 0).unwrap();
        }
    }
}

#[test]
fn misaligned_kmalloc_object_is_refused_not_executed() {
    if !has_xsave() {
        return;
    }
    let mut m = KmallocModel::new(8, KmallocAlignRule::MinAlign, true).unwrap();
    let a = m.kzalloc(788, 0).unwrap();
    assert_eq!(a % 64, 8);
    let e = m.xsave(a, XsaveKind::Standard, Misaligned::Refuse).unwrap_err().to_string();
    assert!(e.contains("8 mod 64") && e.contains("#GP"), "{e}");
    // The 6.18 kzalloc(788) object is 1024-aligned in practice, so XSAVE works on it.
    let mut m = KmallocModel::new(8, KmallocAlignRule::LargestPow2Divisor, false).unwrap();
    let a = m.kzalloc(788, 0).unwrap();
    assert_eq!(a % 1024, 0);
    m.xsave(a, XsaveKind::Compacted, Misaligned::Refuse).unwrap();
    // Too small an object for the 576-byte image.
    let mut c = KmemCache::new("small", 512, 64, SlabFlags::empty(), 1).unwrap();
    let a = c.alloc(0).unwrap();
    assert!(c.xsave(a, XsaveKind::Standard, Misaligned::Refuse).unwrap_err().to_string().contains("smaller"));
}
