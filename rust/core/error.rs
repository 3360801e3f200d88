//! The one error type of the core. A `Perf` error is what the kernel itself would return from a
//! system call (an errno plus the reason, naming the field and value); the other variants are
//! misuse of the model's own API and have no kernel counterpart.

use std::fmt;

/// Kernel errno values (x86-64 numbering, `include/uapi/asm-generic/errno*.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    EMFILE = 24,
    ENOTTY = 25,
    ENOSPC = 28,
    ERANGE = 34,
    ENOSYS = 38,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
}

impl Errno {
    /// Every errno the model can return, for tables and round trips.
    pub const ALL: [Errno; 22] = [
        Errno::EPERM,
        Errno::ENOENT,
        Errno::ESRCH,
        Errno::EINTR,
        Errno::EIO,
        Errno::E2BIG,
        Errno::EBADF,
        Errno::EAGAIN,
        Errno::ENOMEM,
        Errno::EACCES,
        Errno::EFAULT,
        Errno::EBUSY,
        Errno::EEXIST,
        Errno::ENODEV,
        Errno::EINVAL,
        Errno::EMFILE,
        Errno::ENOTTY,
        Errno::ENOSPC,
        Errno::ERANGE,
        Errno::ENOSYS,
        Errno::EOVERFLOW,
        Errno::EOPNOTSUPP,
    ];

    /// The positive errno number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The symbolic name, as `errno.h` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EINTR => "EINTR",
            Errno::EIO => "EIO",
            Errno::E2BIG => "E2BIG",
            Errno::EBADF => "EBADF",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::EMFILE => "EMFILE",
            Errno::ENOTTY => "ENOTTY",
            Errno::ENOSPC => "ENOSPC",
            Errno::ERANGE => "ERANGE",
            Errno::ENOSYS => "ENOSYS",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
        }
    }

    /// The errno with this number, if the model knows it.
    pub fn from_code(code: i32) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.code() == code)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the core engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// What the kernel would answer: an errno and the reason, e.g.
    /// `EINVAL: attr.sample_type has unknown bit 25`.
    #[error("{errno}: {reason}")]
    Perf { errno: Errno, reason: String },
    /// Misuse of the model's API (a bad argument, a double free): not a kernel answer.
    #[error("{0}")]
    Usage(String),
    /// A handle (event, task, cache, object) that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The model found itself in a state that should be impossible.
    #[error("internal error: {0}")]
    Internal(String),
    /// A malformed perf.data file: the byte offset in the file and what is wrong there (the
    /// field and its value).
    #[error("perf.data offset {offset:#x}: {reason}")]
    PerfData { offset: u64, reason: String },
}

impl Error {
    /// A kernel-style error with its reason.
    pub fn perf(errno: Errno, reason: impl Into<String>) -> Self {
        Error::Perf { errno, reason: reason.into() }
    }

    /// A malformed-perf.data error at byte `offset` of the file.
    pub fn perf_data(offset: u64, reason: impl Into<String>) -> Self {
        Error::PerfData { offset, reason: reason.into() }
    }

    /// The errno, if this is a kernel answer.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Perf { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Result alias of the core.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_numbers_match_libc() {
        let pairs = [
            (Errno::EPERM, libc::EPERM),
            (Errno::ENOENT, libc::ENOENT),
            (Errno::ESRCH, libc::ESRCH),
            (Errno::E2BIG, libc::E2BIG),
            (Errno::EBADF, libc::EBADF),
            (Errno::EAGAIN, libc::EAGAIN),
            (Errno::ENOMEM, libc::ENOMEM),
            (Errno::EACCES, libc::EACCES),
            (Errno::EFAULT, libc::EFAULT),
            (Errno::EBUSY, libc::EBUSY),
            (Errno::ENODEV, libc::ENODEV),
            (Errno::EINVAL, libc::EINVAL),
            (Errno::EMFILE, libc::EMFILE),
            (Errno::ENOTTY, libc::ENOTTY),
            (Errno::ENOSPC, libc::ENOSPC),
            (Errno::ENOSYS, libc::ENOSYS),
            (Errno::EOVERFLOW, libc::EOVERFLOW),
            (Errno::EOPNOTSUPP, libc::EOPNOTSUPP),
        ];
        for (e, c) in pairs {
            assert_eq!(e.code(), c, "{e}");
            assert_eq!(Errno::from_code(c), Some(e));
        }
    }

    #[test]
    fn message_names_errno_then_reason() {
        let e = Error::perf(Errno::EINVAL, "attr.sample_type has unknown bit 25");
        assert_eq!(e.to_string(), "EINVAL: attr.sample_type has unknown bit 25");
        assert_eq!(e.errno(), Some(Errno::EINVAL));
    }
}
