//! The Linux st (SCSI tape) driver's two ioctls, MTIOCTOP and MTIOCGET, wrapped as safe
//! functions for `device::tape`.
//!
//! # Layout (linux/mtio.h, x86_64 and every other Linux ABI with a 32-bit `int`)
//!
//! ```text
//! struct mtop  { short mt_op; int mt_count; };                  8 bytes
//! struct mtget { long mt_type, mt_resid, mt_dsreg, mt_gstat, mt_erreg;
//!                int mt_fileno, mt_blkno; };                    5 longs + 2 ints
//! MTIOCTOP = _IOW('m', 1, struct mtop)     MTIOCGET = _IOR('m', 2, struct mtget)
//! ```
//!
//! `mt_fileno`/`mt_blkno` are `__kernel_daddr_t`, an `int`; -1 means "position unknown".
//! `mt_gstat` carries the generic status bits (`GMT_*`), `mt_dsreg` the block size in
//! its low 24 bits (`MT_ST_BLKSIZE_MASK`, 0 = variable block mode).

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc::{c_int, c_long, c_short};

/// `struct mtop`: one magnetic-tape operation and its repeat count.
#[repr(C)]
struct MtOp {
    mt_op: c_short,
    mt_count: c_int,
}

/// `struct mtget`: the drive status as the st driver reports it.
#[repr(C)]
#[derive(Default)]
struct MtGet {
    mt_type: c_long,
    mt_resid: c_long,
    mt_dsreg: c_long,
    mt_gstat: c_long,
    mt_erreg: c_long,
    mt_fileno: c_int,
    mt_blkno: c_int,
}

nix::ioctl_write_ptr!(ioctl_mtioctop, b'm', 1, MtOp);
nix::ioctl_read!(ioctl_mtiocget, b'm', 2, MtGet);

/// The MTIOCTOP operations the tape device uses (values from linux/mtio.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtOpCode {
    /// `MTFSF`: space forward over `count` filemarks (ends on the EOT side of the last).
    ForwardSpaceFile = 1,
    /// `MTBSF`: space backward over `count` filemarks (ends on the BOT side of the last).
    BackwardSpaceFile = 2,
    /// `MTWEOF`: write `count` filemarks.
    WriteFilemarks = 5,
    /// `MTREW`: rewind.
    Rewind = 6,
    /// `MTOFFL`: rewind and unload.
    Offline = 7,
    /// `MTNOP`: nothing; flushes the driver's buffer and refreshes the status.
    Nop = 8,
    /// `MTSETBLK`: set the block size; 0 = variable block mode (one record per write).
    SetBlockSize = 20,
}

/// `MT_ST_BLKSIZE_MASK`: the block-size bits of `mt_dsreg`.
const MT_ST_BLKSIZE_MASK: c_long = 0x00ff_ffff;
/// `GMT_EOF`: just after a filemark.
const GMT_EOF: c_long = 0x8000_0000;
/// `GMT_BOT`: at the beginning of the tape.
const GMT_BOT: c_long = 0x4000_0000;
/// `GMT_EOT`: at the end of the tape (early warning passed).
const GMT_EOT: c_long = 0x2000_0000;
/// `GMT_EOD`: at the end of recorded data.
const GMT_EOD: c_long = 0x0800_0000;
/// `GMT_WR_PROT`: the cartridge is write protected.
const GMT_WR_PROT: c_long = 0x0400_0000;
/// `GMT_ONLINE`: a tape is loaded and the drive is ready.
const GMT_ONLINE: c_long = 0x0100_0000;
/// `GMT_DR_OPEN`: the door is open / no tape.
const GMT_DR_OPEN: c_long = 0x0004_0000;

/// The decoded MTIOCGET answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MtStatus {
    /// File number of the current position, counted from 0 at BOT; `None` if unknown.
    pub file_number: Option<u32>,
    /// Record number within the current file; `None` if unknown.
    pub block_number: Option<u32>,
    /// Fixed block size in bytes, or 0 in variable block mode.
    pub block_size_bytes: u32,
    /// Positioned just after a filemark.
    pub after_filemark: bool,
    /// At the beginning of the tape.
    pub at_bot: bool,
    /// Past the early-warning point.
    pub at_eot: bool,
    /// At the end of recorded data.
    pub at_eod: bool,
    /// The loaded cartridge is write protected.
    pub write_protected: bool,
    /// A tape is loaded and the drive is ready.
    pub online: bool,
    /// The door is open (no tape).
    pub door_open: bool,
}

/// Performs one MTIOCTOP operation `count` times on the open tape device `fd`.
pub fn mt_op(fd: BorrowedFd<'_>, op: MtOpCode, count: i32) -> nix::Result<()> {
    let request = MtOp { mt_op: op as c_short, mt_count: count };
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; MTIOCTOP reads
    // exactly one `struct mtop` through the pointer, and `request` is a properly laid out
    // `#[repr(C)]` copy of it that outlives the call. On a descriptor that is not a tape
    // the kernel answers ENOTTY without touching memory.
    unsafe { ioctl_mtioctop(fd.as_raw_fd(), &request) }.map(drop)
}

/// Reads the drive status (MTIOCGET) of the open tape device `fd`.
pub fn mt_status(fd: BorrowedFd<'_>) -> nix::Result<MtStatus> {
    let mut status = MtGet::default();
    // SAFETY: `fd` is live for the borrow; MTIOCGET writes exactly one `struct mtget`
    // through the pointer, and `status` is a writable, properly aligned `#[repr(C)]`
    // value of that layout that outlives the call.
    unsafe { ioctl_mtiocget(fd.as_raw_fd(), &mut status) }?;
    let gstat = status.mt_gstat;
    Ok(MtStatus {
        file_number: u32::try_from(status.mt_fileno).ok(),
        block_number: u32::try_from(status.mt_blkno).ok(),
        block_size_bytes: (status.mt_dsreg & MT_ST_BLKSIZE_MASK) as u32,
        after_filemark: gstat & GMT_EOF != 0,
        at_bot: gstat & GMT_BOT != 0,
        at_eot: gstat & GMT_EOT != 0,
        at_eod: gstat & GMT_EOD != 0,
        write_protected: gstat & GMT_WR_PROT != 0,
        online: gstat & GMT_ONLINE != 0,
        door_open: gstat & GMT_DR_OPEN != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_have_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<MtOp>(), 8);
        assert_eq!(std::mem::size_of::<MtGet>(), 5 * std::mem::size_of::<c_long>() + 8);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn request_codes_match_linux_mtio_h() {
        // Values printed by a C program including <sys/mtio.h> on x86_64.
        assert_eq!(nix::request_code_write!(b'm', 1, std::mem::size_of::<MtOp>()), 0x4008_6d01);
        assert_eq!(nix::request_code_read!(b'm', 2, std::mem::size_of::<MtGet>()), 0x8030_6d02);
    }

    #[test]
    fn a_regular_file_is_not_a_tape() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        use std::os::fd::AsFd;
        assert_eq!(mt_op(file.as_fd(), MtOpCode::Nop, 1), Err(nix::errno::Errno::ENOTTY));
        assert_eq!(mt_status(file.as_fd()), Err(nix::errno::Errno::ENOTTY));
    }
}
