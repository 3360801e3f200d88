//! A real `XSAVE` / `XSAVEC` into a caller's buffer, to prove on the running CPU what the
//! slab layout promises: the Arch LBR XSAVE path (`intel_pmu_arch_lbr_read_xsave()`, the
//! `xsaves`/`xrstors` save and restore in arch/x86/events/intel/lbr.c) needs its buffer aligned
//! to `XSAVE_ALIGNMENT` = 64, and the instruction raises #GP (SIGSEGV in a user process) on
//! a misaligned address. Facts: spec/task-data-slab-page-size.md §A.2, §A.5.
//!
//! Only the user-mode instructions are used (XSAVES is kernel-only), with a feature mask of
//! x87 | SSE, whose standard and compacted images are both 576 bytes: the 512-byte legacy
//! region and the 64-byte XSAVE header.

use crate::{Error, Result};

/// `XSAVE_ALIGNMENT` (arch/x86/include/asm/fpu/xstate.h).
pub const XSAVE_ALIGNMENT: usize = 64;
/// Feature mask x87 (bit 0) | SSE (bit 1).
pub const XFEATURE_MASK_FPSSE: u64 = 0b11;
/// Bytes an x87 | SSE image occupies: legacy region (512) + XSAVE header (64).
pub const XSAVE_FPSSE_SIZE: usize = 576;
/// Offset of MXCSR in the legacy region.
pub const MXCSR_OFFSET: usize = 24;
/// Offset of XSTATE_BV (the header's first word).
pub const XSTATE_BV_OFFSET: usize = 512;
/// Offset of XCOMP_BV (bit 63 set by XSAVEC: compacted format).
pub const XCOMP_BV_OFFSET: usize = 520;

/// What the running CPU supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsaveSupport {
    /// `XSAVE` (CPUID.1:ECX.XSAVE and the OS enabled it).
    pub xsave: bool,
    /// `XSAVEC` (CPUID.(EAX=0DH,ECX=1):EAX[1]).
    pub xsavec: bool,
}

/// Runtime feature detection.
pub fn xsave_support() -> XsaveSupport {
    #[cfg(target_arch = "x86_64")]
    {
        XsaveSupport {
            xsave: std::arch::is_x86_feature_detected!("xsave"),
            xsavec: std::arch::is_x86_feature_detected!("xsave") && std::arch::is_x86_feature_detected!("xsavec"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        XsaveSupport { xsave: false, xsavec: false }
    }
}

/// Which instruction to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsaveKind {
    /// `XSAVE` (standard format).
    Standard,
    /// `XSAVEC` (compacted format).
    Compacted,
}

/// Run `XSAVE`/`XSAVEC` with mask x87|SSE at `ptr`.
///
/// # Safety
/// `ptr..ptr + XSAVE_FPSSE_SIZE` must be writable memory not aliased by any live reference,
/// and the CPU must support the instruction ([`xsave_support`]). If `ptr` is not 64-byte
/// aligned the CPU raises #GP and the process receives SIGSEGV: callers that do not want that
/// check the alignment first (as [`xsave_into`] does).
#[cfg(target_arch = "x86_64")]
pub unsafe fn xsave_raw(ptr: *mut u8, kind: XsaveKind) {
    #[target_feature(enable = "xsave")]
    unsafe fn standard(p: *mut u8) {
        // SAFETY: forwarded from `xsave_raw`'s contract.
        unsafe { core::arch::x86_64::_xsave64(p, XFEATURE_MASK_FPSSE) }
    }
    #[target_feature(enable = "xsave,xsavec")]
    unsafe fn compacted(p: *mut u8) {
        // SAFETY: forwarded from `xsave_raw`'s contract.
        unsafe { core::arch::x86_64::_xsavec64(p, XFEATURE_MASK_FPSSE) }
    }
    // SAFETY: the caller guarantees memory, aliasing and CPU support.
    unsafe {
        match kind {
            XsaveKind::Standard => standard(ptr),
            XsaveKind::Compacted => compacted(ptr),
        }
    }
}

/// Check that `kind` can run here.
pub fn require(kind: XsaveKind) -> Result<()> {
    let s = xsave_support();
    match kind {
        XsaveKind::Standard if !s.xsave => Err(Error::Usage("this CPU has no XSAVE".into())),
        XsaveKind::Compacted if !s.xsavec => Err(Error::Usage("this CPU has no XSAVEC".into())),
        _ => Ok(()),
    }
}

/// How [`xsave_into`] treats a misaligned target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misaligned {
    /// Return an `Error::Usage` naming the address and its remainder modulo 64.
    Refuse,
    /// Execute anyway: the CPU raises #GP and the process dies with SIGSEGV. For demonstrating
    /// the failure in a child process only.
    Execute,
}

/// `XSAVE`/`XSAVEC` into `buf[offset..offset + 576]`. Out-of-bounds targets are always an
/// error; a target that is not 64-byte aligned is refused or executed (and the process killed)
/// according to `misaligned`.
pub fn xsave_into(buf: &mut [u8], offset: usize, kind: XsaveKind, misaligned: Misaligned) -> Result<()> {
    require(kind)?;
    let end = offset.checked_add(XSAVE_FPSSE_SIZE);
    if end.is_none_or(|e| e > buf.len()) {
        return Err(Error::Usage(format!(
            "xsave: offset {offset} + {XSAVE_FPSSE_SIZE} bytes exceeds the buffer of {} bytes",
            buf.len()
        )));
    }
    let p = buf[offset..].as_mut_ptr();
    check_alignment(p as usize, misaligned)?;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `p..p+576` lies inside `buf` (checked), which we borrow mutably; the CPU supports
    // the instruction (`require`); alignment was checked unless the caller asked to fault.
    unsafe {
        xsave_raw(p, kind)
    };
    Ok(())
}

/// The alignment check of [`xsave_into`].
pub fn check_alignment(addr: usize, misaligned: Misaligned) -> Result<()> {
    if addr % XSAVE_ALIGNMENT != 0 && misaligned == Misaligned::Refuse {
        return Err(Error::Usage(format!(
            "xsave: 0x{addr:x} is {} mod {XSAVE_ALIGNMENT}: XSAVE needs {XSAVE_ALIGNMENT}-byte alignment and the CPU would raise #GP",
            addr % XSAVE_ALIGNMENT
        )));
    }
    Ok(())
}

/// The current MXCSR (what XSAVE stores at [`MXCSR_OFFSET`]).
pub fn current_mxcsr() -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v: u32 = 0;
        // SAFETY: STMXCSR writes 4 bytes to the given address, which is `v` on our stack; SSE is
        // part of the x86-64 baseline.
        unsafe { core::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
        v
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

impl super::KmemCache {
    /// `XSAVE`/`XSAVEC` (mask x87|SSE) into the live object at `addr`, as the Arch LBR code
    /// XSAVES into its `task_ctx_data`. The object must be live and hold the 576-byte image;
    /// a misaligned object is refused or executed according to `misaligned`.
    pub fn xsave(&mut self, addr: usize, kind: XsaveKind, misaligned: Misaligned) -> Result<()> {
        let name = self.name().to_string();
        let obj = self.object_bytes_mut(addr)?;
        if obj.len() < XSAVE_FPSSE_SIZE {
            return Err(Error::Usage(format!(
                "xsave({name}): object_size {} is smaller than the {XSAVE_FPSSE_SIZE}-byte x87|SSE image",
                obj.len()
            )));
        }
        xsave_into(obj, 0, kind, misaligned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(64))]
    struct Aligned([u8; 1024]);

    #[test]
    fn xsave_writes_mxcsr_and_header() {
        if !xsave_support().xsave {
            eprintln!("skipped: this CPU has no XSAVE");
            return;
        }
        let mut b = Aligned([0xee; 1024]);
        xsave_into(&mut b.0, 64, XsaveKind::Standard, Misaligned::Refuse).unwrap();
        let mx = u32::from_le_bytes(b.0[64 + MXCSR_OFFSET..64 + MXCSR_OFFSET + 4].try_into().unwrap());
        assert_eq!(mx, current_mxcsr());
        // Bytes past the image are untouched.
        assert!(b.0[64 + XSAVE_FPSSE_SIZE..].iter().all(|&x| x == 0xee));
        assert!(b.0[..64].iter().all(|&x| x == 0xee));
    }

    #[test]
    fn misaligned_and_out_of_bounds_are_refused() {
        let mut b = Aligned([0; 1024]);
        if xsave_support().xsave {
            let e = xsave_into(&mut b.0, 8, XsaveKind::Standard, Misaligned::Refuse).unwrap_err();
            assert!(e.to_string().contains("8 mod 64"), "{e}");
            let e = xsave_into(&mut b.0, 512, XsaveKind::Standard, Misaligned::Refuse).unwrap_err();
            assert!(e.to_string().contains("exceeds the buffer"), "{e}");
        }
        assert!(check_alignment(0x1000, Misaligned::Refuse).is_ok());
        assert!(check_alignment(0x1008, Misaligned::Refuse).is_err());
    }
}
