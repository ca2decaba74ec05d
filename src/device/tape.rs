//! The `tape:` device: a Linux st (SCSI tape) drive through its non-rewinding node
//! (`tape:/dev/nst0`), laid out as Amanda 3.5's TapeDevice (device-src/tape-device.c).
//!
//! **Not exercised on a real drive.** Everything here is tested against [`TapeModel`]
//! (`device::tape_model`), which follows the st driver's documented behaviour; the real
//! ioctls (`pipeline::uring::st`) are only checked to have the kernel's request codes and
//! struct layouts. Run it against a drive (or an mhvtl virtual tape library) before
//! trusting it with backups.
//!
//! # Layout
//!
//! ```text
//! file 0:  [TAPESTART header, padded to BLOCK_SIZE] FM
//! file N:  [dump header, padded to BLOCK_SIZE] [data block]... FM
//! end:     FM            (FINAL_FILEMARKS 2, default: the tape ends in two filemarks)
//!          [NOOP header] FM   (FINAL_FILEMARKS 1)
//! ```
//!
//! * Every record is exactly BLOCK_SIZE bytes (default 32 KiB, at least 32 KiB, at most
//!   16 MiB): a short last data block is padded with zeros to the block size, as Amanda
//!   does, so fixed-block drives can read the tape. The header says `bs=<BLOCK_SIZE/1024>k`.
//! * The drive is put in variable block mode (`MTSETBLK 0`) when opened: one `write` is
//!   one record.
//! * Reading needs a buffer of at least `max(BLOCK_SIZE, READ_BLOCK_SIZE)` bytes; a
//!   record larger than the buffer is an error naming the buffer size (and the record's
//!   size when the drive tells it; the st driver only says ENOMEM).
//! * A header must be at least 32 KiB; reading 0 bytes where a header should be (a
//!   filemark or the end of data) means the end of the volume: `seek_file` returns a
//!   synthesised TAPEEND. A NOOP file is skipped.
//!
//! # End of medium
//!
//! The st driver reports the early warning by failing one write with ENOSPC (nothing
//! written) and accepting the next; at the physical end every write fails. So, with
//! `LEOM` on (our default): ENOSPC → note early warning, retry the same record once →
//! success means early warning ([`WriteStatus::EarlyWarning`] from then on), a second
//! ENOSPC (or EIO, as Amanda) means the physical end ([`DeviceError::EndOfMedium`]), and
//! the record is not on tape. With `LEOM` off the first ENOSPC is the end, as in Amanda's
//! default. A 0-byte write (BSD/Solaris early warning) counts as ENOSPC.
//!
//! # Positioning
//!
//! The device tracks which file it is in and whether it is at that file's start. Seeking
//! forward is `MTFSF n`; backward `MTBSF n+1` then `MTFSF 1` (or rewind then `MTFSF n`
//! when `BSF` is off, or for file 0); afterwards the drive's own file number (MTIOCGET)
//! must agree. Appending reads the first record of each file and spaces forward until a
//! read returns 0: at the end of data it writes there; at a filemark (the second of the
//! closing pair) it spaces back over it so the new file replaces it.
//!
//! # Properties
//!
//! `BLOCK_SIZE`, `READ_BLOCK_SIZE` (old name `READ_BUFFER_SIZE`), `LEOM` (default yes),
//! `FINAL_FILEMARKS` (1 or 2, default 2), `BSF` (default yes), `COMMENT`. Amanda's other
//! drive-quirk properties (`FSF`, `FSR`, `BSR`, `EOM`, `BSF_AFTER_EOM`,
//! `FSF_AFTER_FILEMARK`, `NONBLOCKING_OPEN`, `BROKEN_GMT_ONLINE`) are accepted and
//! checked to be booleans but have no effect: the Linux st driver needs none of them.
//!
//! # Differences from Amanda
//!
//! * `LEOM` defaults to on (Amanda: off, so its first ENOSPC is the end of the tape).
//! * The closing filemarks are written explicitly (Amanda relies on the driver adding a
//!   filemark on rewind).
//! * `seek_file(0)` returns the TAPESTART header instead of failing.
//! * `start(Read)` and `start(Append)` always read the label again (Amanda: only when no
//!   label is known yet).
//! * A tape whose file 0 is not an Amanda label (foreign data) reads as not labelled,
//!   with the reason.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::device::{
    apply_properties, check_block, parse_block_size, parse_bool_property, AccessMode, Capacity, Device,
    DeviceError, DeviceProperties, Location, SeekResult, VolumeLabel, WriteStatus, MIN_HEADER_BYTES,
};
use crate::format::header::{parse_header, write_header_into, DumpFile, FileType};
use crate::pipeline::uring::st::{mt_op, mt_status, MtOpCode};

pub use crate::device::tape_model::TapeModel;

/// Default and smallest `BLOCK_SIZE`: a header block must hold Amanda's 32 KiB header.
pub const TAPE_MIN_BLOCK_BYTES: usize = 32 * 1024;

/// Largest `BLOCK_SIZE` and `READ_BLOCK_SIZE` (`LARGEST_BLOCK_ESTIMATE`, 16 MiB).
pub const TAPE_MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// What the drive reports about its position and cartridge (MTIOCGET, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TapeStatus {
    /// File number of the position (0 at BOT), if the drive knows it.
    pub file_number: Option<u32>,
    /// Record number within that file, if known.
    pub block_number: Option<u32>,
    /// Fixed block size, 0 in variable block mode.
    pub block_size_bytes: u32,
    /// At the beginning of the tape.
    pub at_bot: bool,
    /// A read or space operation ran into the end of recorded data.
    pub at_eod: bool,
    /// The cartridge is write protected (or the device could only be opened read-only).
    pub write_protected: bool,
    /// A cartridge is loaded and ready.
    pub online: bool,
}

/// A failed record read.
#[derive(Debug)]
pub enum TapeReadError {
    /// The record is larger than the buffer; it was skipped. `record_bytes` when known.
    RecordTooLarge {
        /// The record's size, if the drive says.
        record_bytes: Option<usize>,
    },
    /// Any other failure.
    Io(io::Error),
}

impl From<io::Error> for TapeReadError {
    fn from(error: io::Error) -> TapeReadError {
        TapeReadError::Io(error)
    }
}

/// The tape drive operations the device needs, at the level of the st driver's system
/// calls: results and errors are what `read`/`write`/`ioctl` return (ENOSPC, EIO, …),
/// interpreted by [`TapeDevice`]. Implemented by the real drive ([`StTape`]) and by
/// [`TapeModel`].
pub trait TapeOps: Send {
    /// `write(2)` of one record; returns the bytes written.
    fn write_record(&mut self, record: &[u8]) -> io::Result<usize>;
    /// `read(2)` of one record into `buffer`; 0 at a filemark or the end of data.
    fn read_record(&mut self, buffer: &mut [u8]) -> Result<usize, TapeReadError>;
    /// `MTWEOF count`.
    fn write_filemarks(&mut self, count: u32) -> io::Result<()>;
    /// `MTFSF count`: past the next `count` filemarks.
    fn space_filemarks_forward(&mut self, count: u32) -> io::Result<()>;
    /// `MTBSF count`: back over `count` filemarks, stopping on their BOT side.
    fn space_filemarks_backward(&mut self, count: u32) -> io::Result<()>;
    /// `MTREW`.
    fn rewind(&mut self) -> io::Result<()>;
    /// `MTOFFL`: rewind and unload.
    fn offline(&mut self) -> io::Result<()>;
    /// `MTIOCGET`.
    fn status(&mut self) -> io::Result<TapeStatus>;
    /// `MTSETBLK 0`: variable block mode.
    fn set_variable_block_mode(&mut self) -> io::Result<()>;
}

/// A Linux st device node opened for use (`/dev/nst0`).
#[derive(Debug)]
pub struct StTape {
    file: File,
    /// Opened read-only because the cartridge refused writing.
    read_only: bool,
}

impl StTape {
    /// Opens the node read-write (read-only if the cartridge is write protected), with
    /// O_NONBLOCK so an empty drive answers at once, then clears O_NONBLOCK.
    pub fn open(path: &std::path::Path) -> io::Result<StTape> {
        let open = |write: bool, nonblocking: bool| {
            let mut options = OpenOptions::new();
            options.read(true).write(write);
            if nonblocking {
                options.custom_flags(OFlag::O_NONBLOCK.bits());
            }
            options.open(path)
        };
        let open_either = |write: bool| match open(write, true) {
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::EWOULDBLOCK | Errno::EINVAL
                ) =>
            {
                open(write, false)
            }
            other => other,
        };
        let (file, read_only) = match open_either(true) {
            Ok(file) => (file, false),
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::EACCES | Errno::EPERM | Errno::EROFS
                ) =>
            {
                (open_either(false)?, true)
            }
            Err(e) => return Err(e),
        };
        let flags = fcntl(file.as_raw_fd(), FcntlArg::F_GETFL)?;
        let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
        fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
        Ok(StTape { file, read_only })
    }

    fn op(&self, op: MtOpCode, count: u32) -> io::Result<()> {
        let count = i32::try_from(count).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(mt_op(self.file.as_fd(), op, count)?)
    }
}

impl TapeOps for StTape {
    fn write_record(&mut self, record: &[u8]) -> io::Result<usize> {
        self.file.write(record)
    }

    fn read_record(&mut self, buffer: &mut [u8]) -> Result<usize, TapeReadError> {
        match self.file.read(buffer) {
            Ok(n) => Ok(n),
            // st in variable block mode: the record is larger than the request.
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::ENOMEM | Errno::EOVERFLOW
                ) =>
            {
                Err(TapeReadError::RecordTooLarge { record_bytes: None })
            }
            Err(e) => Err(TapeReadError::Io(e)),
        }
    }

    fn write_filemarks(&mut self, count: u32) -> io::Result<()> {
        self.op(MtOpCode::WriteFilemarks, count)
    }

    fn space_filemarks_forward(&mut self, count: u32) -> io::Result<()> {
        self.op(MtOpCode::ForwardSpaceFile, count)
    }

    fn space_filemarks_backward(&mut self, count: u32) -> io::Result<()> {
        self.op(MtOpCode::BackwardSpaceFile, count)
    }

    fn rewind(&mut self) -> io::Result<()> {
        self.op(MtOpCode::Rewind, 1)
    }

    fn offline(&mut self) -> io::Result<()> {
        self.op(MtOpCode::Offline, 1)
    }

    fn status(&mut self) -> io::Result<TapeStatus> {
        let status = mt_status(self.file.as_fd())?;
        Ok(TapeStatus {
            file_number: status.file_number,
            block_number: status.block_number,
            block_size_bytes: status.block_size_bytes,
            at_bot: status.at_bot,
            at_eod: status.at_eod,
            write_protected: status.write_protected || self.read_only,
            online: status.online && !status.door_open,
        })
    }

    fn set_variable_block_mode(&mut self) -> io::Result<()> {
        self.op(MtOpCode::SetBlockSize, 0)
    }
}

/// Opens the drive when the device first needs it (and again after `finish`/`eject`).
pub type TapeOpener = Box<dyn FnMut() -> io::Result<Box<dyn TapeOps>> + Send>;

/// Where the tape is, as far as the device knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    file: u32,
    at_file_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFile {
    None,
    Writing { number: u32, data_bytes: u64, wrote_short_block: bool },
    Reading { number: u32, at_end: bool },
}

/// Why a record could not be written.
enum WriteFailure {
    EndOfMedium,
    Io(io::Error, &'static str),
}

/// A tape drive (`tape:`). See the module documentation.
pub struct TapeDevice {
    name: String,
    opener: TapeOpener,
    ops: Option<Box<dyn TapeOps>>,
    block_size_bytes: usize,
    read_block_size_bytes: usize,
    leom_enabled: bool,
    final_filemarks: u32,
    bsf_supported: bool,
    label: Option<VolumeLabel>,
    mode: Option<AccessMode>,
    early_warning: bool,
    position: Option<Position>,
    in_file: InFile,
    file_number: Option<u32>,
    bytes_written: u64,
    /// Header reads (`read_buffer_bytes` long), allocated once.
    read_buffer: Vec<u8>,
    /// Headers and padded short blocks (`block_size_bytes` long), allocated once.
    write_buffer: Vec<u8>,
}

impl std::fmt::Debug for TapeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapeDevice")
            .field("name", &self.name)
            .field("block_size_bytes", &self.block_size_bytes)
            .field("mode", &self.mode)
            .field("position", &self.position)
            .field("in_file", &self.in_file)
            .finish_non_exhaustive()
    }
}

impl TapeDevice {
    /// The real drive at `node` (`name` is the full device name, `tape:/dev/nst0`).
    pub fn open_st(name: &str, node: &str, properties: &DeviceProperties) -> Result<TapeDevice, DeviceError> {
        let path = std::path::PathBuf::from(node);
        let opener: TapeOpener = Box::new(move || Ok(Box::new(StTape::open(&path)?) as Box<dyn TapeOps>));
        TapeDevice::with_opener(name, properties, opener)
    }

    /// A device driving `model` (tests, and the taper's tests).
    pub fn with_model(
        name: &str,
        properties: &DeviceProperties,
        model: &TapeModel,
    ) -> Result<TapeDevice, DeviceError> {
        let model = model.clone();
        TapeDevice::with_opener(
            name,
            properties,
            Box::new(move || Ok(Box::new(model.clone()) as Box<dyn TapeOps>)),
        )
    }

    /// A device whose drive is opened by `opener`.
    pub fn with_opener(
        name: &str,
        properties: &DeviceProperties,
        opener: TapeOpener,
    ) -> Result<TapeDevice, DeviceError> {
        let mut block_size_bytes = TAPE_MIN_BLOCK_BYTES;
        let mut read_block_size_bytes = 0;
        let mut leom_enabled = true;
        let mut final_filemarks = 2;
        let mut bsf_supported = true;
        apply_properties(name, properties, |property, value| {
            match property {
                "BLOCK_SIZE" => {
                    block_size_bytes = parse_block_size(value, TAPE_MIN_BLOCK_BYTES, TAPE_MAX_BLOCK_BYTES)?
                }
                "READ_BLOCK_SIZE" | "READ_BUFFER_SIZE" => {
                    read_block_size_bytes = parse_block_size(value, 0, TAPE_MAX_BLOCK_BYTES)?
                }
                "LEOM" => leom_enabled = parse_bool_property(value)?,
                "BSF" => bsf_supported = parse_bool_property(value)?,
                "FINAL_FILEMARKS" => {
                    final_filemarks = match value.trim() {
                        "1" => 1,
                        "2" => 2,
                        _ => return Err("must be 1 or 2".to_owned()),
                    }
                }
                "FSF" | "FSR" | "BSR" | "EOM" | "BSF_AFTER_EOM" | "FSF_AFTER_FILEMARK"
                | "NONBLOCKING_OPEN" | "BROKEN_GMT_ONLINE" => {
                    parse_bool_property(value)?;
                }
                "COMMENT" => {}
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let read_buffer_bytes = block_size_bytes.max(read_block_size_bytes);
        Ok(TapeDevice {
            name: name.to_owned(),
            opener,
            ops: None,
            block_size_bytes,
            read_block_size_bytes,
            leom_enabled,
            final_filemarks,
            bsf_supported,
            label: None,
            mode: None,
            early_warning: false,
            position: None,
            in_file: InFile::None,
            file_number: None,
            bytes_written: 0,
            read_buffer: vec![0; read_buffer_bytes],
            write_buffer: vec![0; block_size_bytes],
        })
    }

    fn at(&self) -> Location {
        Location::device(&self.name)
    }

    fn at_file(&self, number: u32) -> Location {
        Location::file(&self.name, number)
    }

    fn at_writing(&self, number: Option<u32>) -> Location {
        Location::writing(&self.name, self.label.as_ref(), number)
    }

    fn io(&self, at: Location, action: &str) -> impl FnOnce(io::Error) -> DeviceError {
        let action = action.to_owned();
        move |source| DeviceError::Io { at, action, source }
    }

    fn invalid(&self, operation: &'static str, state: &'static str) -> DeviceError {
        DeviceError::InvalidState { at: self.at(), operation, state }
    }

    fn ops(&mut self) -> &mut dyn TapeOps {
        self.ops.as_deref_mut().expect("the drive is opened before use (ensure_open)")
    }

    fn ensure_open(&mut self) -> Result<(), DeviceError> {
        if self.ops.is_some() {
            return Ok(());
        }
        let mut ops =
            (self.opener)().map_err(|source| match Errno::from_raw(source.raw_os_error().unwrap_or(0)) {
                Errno::ENOMEDIUM | Errno::EBUSY => DeviceError::NotReady {
                    at: self.at(),
                    reason: format!("cannot open the drive: {source}"),
                },
                _ => DeviceError::Io { at: self.at(), action: "opening the tape drive".to_owned(), source },
            })?;
        let status = ops.status().map_err(self.io(self.at(), "reading the drive status (MTIOCGET)"))?;
        if !status.online {
            return Err(DeviceError::NotReady {
                at: self.at(),
                reason: "no tape loaded, or the drive is offline".into(),
            });
        }
        ops.set_variable_block_mode()
            .map_err(self.io(self.at(), "setting variable block mode (MTSETBLK 0)"))?;
        self.ops = Some(ops);
        self.position = None;
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), DeviceError> {
        let result = self.ops().rewind();
        self.position = None;
        result.map_err(self.io(self.at(), "rewinding"))?;
        self.position = Some(Position { file: 0, at_file_start: true });
        Ok(())
    }

    /// Writes one record, handling early warning and end of medium as described in the
    /// module documentation.
    fn write_record(&mut self, record: &[u8]) -> Result<(), WriteFailure> {
        let mut retried = false;
        loop {
            let result =
                self.ops.as_deref_mut().expect("the drive is open while writing").write_record(record);
            let no_space = match result {
                Ok(n) if n == record.len() => return Ok(()),
                Ok(0) => true,
                Ok(_) => {
                    return Err(WriteFailure::Io(
                        io::Error::new(
                            io::ErrorKind::WriteZero,
                            "short write: is the drive in fixed block mode with a smaller block size?",
                        ),
                        "writing a record",
                    ))
                }
                Err(e) => match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
                    Errno::EINTR | Errno::EAGAIN => continue,
                    Errno::ENOSPC => true,
                    // As Amanda: EIO while writing is taken for the end of the tape.
                    Errno::EIO => return Err(WriteFailure::EndOfMedium),
                    _ => return Err(WriteFailure::Io(e, "writing a record")),
                },
            };
            if no_space {
                if retried || !self.leom_enabled {
                    return Err(WriteFailure::EndOfMedium);
                }
                retried = true;
                self.early_warning = true;
            }
        }
    }

    fn write_failure(&self, failure: WriteFailure, number: Option<u32>, data_bytes: u64) -> DeviceError {
        match failure {
            WriteFailure::EndOfMedium => {
                DeviceError::EndOfMedium { at: self.at_writing(number), bytes_written: data_bytes }
            }
            WriteFailure::Io(source, action) => {
                DeviceError::Io { at: self.at_writing(number), action: action.to_owned(), source }
            }
        }
    }

    fn write_filemark(&mut self, number: Option<u32>) -> Result<(), DeviceError> {
        let result = self.ops().write_filemarks(1);
        result.map_err(|source| {
            if source.raw_os_error() == Some(Errno::ENOSPC as i32) {
                DeviceError::EndOfMedium { at: self.at_writing(number), bytes_written: 0 }
            } else {
                DeviceError::Io {
                    at: self.at_writing(number),
                    action: "writing a filemark".to_owned(),
                    source,
                }
            }
        })
    }

    fn check_writable(&mut self) -> Result<(), DeviceError> {
        let status =
            self.ops().status().map_err(self.io(self.at(), "reading the drive status (MTIOCGET)"))?;
        if status.write_protected {
            return Err(DeviceError::WriteProtected { at: self.at() });
        }
        Ok(())
    }

    /// Reads the record at the start of file `number` into `read_buffer`.
    fn read_header_record(&mut self, number: u32) -> Result<Option<DumpFile>, DeviceError> {
        let buffer_bytes = self.read_buffer.len();
        let result = self
            .ops
            .as_deref_mut()
            .expect("the drive is open while reading")
            .read_record(&mut self.read_buffer);
        self.position = Some(Position { file: number, at_file_start: false });
        let got_bytes = match result {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(TapeReadError::RecordTooLarge { record_bytes }) => {
                return Err(DeviceError::RecordTooLarge {
                    at: self.at_file(number),
                    buffer_bytes,
                    record_bytes,
                })
            }
            Err(TapeReadError::Io(source)) => {
                self.position = None;
                return Err(DeviceError::Io {
                    at: self.at_file(number),
                    action: "reading the header".into(),
                    source,
                });
            }
        };
        if got_bytes < MIN_HEADER_BYTES {
            return Err(DeviceError::TruncatedHeader {
                at: self.at_file(number),
                got_bytes,
                expected_bytes: MIN_HEADER_BYTES,
            });
        }
        parse_header(&self.read_buffer[..got_bytes])
            .map(Some)
            .map_err(|source| DeviceError::BadHeader { at: self.at_file(number), source })
    }

    /// Moves to the start of file `target`.
    fn position_at(&mut self, target: u32) -> Result<(), DeviceError> {
        let result = match self.position {
            Some(Position { file, at_file_start: true }) if file == target => Ok(()),
            Some(Position { file, .. }) if target > file => self.ops().space_filemarks_forward(target - file),
            Some(Position { file, .. }) if self.bsf_supported && target > 0 => {
                let ops = self.ops();
                ops.space_filemarks_backward(file - target + 1).and_then(|()| ops.space_filemarks_forward(1))
            }
            _ => {
                let ops = self.ops();
                ops.rewind()
                    .and_then(|()| if target > 0 { ops.space_filemarks_forward(target) } else { Ok(()) })
            }
        };
        self.position = None;
        if let Err(source) = result {
            let at_eod = self.ops().status().is_ok_and(|status| status.at_eod);
            return Err(if at_eod {
                DeviceError::PastEnd { at: self.at_file(target) }
            } else {
                DeviceError::Io {
                    at: self.at_file(target),
                    action: format!("spacing to file {target}"),
                    source,
                }
            });
        }
        let status =
            self.ops().status().map_err(self.io(self.at_file(target), "reading the drive status"))?;
        if let Some(found) = status.file_number {
            if found != target {
                return Err(DeviceError::Io {
                    at: self.at_file(target),
                    action: format!("spacing to file {target}"),
                    source: io::Error::other(format!("the drive reports file {found}")),
                });
            }
        }
        self.position = Some(Position { file: target, at_file_start: true });
        Ok(())
    }

    /// Positions after the last file for appending; returns the next file number.
    fn space_to_end(&mut self) -> Result<u32, DeviceError> {
        self.rewind()?;
        let mut files = 0u32;
        loop {
            let result = self.ops.as_deref_mut().expect("open").read_record(&mut self.read_buffer);
            match result {
                Ok(0) => break,
                Ok(_) | Err(TapeReadError::RecordTooLarge { .. }) => {
                    let spaced = self.ops().space_filemarks_forward(1);
                    spaced.map_err(
                        self.io(self.at_file(files), "spacing over a file to find the end of data"),
                    )?;
                    files += 1;
                }
                Err(TapeReadError::Io(source)) => {
                    self.position = None;
                    return Err(DeviceError::Io {
                        at: self.at_file(files),
                        action: "reading to find the end of data".into(),
                        source,
                    });
                }
            }
        }
        let status = self.ops().status().map_err(self.io(self.at(), "reading the drive status"))?;
        if !status.at_eod {
            // The 0 came from a filemark: the second of the pair closing the tape. Back
            // over it, so the next file takes its place.
            let result = self.ops().space_filemarks_backward(1);
            result.map_err(self.io(self.at_file(files), "spacing back over the closing filemark"))?;
        }
        self.position = Some(Position { file: files, at_file_start: true });
        Ok(files)
    }

    fn close_drive(&mut self) {
        self.ops = None;
        self.position = None;
        self.in_file = InFile::None;
        self.mode = None;
    }
}

impl Device for TapeDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn block_size_bytes(&self) -> usize {
        self.block_size_bytes
    }

    fn read_buffer_bytes(&self) -> usize {
        self.block_size_bytes.max(self.read_block_size_bytes)
    }

    fn read_label(&mut self) -> Result<VolumeLabel, DeviceError> {
        if matches!(self.in_file, InFile::Writing { .. }) {
            return Err(self.invalid("read the label", "a file is being written"));
        }
        self.ensure_open()?;
        self.label = None;
        self.in_file = InFile::None;
        self.rewind()?;
        let header = self.read_header_record(0);
        self.rewind()?;
        let header = match header {
            Ok(Some(header)) => header,
            Ok(None) => {
                return Err(DeviceError::NotLabelled { at: self.at(), reason: "the tape is blank".into() })
            }
            Err(DeviceError::BadHeader { source, .. }) => {
                return Err(DeviceError::NotLabelled {
                    at: self.at(),
                    reason: format!("file 0 is not an Amanda label: {source}"),
                })
            }
            Err(error) => return Err(error),
        };
        match header.file_type {
            FileType::TapeStart => {
                let label = VolumeLabel { label: header.host_or_label, datestamp: header.datestamp };
                self.label = Some(label.clone());
                Ok(label)
            }
            FileType::Empty => {
                Err(DeviceError::NotLabelled { at: self.at(), reason: "file 0 is blank".into() })
            }
            found => Err(DeviceError::NotLabelled {
                at: self.at(),
                reason: format!("file 0 holds a {found} header, not a TAPESTART label"),
            }),
        }
    }

    fn volume_label(&self) -> Option<&VolumeLabel> {
        self.label.as_ref()
    }

    fn start(&mut self, mode: AccessMode) -> Result<(), DeviceError> {
        if self.mode.is_some() {
            self.finish()?;
        }
        self.ensure_open()?;
        self.early_warning = false;
        self.bytes_written = 0;
        self.in_file = InFile::None;
        match &mode {
            // Amanda re-reads the label only when none is known; we always do, so a
            // cartridge swapped behind our back is never appended to or misread.
            AccessMode::Read => {
                self.read_label()?;
                self.rewind()?;
                self.file_number = Some(0);
            }
            AccessMode::Append => {
                self.read_label()?;
                self.check_writable()?;
                self.space_to_end()?;
            }
            AccessMode::Write { label, datestamp } => {
                self.check_writable()?;
                let header = DumpFile::new_tapestart(datestamp, label)
                    .map_err(|source| DeviceError::CannotBuildHeader { at: self.at_file(0), source })?;
                write_header_into(&header, &mut self.write_buffer)
                    .map_err(|source| DeviceError::CannotBuildHeader { at: self.at_file(0), source })?;
                self.rewind()?;
                self.label = None;
                let record = std::mem::take(&mut self.write_buffer);
                let written = self.write_record(&record);
                self.write_buffer = record;
                self.position = None;
                written.map_err(|failure| self.write_failure(failure, Some(0), 0))?;
                self.write_filemark(Some(0))?;
                self.bytes_written = self.block_size_bytes as u64;
                self.position = Some(Position { file: 1, at_file_start: true });
                self.label = Some(VolumeLabel { label: label.clone(), datestamp: datestamp.clone() });
                self.file_number = Some(0);
            }
        }
        self.mode = Some(mode);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DeviceError> {
        if self.ops.is_none() {
            self.close_drive();
            return Ok(());
        }
        let writable = self.mode.as_ref().is_some_and(AccessMode::is_writable);
        let mut result = Ok(());
        if let InFile::Writing { .. } = self.in_file {
            result = self.finish_file();
        }
        if writable && result.is_ok() {
            result = if self.final_filemarks == 2 {
                self.write_filemark(None)
            } else {
                let noop = DumpFile::new_noop();
                match write_header_into(&noop, &mut self.write_buffer) {
                    Ok(_) => {
                        let record = std::mem::take(&mut self.write_buffer);
                        let written = self.write_record(&record);
                        self.write_buffer = record;
                        written
                            .map_err(|failure| self.write_failure(failure, None, 0))
                            .and_then(|()| self.write_filemark(None))
                    }
                    Err(source) => Err(DeviceError::CannotBuildHeader { at: self.at(), source }),
                }
            };
        }
        let rewound = self.ops().rewind().map_err(self.io(self.at(), "rewinding to finish"));
        self.close_drive();
        result.and(rewound)
    }

    fn start_file(&mut self, header: &DumpFile) -> Result<u32, DeviceError> {
        match &self.mode {
            Some(mode) if mode.is_writable() => {}
            Some(_) => return Err(self.invalid("start a file", "the device was started for reading")),
            None => return Err(self.invalid("start a file", "the device is not started")),
        }
        if self.in_file != InFile::None {
            return Err(self.invalid("start a file", "a file is already being written"));
        }
        if !header.file_type.is_dump() {
            return Err(DeviceError::UnexpectedHeader {
                at: self.at_writing(None),
                expected: "a FILE, CONT_FILE or SPLIT_FILE header to write",
                found: header.file_type,
            });
        }
        let Some(Position { file: number, at_file_start: true }) = self.position else {
            return Err(self.invalid("start a file", "the tape position is unknown (start again)"));
        };
        let mut header = header.clone();
        header.block_size_bytes = self.block_size_bytes;
        write_header_into(&header, &mut self.write_buffer)
            .map_err(|source| DeviceError::CannotBuildHeader { at: self.at_writing(Some(number)), source })?;
        let record = std::mem::take(&mut self.write_buffer);
        let written = self.write_record(&record);
        self.write_buffer = record;
        self.position = Some(Position { file: number, at_file_start: false });
        written.map_err(|failure| self.write_failure(failure, Some(number), 0))?;
        self.bytes_written += self.block_size_bytes as u64;
        self.in_file = InFile::Writing { number, data_bytes: 0, wrote_short_block: false };
        self.file_number = Some(number);
        Ok(number)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteStatus, DeviceError> {
        let InFile::Writing { number, data_bytes, wrote_short_block } = self.in_file else {
            return Err(self.invalid("write a block", "no file is being written (call start_file)"));
        };
        check_block(|| self.at_writing(Some(number)), block.len(), self.block_size_bytes, wrote_short_block)?;
        let short = block.len() < self.block_size_bytes;
        let written = if short {
            // Tape drives get whole blocks: pad the last one with zeros, as Amanda does.
            let mut record = std::mem::take(&mut self.write_buffer);
            record[..block.len()].copy_from_slice(block);
            record[block.len()..].fill(0);
            let written = self.write_record(&record);
            self.write_buffer = record;
            written
        } else {
            self.write_record(block)
        };
        written.map_err(|failure| self.write_failure(failure, Some(number), data_bytes))?;
        self.bytes_written += self.block_size_bytes as u64;
        self.in_file =
            InFile::Writing { number, data_bytes: data_bytes + block.len() as u64, wrote_short_block: short };
        Ok(if self.early_warning { WriteStatus::EarlyWarning } else { WriteStatus::Written })
    }

    fn finish_file(&mut self) -> Result<(), DeviceError> {
        let InFile::Writing { number, .. } = self.in_file else {
            return Err(self.invalid("finish a file", "no file is being written"));
        };
        self.in_file = InFile::None;
        self.position = None;
        self.write_filemark(Some(number))?;
        self.position = Some(Position { file: number + 1, at_file_start: true });
        Ok(())
    }

    fn seek_file(&mut self, requested: u32) -> Result<SeekResult, DeviceError> {
        match &self.mode {
            Some(AccessMode::Read) => {}
            _ => return Err(self.invalid("seek to a file", "the device is not started for reading")),
        }
        self.in_file = InFile::None;
        let mut target = requested;
        loop {
            self.position_at(target)?;
            let header = match self.read_header_record(target)? {
                Some(header) => header,
                None => {
                    // A filemark or the end of data where a header should be: the end of
                    // the volume.
                    self.rewind()?;
                    self.file_number = Some(target);
                    let datestamp = self.label.as_ref().map_or("X", |label| label.datestamp.as_str());
                    let header = DumpFile::new_tapeend(datestamp)
                        .unwrap_or_else(|_| DumpFile { file_type: FileType::TapeEnd, ..DumpFile::default() });
                    return Ok(SeekResult { file_number: target, header });
                }
            };
            match header.file_type {
                FileType::File | FileType::ContFile | FileType::SplitFile => {}
                FileType::TapeStart if target == 0 => {}
                FileType::Noop => {
                    target += 1;
                    continue;
                }
                found => {
                    return Err(DeviceError::UnexpectedHeader {
                        at: self.at_file(target),
                        expected: if target == 0 { "a TAPESTART header" } else { "a dump file header" },
                        found,
                    })
                }
            }
            self.in_file = InFile::Reading { number: target, at_end: target == 0 };
            self.file_number = Some(target);
            return Ok(SeekResult { file_number: target, header });
        }
    }

    fn read_block(&mut self, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        let InFile::Reading { number, at_end } = self.in_file else {
            return Err(self.invalid("read a block", "no file is open for reading (call seek_file)"));
        };
        let needed_bytes = self.read_buffer_bytes();
        if buffer.len() < needed_bytes {
            return Err(DeviceError::BufferTooSmall {
                at: self.at_file(number),
                buffer_bytes: buffer.len(),
                needed_bytes,
            });
        }
        if at_end {
            return Ok(0);
        }
        match self.ops().read_record(buffer) {
            Ok(0) => {
                self.in_file = InFile::Reading { number, at_end: true };
                let at_eod = self.ops().status().is_ok_and(|status| status.at_eod);
                self.position = (!at_eod).then_some(Position { file: number + 1, at_file_start: true });
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(TapeReadError::RecordTooLarge { record_bytes }) => Err(DeviceError::RecordTooLarge {
                at: self.at_file(number),
                buffer_bytes: buffer.len(),
                record_bytes,
            }),
            Err(TapeReadError::Io(source)) => {
                self.position = None;
                Err(DeviceError::Io {
                    at: self.at_file(number),
                    action: "reading a data block".into(),
                    source,
                })
            }
        }
    }

    fn eject(&mut self) -> Result<(), DeviceError> {
        if self.mode.is_some() {
            self.finish()?;
        }
        self.ensure_open()?;
        let result = self.ops().rewind().and_then(|()| self.ops().offline());
        self.close_drive();
        self.label = None;
        result.map_err(self.io(self.at(), "ejecting (MTOFFL)"))
    }

    fn capacity(&self) -> Capacity {
        Capacity { used_bytes: self.bytes_written, limit_bytes: None }
    }

    fn at_early_warning(&self) -> bool {
        self.early_warning
    }

    fn file_number(&self) -> Option<u32> {
        self.file_number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tape_model::TapeItem;
    use crate::device::test_support::pattern;

    const BLOCK: usize = 32 * 1024;

    fn device(model: &TapeModel, properties: &DeviceProperties) -> TapeDevice {
        TapeDevice::with_model("tape:/dev/nst0", properties, model).unwrap()
    }

    fn write_mode(label: &str) -> AccessMode {
        AccessMode::Write { label: label.into(), datestamp: "20240506070809".into() }
    }

    fn header(disk: &str, part: i32) -> DumpFile {
        DumpFile::new_split_file("20240506070809", "client", disk, 0, "GNUTAR", part, -1)
    }

    fn write_file(device: &mut TapeDevice, header: &DumpFile, data: &[u8]) -> u32 {
        let number = device.start_file(header).unwrap();
        for block in data.chunks(device.block_size_bytes()) {
            assert_eq!(device.write_block(block).unwrap(), WriteStatus::Written);
        }
        device.finish_file().unwrap();
        number
    }

    /// Reads the current file's data; padding of a short last block is kept.
    fn read_data(device: &mut TapeDevice) -> Vec<u8> {
        let mut buffer = vec![0u8; device.read_buffer_bytes()];
        let mut data = Vec::new();
        loop {
            match device.read_block(&mut buffer).unwrap() {
                0 => return data,
                n => data.extend_from_slice(&buffer[..n]),
            }
        }
    }

    fn padded(data: &[u8], block: usize) -> Vec<u8> {
        let mut padded = data.to_vec();
        padded.resize(data.len().div_ceil(block) * block, 0);
        padded
    }

    #[test]
    fn label_files_and_closing_filemarks_are_laid_out_as_amanda() {
        let model = TapeModel::new(1 << 30, 0);
        let mut tape = device(&model, &DeviceProperties::new());
        tape.start(write_mode("TAPE-01")).unwrap();
        assert!(model.is_variable_block_mode());
        write_file(&mut tape, &header("/a", 1), &pattern(BLOCK * 2 + 100, 1));
        write_file(&mut tape, &header("/b", 1), &[]);
        tape.finish().unwrap();
        use TapeItem::{Filemark as FM, Record as R};
        assert_eq!(
            model.contents(),
            [R(BLOCK), FM, R(BLOCK), R(BLOCK), R(BLOCK), R(BLOCK), FM, R(BLOCK), FM, FM]
        );
        let label = model.record(0).unwrap();
        assert!(label.starts_with(b"AMANDA: TAPESTART DATE 20240506070809 TAPE TAPE-01\n\x0c\n\0"));
        let first = String::from_utf8_lossy(&model.record(2).unwrap()[..400]).into_owned();
        assert!(first.starts_with(
            "AMANDA: SPLIT_FILE 20240506070809 client /a  part 1/-1  lev 0 comp N program GNUTAR"
        ));
        assert!(first.contains("bs=32k"), "{first}");
        // The short last block is padded to a whole block.
        assert_eq!(&model.record(5).unwrap()[..100], &pattern(BLOCK * 2 + 100, 1)[BLOCK * 2..]);
    }

    #[test]
    fn several_files_read_back_by_seeking_both_ways() {
        let model = TapeModel::new(1 << 30, 0);
        let block = 64 * 1024;
        let properties = DeviceProperties::new().with("BLOCK_SIZE", "64k");
        let mut tape = device(&model, &properties);
        tape.start(write_mode("TAPE-02")).unwrap();
        let datasets: Vec<Vec<u8>> = (0..5).map(|i| pattern(block * i + 1234 * i, i as u64)).collect();
        for (i, data) in datasets.iter().enumerate() {
            assert_eq!(write_file(&mut tape, &header(&format!("/d{i}"), 1), data), i as u32 + 1);
        }
        tape.finish().unwrap();

        let mut reader = device(&model, &properties);
        assert_eq!(reader.read_label().unwrap().label, "TAPE-02");
        reader.start(AccessMode::Read).unwrap();
        for number in [3u32, 1, 5, 2, 2, 4] {
            let found = reader.seek_file(number).unwrap();
            assert_eq!(found.file_number, number);
            assert_eq!(found.header.disk, format!("/d{}", number - 1));
            let data = &datasets[number as usize - 1];
            assert_eq!(read_data(&mut reader), padded(data, block), "file {number}");
        }
        // Seek within the file just read, and to the next one without reading all.
        reader.seek_file(1).unwrap();
        reader.seek_file(2).unwrap();
        assert_eq!(read_data(&mut reader), padded(&datasets[1], block));
        assert_eq!(reader.seek_file(0).unwrap().header.file_type, FileType::TapeStart);
        let end = reader.seek_file(6).unwrap();
        assert_eq!((end.file_number, end.header.file_type), (6, FileType::TapeEnd));
        // Past the closing pair of filemarks there is nothing: the end again, and then
        // an error.
        assert_eq!(reader.seek_file(7).unwrap().header.file_type, FileType::TapeEnd);
        let error = reader.seek_file(9).unwrap_err();
        assert!(matches!(error, DeviceError::PastEnd { .. }), "{error}");
        reader.finish().unwrap();
    }

    #[test]
    fn without_bsf_backward_seeks_rewind() {
        let model = TapeModel::new(1 << 30, 0);
        let properties = DeviceProperties::new().with("BSF", "no");
        let mut tape = device(&model, &properties);
        tape.start(write_mode("TAPE-03")).unwrap();
        for i in 0..3 {
            write_file(&mut tape, &header(&format!("/d{i}"), 1), b"data");
        }
        tape.finish().unwrap();
        tape.start(AccessMode::Read).unwrap();
        tape.seek_file(3).unwrap();
        let before = model.operations().len();
        assert_eq!(tape.seek_file(2).unwrap().header.disk, "/d1");
        assert_eq!(&model.operations()[before..], ["rewind", "fsf"]);
        let mut tape = device(&model, &DeviceProperties::new());
        tape.start(AccessMode::Read).unwrap();
        tape.seek_file(3).unwrap();
        let before = model.operations().len();
        tape.seek_file(2).unwrap();
        assert_eq!(&model.operations()[before..], ["bsf", "fsf"]);
    }

    #[test]
    fn append_adds_files_after_the_last_one() {
        for final_filemarks in ["1", "2"] {
            let model = TapeModel::new(1 << 30, 0);
            let properties = DeviceProperties::new().with("FINAL_FILEMARKS", final_filemarks);
            let mut tape = device(&model, &properties);
            tape.start(write_mode("TAPE-04")).unwrap();
            write_file(&mut tape, &header("/first", 1), &pattern(5000, 1));
            tape.finish().unwrap();
            let mut tape = device(&model, &properties);
            tape.start(AccessMode::Append).unwrap();
            let expected = if final_filemarks == "2" { 2 } else { 3 };
            assert_eq!(write_file(&mut tape, &header("/second", 1), &pattern(6000, 2)), expected);
            tape.finish().unwrap();
            tape.start(AccessMode::Read).unwrap();
            assert_eq!(tape.seek_file(1).unwrap().header.disk, "/first");
            // With one final filemark a NOOP file sits between, and is skipped.
            let second = tape.seek_file(2).unwrap();
            assert_eq!((second.file_number, second.header.disk.as_str()), (expected, "/second"));
            assert_eq!(tape.seek_file(expected + 1).unwrap().header.file_type, FileType::TapeEnd);
        }
        // A tape ending in a single filemark (as Amanda often leaves it) appends at EOD.
        let model = TapeModel::new(1 << 30, 0);
        let mut tape = device(&model, &DeviceProperties::new());
        tape.start(write_mode("TAPE-05")).unwrap();
        write_file(&mut tape, &header("/only", 1), b"x");
        tape.finish_file().unwrap_err();
        tape.close_drive();
        assert_eq!(model.contents().iter().filter(|i| **i == TapeItem::Filemark).count(), 2);
        tape.start(AccessMode::Append).unwrap();
        assert_eq!(write_file(&mut tape, &header("/next", 1), b"y"), 2);
        tape.finish().unwrap();
        tape.start(AccessMode::Read).unwrap();
        assert_eq!(tape.seek_file(2).unwrap().header.disk, "/next");
    }

    #[test]
    fn early_warning_comes_before_the_end_of_medium() {
        // Room for the label, a header and 20 blocks; early warning 5 blocks before.
        let model = TapeModel::new((22 * BLOCK) as u64, (5 * BLOCK) as u64);
        let mut tape = device(&model, &DeviceProperties::new());
        tape.start(write_mode("TAPE-06")).unwrap();
        assert_eq!(tape.start_file(&header("/big", 1)).unwrap(), 1);
        let block = pattern(BLOCK, 6);
        let mut statuses = Vec::new();
        let error = loop {
            match tape.write_block(&block) {
                Ok(status) => statuses.push(status),
                Err(error) => break error,
            }
        };
        let first_warning =
            statuses.iter().position(|s| *s == WriteStatus::EarlyWarning).expect("early warning");
        assert!(first_warning > 0 && first_warning < statuses.len());
        assert!(statuses[first_warning..].iter().all(|s| *s == WriteStatus::EarlyWarning));
        assert!(tape.at_early_warning());
        match &error {
            DeviceError::EndOfMedium { at, bytes_written } => {
                assert_eq!(at.file, Some(1));
                assert_eq!(at.label.as_deref(), Some("TAPE-06"));
                assert_eq!(*bytes_written, (statuses.len() * BLOCK) as u64);
            }
            other => panic!("expected EndOfMedium, got {other}"),
        }
        assert!(
            error.to_string().starts_with("tape:/dev/nst0: volume TAPE-06: file 1: end of medium"),
            "{error}"
        );
        // Everything reported written is on the tape, and the file can still be closed.
        assert_eq!(model.used_bytes(), (2 + statuses.len()) as u64 * BLOCK as u64);
        tape.finish().unwrap();
        tape.start(AccessMode::Read).unwrap();
        tape.seek_file(1).unwrap();
        assert_eq!(read_data(&mut tape).len(), statuses.len() * BLOCK);
    }

    #[test]
    fn without_leom_the_first_enospc_is_the_end() {
        let model = TapeModel::new((22 * BLOCK) as u64, (5 * BLOCK) as u64);
        let mut tape = device(&model, &DeviceProperties::new().with("LEOM", "false"));
        tape.start(write_mode("TAPE-07")).unwrap();
        tape.start_file(&header("/big", 1)).unwrap();
        let block = pattern(BLOCK, 7);
        let mut written = 0;
        let error = loop {
            match tape.write_block(&block) {
                Ok(status) => {
                    assert_eq!(status, WriteStatus::Written);
                    written += 1;
                }
                Err(error) => break error,
            }
        };
        assert!(matches!(error, DeviceError::EndOfMedium { .. }), "{error}");
        assert!(written < 20);
    }

    #[test]
    fn an_oversized_record_names_both_sizes() {
        let model = TapeModel::new(1 << 30, 0);
        let properties = DeviceProperties::new().with("BLOCK_SIZE", "256k");
        let mut tape = device(&model, &properties);
        tape.start(write_mode("TAPE-08")).unwrap();
        write_file(&mut tape, &header("/d", 1), &pattern(300_000, 8));
        tape.finish().unwrap();

        // Read back expecting 32 KiB blocks: the label record itself is too large.
        let mut reader = device(&model, &DeviceProperties::new());
        let error = reader.read_label().unwrap_err();
        assert_eq!(
            error.to_string(),
            "tape:/dev/nst0: file 0: a block of 262144 bytes does not fit the 32768-byte read buffer; set READ_BLOCK_SIZE (tapetype readblocksize) to at least the size it was written with"
        );
        // READ_BLOCK_SIZE fixes the header reads; a data read with a small buffer fails.
        let mut reader = device(&model, &DeviceProperties::new().with("READ_BLOCK_SIZE", "256k"));
        reader.start(AccessMode::Read).unwrap();
        reader.seek_file(1).unwrap();
        let mut small = vec![0u8; 100_000];
        let error = reader.read_block(&mut small).unwrap_err();
        assert!(matches!(
            error,
            DeviceError::BufferTooSmall { buffer_bytes: 100_000, needed_bytes: 262_144, .. }
        ));
        let data = read_data(&mut reader);
        assert_eq!(&data[..300_000], &pattern(300_000, 8)[..]);
    }

    #[test]
    fn damaged_and_foreign_tapes_are_reported() {
        let model = TapeModel::new(1 << 30, 0);
        let mut tape = device(&model, &DeviceProperties::new());
        let error = tape.read_label().unwrap_err();
        assert!(error.to_string().contains("not labelled (the tape is blank)"), "{error}");

        model.append_raw_record(b"some tar archive, not Amanda");
        model.append_raw_filemark();
        let error = tape.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::TruncatedHeader { got_bytes: 28, .. }), "{error}");

        let model = TapeModel::new(1 << 30, 0);
        let mut tape = device(&model, &DeviceProperties::new());
        tape.start(write_mode("TAPE-09")).unwrap();
        write_file(&mut tape, &header("/d", 1), b"data");
        tape.finish().unwrap();
        model.replace_record(2, &[b'x'; 1000]);
        tape.start(AccessMode::Read).unwrap();
        let error = tape.seek_file(1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tape:/dev/nst0: file 1: header is truncated (got 1000 bytes of 32768)"
        );
        let mut garbage = vec![b'x'; BLOCK];
        garbage[100] = 0;
        model.replace_record(2, &garbage);
        let error = tape.seek_file(1).unwrap_err();
        assert!(matches!(error, DeviceError::BadHeader { .. }), "{error}");
        model.replace_record(0, &garbage);
        let mut fresh = device(&model, &DeviceProperties::new());
        let error = fresh.read_label().unwrap_err();
        assert!(error.to_string().contains("file 0 is not an Amanda label"), "{error}");
    }

    #[test]
    fn protection_eject_and_misuse() {
        let model = TapeModel::new(1 << 30, 0);
        let mut tape = device(&model, &DeviceProperties::new());
        model.set_write_protected(true);
        let error = tape.start(write_mode("TAPE-10")).unwrap_err();
        assert_eq!(error.to_string(), "tape:/dev/nst0: volume is write protected");
        model.set_write_protected(false);
        tape.start(write_mode("TAPE-10")).unwrap();
        assert!(matches!(tape.seek_file(1), Err(DeviceError::InvalidState { .. })));
        tape.start_file(&header("/d", 1)).unwrap();
        assert_eq!(tape.write_block(b"short").unwrap(), WriteStatus::Written);
        assert!(matches!(tape.write_block(b"again"), Err(DeviceError::BadBlockSize { .. })));
        tape.eject().unwrap();
        assert!(!model.is_loaded());
        let error = tape.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::NotReady { .. }), "{error}");
        model.load();
        assert_eq!(tape.read_label().unwrap().label, "TAPE-10");
        tape.start(AccessMode::Read).unwrap();
        tape.seek_file(1).unwrap();
        assert_eq!(&read_data(&mut tape)[..5], b"short");
        let error =
            TapeDevice::with_model("tape:x", &DeviceProperties::new().with("BLOCK_SIZE", "16k"), &model)
                .unwrap_err();
        assert!(error.to_string().contains("between 32768"), "{error}");
    }
}
