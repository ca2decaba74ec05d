//! The `file:` device: a vtape directory laid out exactly as Amanda 3.5's VfsDevice
//! (device-src/vfs-device.c), so Amanda reads our vtapes and we read Amanda's.
//!
//! # Layout
//!
//! `file:NODE` stores the volume in a directory, chosen when the device is opened by the
//! `USE_DATA` property: `NO` → `NODE/`, `YES` → `NODE/data/`, `EXIST` (default) →
//! `NODE/data/` if that exists, else `NODE/`. (chg-disk sets `NO` unless the user set it.)
//! In that directory:
//!
//! ```text
//! 00000.LABEL                    the label: exactly 32768 bytes, the TAPESTART header
//!                                (`AMANDA: TAPESTART DATE {datestamp} TAPE {label}`),
//!                                NUL padded; LABEL is used raw in the name
//! NNNNN.HOST.DISK.LEVEL          file N: a 32768-byte header block (its `bs=32k`), then
//!                                the data in blocks of BLOCK_SIZE bytes, the last one
//!                                possibly short; the name is sanitise_filename() of
//!                                printf("%05d.%s.%s.%d", N, host, disk, level)
//! 00000-lock                     Amanda's (unused) volume lock; never deleted
//! ```
//!
//! * One regular file per volume file; its end is the end of the OS file, there are no
//!   filemark bytes. Files are created `O_CREAT|O_EXCL`, mode 0666 (umask applies).
//! * A new file's number is 1 + the highest number among names matching `^[0-9]+\.`.
//! * File N is looked up as the regular file matching `^0*N\.`; `seek_file(N)` uses the
//!   smallest existing number ≥ N. With none, but file N-1 present, it returns a
//!   synthesised TAPEEND header; otherwise "attempt to read past the tape-end file".
//! * Labelling (`start(Write)`) first deletes every name matching `^[0-9]+[.-]` except
//!   `00000-lock`, then creates `00000.LABEL`.
//! * Volume usage = the sum of the sizes of the `^[0-9]+\.` files.
//! * `MAX_VOLUME_USAGE` (bytes; 0 = none): a write that would take the volume past it is
//!   refused ([`DeviceError::VolumeFull`], PEOM). Early warning (LEOM) when the usage plus
//!   the write plus 4 blocks would pass it, or when the filesystem's free space minus the
//!   write is at most 4 blocks. Free space is re-read with statvfs when the estimate falls
//!   within 128 blocks of zero, after 100 MiB written, or every 5 s.
//! * On ENOSPC/EFBIG the file is truncated back to 32768 + the whole data blocks known to
//!   be written and [`DeviceError::EndOfMedium`] is returned. Data writes are queued
//!   ([`FileWriter`]), so the error can come a few blocks after the one that did not fit,
//!   or from `finish_file`: the blocks accepted meanwhile are not on the volume either
//!   (the taper writes the whole part again on the next volume in any case). The header is
//!   written before `start_file` returns, so a volume without room for it fails there.
//!
//! Properties: `BLOCK_SIZE` (1 byte .. 2 GiB-1, default 32 KiB), `MAX_VOLUME_USAGE`,
//! `ENFORCE_MAX_VOLUME_USAGE` (default yes), `USE_DATA`, `LEOM` (default yes),
//! `MONITOR_FREE_SPACE` (default yes; off also disables the MAX_VOLUME_USAGE early
//! warning, as in Amanda), `COMMENT`.
//!
//! # Durability
//!
//! Amanda never fsyncs a vtape. We do, because a dump is recorded as done once the
//! device returns: the label file and the directory are fsynced when a volume is
//! labelled; the directory right after a data file is created; the file in
//! `finish_file` (after every queued write has completed: `fdatasync`, then the
//! directory). Data goes through [`FileWriter`]: blocks are copied into 1 MiB aligned
//! buffers written with O_DIRECT through io_uring, several in flight (the page cache where
//! the filesystem refuses O_DIRECT, blocking writes where io_uring is unavailable).
//! Free-space readings count the bytes still queued as already used.
//!
//! # Differences from Amanda
//!
//! * A header that cannot be read completely is an error naming the file and sizes
//!   ([`DeviceError::TruncatedHeader`]), where Amanda parses what it got.
//! * A data file whose header write fails for lack of space is removed again, so the
//!   volume never ends in a file without a header.
//! * When the taper tells the part's CRC ([`Device::set_part_crc`]), `finish_file`
//!   rewrites the header block with a `PART-CRC=` line, so a restore can judge the file
//!   alone (Amanda's reader ignores the line). The rewrite goes through the page cache
//!   after every data write has completed and before the `fdatasync`, which covers it:
//!   the file is durable with its final header when `finish_file` returns, for one sync.
//! * `USE_DATA` values other than NO/YES/EXIST (and FALSE/TRUE) are refused; Amanda warns
//!   and uses EXIST.
//! * The synthesised TAPEEND carries the volume's datestamp; Amanda puts the current time.
//! * The free-space early warning also fires when free space is below the size of the
//!   write itself (Amanda's unsigned subtraction wraps there and reports no warning).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::device::file_writer::{FileWriter, StageBuffers};
use crate::device::{
    apply_properties, check_block, parse_block_size, parse_bool_property, parse_size_property, AccessMode,
    Capacity, Device, DeviceError, DeviceProperties, Location, SeekResult, VolumeLabel, WriteStatus,
};
use crate::format::crc::Crc;
use crate::format::header::{parse_header, write_header_into, DumpFile, FileType};
use crate::format::quote::sanitise_filename;
use crate::pipeline::uring::file::FileIoError;

/// Size of the label file and of every data file's header (`VFS_DEVICE_LABEL_SIZE`).
pub const VFS_HEADER_BYTES: usize = 32 * 1024;

/// Default `BLOCK_SIZE` (`VFS_DEVICE_DEFAULT_BLOCK_SIZE` = `DISK_BLOCK_BYTES`).
pub const VFS_DEFAULT_BLOCK_BYTES: usize = 32 * 1024;

/// Largest `BLOCK_SIZE` (`VFS_DEVICE_MAX_BLOCK_SIZE` = `INT_MAX`).
const VFS_MAX_BLOCK_BYTES: usize = i32::MAX as usize;

/// Blocks of room kept before `MAX_VOLUME_USAGE` or a full filesystem when deciding on
/// early warning (`EOM_EARLY_WARNING_ZONE_BLOCKS`): room for another block and a header.
const EARLY_WARNING_ZONE_BLOCKS: u64 = 4;

/// Free space is re-read when the estimate is within this many blocks of zero.
const MONITOR_CLOSELY_WITHIN_BLOCKS: u64 = 128;

/// Free space is re-read after this many bytes written since the last check.
const MONITOR_EVERY_BYTES: u64 = 102_400 * 1024;

/// Free space is re-read at least this often.
const MONITOR_EVERY: Duration = Duration::from_secs(5);

/// The name Amanda's volume lock would have; labelling never deletes it.
const VOLUME_LOCKFILE_NAME: &[u8] = b"00000-lock";

/// Mode bits for created files (`VFS_DEVICE_CREAT_MODE`), before the umask.
const CREATE_MODE: u32 = 0o666;

/// `USE_DATA`: where the volume lives relative to the device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseData {
    /// `NODE/`.
    No,
    /// `NODE/data/`.
    Yes,
    /// `NODE/data/` if it exists when the device is opened, else `NODE/`.
    Exist,
}

impl UseData {
    fn parse(value: &str) -> Result<UseData, String> {
        match value.trim().to_ascii_uppercase().as_str() {
            "NO" | "FALSE" => Ok(UseData::No),
            "YES" | "TRUE" => Ok(UseData::Yes),
            "EXIST" => Ok(UseData::Exist),
            _ => Err("expected NO, YES or EXIST".to_owned()),
        }
    }
}

/// The file currently open, if any.
#[derive(Debug)]
enum OpenFile {
    None,
    Writing {
        writer: Box<FileWriter>,
        path: PathBuf,
        number: u32,
        data_bytes: u64,
        wrote_short_block: bool,
        /// The header as written, to be written again with `part_crc`.
        header: Box<DumpFile>,
        /// Set by [`Device::set_part_crc`]; written into the header when the file is closed.
        part_crc: Option<Crc>,
    },
    Reading {
        file: File,
        number: u32,
        at_end: bool,
    },
    /// The volume ended under the file being written: it was cut back to whole blocks and
    /// synced; `finish_file` closes it.
    Cut,
}

/// Free-space estimate between statvfs calls (Amanda's `checked_fs_free_*`).
#[derive(Debug)]
struct FreeSpace {
    free_bytes: u64,
    written_since_check_bytes: u64,
    checked_at: Option<Instant>,
}

/// A vtape directory (`file:`). See the module documentation.
#[derive(Debug)]
pub struct VfsDevice {
    name: String,
    dir: PathBuf,
    block_size_bytes: usize,
    volume_limit_bytes: u64,
    enforce_volume_limit: bool,
    leom_enabled: bool,
    monitor_free_space: bool,
    label: Option<VolumeLabel>,
    mode: Option<AccessMode>,
    volume_bytes: u64,
    early_warning: bool,
    free_space: FreeSpace,
    open: OpenFile,
    file_number: Option<u32>,
    /// The 32 KiB header block, allocated once.
    header_block: Vec<u8>,
    /// The data files' staging buffers, allocated once (see [`FileWriter`]).
    stage: StageBuffers,
}

impl VfsDevice {
    /// Opens `file:NODE` (`name` is the full device name) with `properties`. The
    /// directory is only checked when the volume is first used.
    pub fn open(name: &str, node: &str, properties: &DeviceProperties) -> Result<VfsDevice, DeviceError> {
        let mut block_size_bytes = VFS_DEFAULT_BLOCK_BYTES;
        let mut volume_limit_bytes = 0;
        let mut enforce_volume_limit = true;
        let mut leom_enabled = true;
        let mut monitor_free_space = true;
        let mut use_data = UseData::Exist;
        apply_properties(name, properties, |property, value| {
            match property {
                "BLOCK_SIZE" => block_size_bytes = parse_block_size(value, 1, VFS_MAX_BLOCK_BYTES)?,
                "MAX_VOLUME_USAGE" => volume_limit_bytes = parse_size_property(value)?,
                "ENFORCE_MAX_VOLUME_USAGE" => enforce_volume_limit = parse_bool_property(value)?,
                "LEOM" => leom_enabled = parse_bool_property(value)?,
                "MONITOR_FREE_SPACE" => monitor_free_space = parse_bool_property(value)?,
                "USE_DATA" => use_data = UseData::parse(value)?,
                "COMMENT" => {}
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let node = Path::new(node);
        let dir = match use_data {
            UseData::No => node.to_path_buf(),
            UseData::Yes => node.join("data"),
            UseData::Exist if fs::metadata(node.join("data")).is_ok() => node.join("data"),
            UseData::Exist => node.to_path_buf(),
        };
        Ok(VfsDevice {
            name: name.to_owned(),
            dir,
            block_size_bytes,
            volume_limit_bytes,
            enforce_volume_limit,
            leom_enabled,
            monitor_free_space,
            label: None,
            mode: None,
            volume_bytes: 0,
            early_warning: false,
            free_space: FreeSpace { free_bytes: u64::MAX, written_since_check_bytes: 0, checked_at: None },
            open: OpenFile::None,
            file_number: None,
            header_block: vec![0; VFS_HEADER_BYTES],
            stage: StageBuffers::default(),
        })
    }

    /// The directory the volume's files are in (after `USE_DATA`).
    pub fn directory(&self) -> &Path {
        &self.dir
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

    fn io_error(&self, at: Location, action: String) -> impl FnOnce(io::Error) -> DeviceError {
        move |source| DeviceError::Io { at, action, source }
    }

    fn check_directory(&self) -> Result<(), DeviceError> {
        let metadata = fs::metadata(&self.dir)
            .map_err(self.io_error(self.at(), format!("checking directory {}", self.dir.display())))?;
        if !metadata.is_dir() {
            return Err(DeviceError::Io {
                at: self.at(),
                action: format!("checking directory {}", self.dir.display()),
                source: io::Error::from_raw_os_error(Errno::ENOTDIR as i32),
            });
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<VolumeEntry>, DeviceError> {
        list_volume_entries(&self.dir)
            .map_err(self.io_error(self.at(), format!("reading directory {}", self.dir.display())))
    }

    fn sync_directory(&self) -> Result<(), DeviceError> {
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(self.io_error(self.at(), format!("syncing directory {}", self.dir.display())))
    }

    /// The regular file holding volume file `number` (`^0*N\.`), if any.
    fn file_path(&self, entries: &[VolumeEntry], number: u32) -> Option<PathBuf> {
        entries
            .iter()
            .filter(|entry| entry.is_data_or_label && entry.number == u64::from(number))
            .map(|entry| self.dir.join(&entry.name))
            .find(|path| fs::metadata(path).is_ok_and(|m| m.is_file()))
    }

    fn update_volume_bytes(&mut self, entries: &[VolumeEntry]) {
        self.volume_bytes = entries
            .iter()
            .filter(|entry| entry.is_data_or_label)
            .filter_map(|entry| fs::metadata(self.dir.join(&entry.name)).ok())
            .map(|metadata| metadata.len())
            .sum();
    }

    fn require_mode(&self, operation: &'static str, writable: bool) -> Result<(), DeviceError> {
        match &self.mode {
            None => Err(self.invalid(operation, "the device is not started")),
            Some(mode) if mode.is_writable() != writable => Err(self.invalid(
                operation,
                if writable {
                    "the device was started for reading"
                } else {
                    "the device was started for writing"
                },
            )),
            Some(_) => Ok(()),
        }
    }

    fn invalid(&self, operation: &'static str, state: &'static str) -> DeviceError {
        DeviceError::InvalidState { at: self.at(), operation, state }
    }

    /// Reads and parses the header block of an open file; `number` for messages.
    fn read_header(&mut self, file: &mut File, number: u32) -> Result<DumpFile, DeviceError> {
        let got_bytes = read_full(file, &mut self.header_block)
            .map_err(self.io_error(self.at_file(number), "reading the header".to_owned()))?;
        if got_bytes < VFS_HEADER_BYTES {
            return Err(DeviceError::TruncatedHeader {
                at: self.at_file(number),
                got_bytes,
                expected_bytes: VFS_HEADER_BYTES,
            });
        }
        parse_header(&self.header_block)
            .map_err(|source| DeviceError::BadHeader { at: self.at_file(number), source })
    }

    /// Amanda's `check_at_leom`: whether writing `request_bytes` more puts the volume in
    /// its early-warning zone.
    fn check_at_leom(&mut self, request_bytes: u64) -> bool {
        if !self.leom_enabled || !self.monitor_free_space {
            return false;
        }
        let block_bytes = self.block_size_bytes as u64;
        let zone_bytes = EARLY_WARNING_ZONE_BLOCKS * block_bytes;
        if self.enforce_volume_limit
            && self.volume_limit_bytes > 0
            && self.volume_bytes.saturating_add(request_bytes).saturating_add(zone_bytes)
                > self.volume_limit_bytes
        {
            return true;
        }
        let estimate_bytes = self
            .free_space
            .free_bytes
            .saturating_sub(self.free_space.written_since_check_bytes)
            .saturating_sub(request_bytes);
        let recheck = estimate_bytes <= block_bytes * MONITOR_CLOSELY_WITHIN_BLOCKS
            || self.free_space.written_since_check_bytes > MONITOR_EVERY_BYTES
            || self.free_space.checked_at.is_none_or(|at| at.elapsed() >= MONITOR_EVERY);
        if !recheck {
            return false;
        }
        let Ok(stats) = nix::sys::statvfs::statvfs(&self.dir) else {
            // As Amanda: a filesystem that cannot report free space is not monitored.
            self.monitor_free_space = false;
            return false;
        };
        // Writes still queued are not in the filesystem's count yet: they count as
        // written since this reading.
        let pending_bytes = match &self.open {
            OpenFile::Writing { writer, .. } => writer.pending_bytes(),
            _ => 0,
        };
        self.free_space = FreeSpace {
            // Both are u64 on 64-bit Linux; the casts keep 32-bit targets building.
            #[allow(clippy::unnecessary_cast)]
            free_bytes: (stats.blocks_available() as u64).saturating_mul(stats.fragment_size() as u64),
            written_since_check_bytes: pending_bytes,
            checked_at: Some(Instant::now()),
        };
        self.free_space.free_bytes.saturating_sub(pending_bytes).saturating_sub(request_bytes) <= zone_bytes
    }

    /// Amanda's `check_at_peom`: whether `request_bytes` more would pass MAX_VOLUME_USAGE.
    fn check_volume_full(&self, request_bytes: u64, file: Option<u32>) -> Result<(), DeviceError> {
        if self.enforce_volume_limit
            && self.volume_limit_bytes > 0
            && self.volume_bytes.saturating_add(request_bytes) > self.volume_limit_bytes
        {
            return Err(DeviceError::VolumeFull {
                at: self.at_writing(file),
                used_bytes: self.volume_bytes,
                request_bytes,
                limit_bytes: self.volume_limit_bytes,
            });
        }
        Ok(())
    }

    fn account_written(&mut self, bytes: u64) {
        self.volume_bytes += bytes;
        self.free_space.written_since_check_bytes += bytes;
    }

    fn close_file(&mut self) -> Result<(), DeviceError> {
        if let OpenFile::Writing { mut writer, path, number, header, part_crc, .. } =
            std::mem::replace(&mut self.open, OpenFile::None)
        {
            // Every data write completes first, so the header never names a CRC for data
            // that is not yet in the file, and the sync below covers both.
            if let Err(e) = writer.flush() {
                let confirmed = writer.confirmed_bytes();
                drop(writer);
                return Err(self.write_failed(e, &path, number, confirmed));
            }
            if let Some(crc) = part_crc {
                self.rewrite_header(&path, number, *header, crc)?;
            }
            let written = writer.position();
            if let Err(e) = writer.finish(&mut self.stage) {
                return Err(self.write_failed(e, &path, number, written));
            }
        }
        Ok(())
    }

    /// Writes file `number`'s header block again, with `PART-CRC=` (see the module
    /// documentation). Not synced here: the writer's `fdatasync` is for the whole file.
    fn rewrite_header(
        &mut self,
        path: &Path,
        number: u32,
        mut header: DumpFile,
        crc: Crc,
    ) -> Result<(), DeviceError> {
        header.part_crc = Some(crc);
        if write_header_into(&header, &mut self.header_block).is_err() {
            // Only a header within a line of the block's size (a DLE just under Amanda's
            // limit) has no room for the line: the part is whole as it is, just not
            // checkable alone, which beats failing the dump.
            return Ok(());
        }
        let at = self.at_writing(Some(number));
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.write_all_at(&self.header_block, 0))
            .map_err(|source| DeviceError::Io {
                at,
                action: format!("writing the header of {} again with its PART-CRC", path.display()),
                source,
            })
    }

    /// The writer of file `number` (at `path`) failed; it is gone. A full disk ends the
    /// medium: the file is cut back to its header and the whole blocks known to be written
    /// (Amanda truncates to the blocks written), so it ends cleanly. `queued_bytes` is the
    /// data handed to the writer before the failing call (for messages only).
    fn write_failed(
        &mut self,
        error: FileIoError,
        path: &Path,
        number: u32,
        confirmed_bytes: u64,
    ) -> DeviceError {
        let at = self.at_writing(Some(number));
        if !is_no_space_error(&error) {
            let (action, source) = split_file_error(error, "writing", path);
            return DeviceError::Io { at, action, source };
        }
        let written = confirmed_bytes.saturating_sub(VFS_HEADER_BYTES as u64);
        let block = self.block_size_bytes as u64;
        let keep_data = written / block * block;
        let keep_bytes = VFS_HEADER_BYTES as u64 + keep_data;
        let cut = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.set_len(keep_bytes).and_then(|()| file.sync_all()));
        if let Err(source) = cut {
            return DeviceError::Io {
                at,
                action: format!("truncating {} after running out of space", path.display()),
                source,
            };
        }
        DeviceError::EndOfMedium { at, bytes_written: keep_data }
    }

    fn label_volume(&mut self, label: &str, datestamp: &str) -> Result<(), DeviceError> {
        if label.is_empty() || label.contains('/') || label.contains('\0') {
            return Err(DeviceError::InvalidLabel {
                at: self.at(),
                label: label.to_owned(),
                reason: "a vtape label must be non-empty and contain no '/' or NUL",
            });
        }
        let header = DumpFile::new_tapestart(datestamp, label)
            .map_err(|source| DeviceError::CannotBuildHeader { at: Location::file(&self.name, 0), source })?;
        write_header_into(&header, &mut self.header_block)
            .map_err(|source| DeviceError::CannotBuildHeader { at: Location::file(&self.name, 0), source })?;
        for entry in self.list()? {
            if entry.name.as_bytes() == VOLUME_LOCKFILE_NAME {
                continue;
            }
            let path = self.dir.join(&entry.name);
            fs::remove_file(&path)
                .map_err(self.io_error(self.at(), format!("deleting {}", path.display())))?;
        }
        if let Some(left) = self.list()?.iter().find(|entry| entry.name.as_bytes() != VOLUME_LOCKFILE_NAME) {
            return Err(DeviceError::Io {
                at: self.at(),
                action: format!(
                    "erasing the volume: found spurious storage file {}",
                    self.dir.join(&left.name).display()
                ),
                source: io::Error::from(io::ErrorKind::AlreadyExists),
            });
        }
        let path = self.dir.join(format!("00000.{label}"));
        let at = Location::file(&self.name, 0);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(CREATE_MODE)
            .open(&path)
            .map_err(self.io_error(at.clone(), format!("creating {}", path.display())))?;
        file.write_all(&self.header_block)
            .and_then(|()| file.sync_all())
            .map_err(self.io_error(at, format!("writing {}", path.display())))?;
        self.sync_directory()?;
        self.label = Some(VolumeLabel { label: label.to_owned(), datestamp: datestamp.to_owned() });
        self.volume_bytes = VFS_HEADER_BYTES as u64;
        self.file_number = Some(0);
        Ok(())
    }
}

impl Device for VfsDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn block_size_bytes(&self) -> usize {
        self.block_size_bytes
    }

    fn read_label(&mut self) -> Result<VolumeLabel, DeviceError> {
        if matches!(self.open, OpenFile::Writing { .. }) {
            return Err(self.invalid("read the label", "a file is being written"));
        }
        self.open = OpenFile::None;
        self.label = None;
        self.check_directory()?;
        let entries = self.list()?;
        let Some(path) = self.file_path(&entries, 0) else {
            return Err(DeviceError::NotLabelled {
                at: self.at(),
                reason: format!("no file 00000.<label> in {}", self.dir.display()),
            });
        };
        let mut file = File::open(&path)
            .map_err(self.io_error(self.at_file(0), format!("opening {}", path.display())))?;
        let header = self.read_header(&mut file, 0)?;
        let label = match header.file_type {
            FileType::TapeStart => VolumeLabel { label: header.host_or_label, datestamp: header.datestamp },
            FileType::Empty => {
                return Err(DeviceError::NotLabelled {
                    at: self.at(),
                    reason: format!("{} is blank", path.display()),
                })
            }
            found => {
                return Err(DeviceError::UnexpectedHeader {
                    at: self.at_file(0),
                    expected: "a TAPESTART header",
                    found,
                })
            }
        };
        self.update_volume_bytes(&entries);
        self.label = Some(label.clone());
        Ok(label)
    }

    fn volume_label(&self) -> Option<&VolumeLabel> {
        self.label.as_ref()
    }

    fn start(&mut self, mode: AccessMode) -> Result<(), DeviceError> {
        self.close_file()?;
        self.open = OpenFile::None;
        self.mode = None;
        self.early_warning = false;
        self.check_directory()?;
        match &mode {
            AccessMode::Write { label, datestamp } => self.label_volume(label, datestamp)?,
            AccessMode::Read | AccessMode::Append => {
                // Amanda re-reads only when no label is known; reading again costs one
                // 32 KiB read and catches a volume swapped underneath us.
                self.read_label()?;
            }
        }
        self.mode = Some(mode);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DeviceError> {
        let result = self.close_file();
        self.open = OpenFile::None;
        self.mode = None;
        result
    }

    fn start_file(&mut self, header: &DumpFile) -> Result<u32, DeviceError> {
        self.require_mode("start a file", true)?;
        if !matches!(self.open, OpenFile::None) {
            return Err(self.invalid("start a file", "a file is already being written"));
        }
        if !header.file_type.is_dump() {
            return Err(DeviceError::UnexpectedHeader {
                at: self.at_writing(None),
                expected: "a FILE, CONT_FILE or SPLIT_FILE header to write",
                found: header.file_type,
            });
        }
        if self.check_at_leom(VFS_HEADER_BYTES as u64) {
            self.early_warning = true;
        }
        self.check_volume_full(VFS_HEADER_BYTES as u64, None)?;

        let entries = self.list()?;
        let last = entries
            .iter()
            .filter(|entry| entry.is_data_or_label && entry.number <= i32::MAX as u64)
            .map(|entry| entry.number)
            .max();
        let Some(last) = last else {
            return Err(DeviceError::NotLabelled {
                at: self.at(),
                reason: format!("no volume files left in {}", self.dir.display()),
            });
        };
        let number = u32::try_from(last + 1)
            .map_err(|_| self.invalid("start a file", "the file numbers are exhausted"))?;
        // Amanda's vtape headers always say bs=32k: the header block is 32 KiB whatever
        // the data block size.
        let mut header = header.clone();
        header.block_size_bytes = VFS_HEADER_BYTES;
        // A PART-CRC describes this file's data: only `set_part_crc` provides it.
        header.part_crc = None;
        write_header_into(&header, &mut self.header_block)
            .map_err(|source| DeviceError::CannotBuildHeader { at: self.at_writing(Some(number)), source })?;

        let base = format!("{number:05}.{}.{}.{}", header.host_or_label, header.disk, header.dump_level);
        let path = self.dir.join(sanitise_filename(&base));
        let at = self.at_writing(Some(number));
        let writer = match FileWriter::create(
            &path,
            CREATE_MODE,
            true,
            &self.header_block,
            self.block_size_bytes,
            &mut self.stage,
        ) {
            Ok(w) => Box::new(w),
            Err(FileIoError::Open { source, .. }) => {
                return Err(DeviceError::Io { at, action: format!("creating {}", path.display()), source })
            }
            Err(e) => {
                // A file without a complete header would stop every later reader; take it
                // away again (the removal is best effort: the write error is what matters).
                let _ = fs::remove_file(&path);
                if is_no_space_error(&e) {
                    return Err(DeviceError::EndOfMedium { at, bytes_written: 0 });
                }
                let (action, source) = split_file_error(e, "writing the header of", &path);
                return Err(DeviceError::Io { at, action, source });
            }
        };
        self.sync_directory()?;
        self.account_written(VFS_HEADER_BYTES as u64);
        self.open = OpenFile::Writing {
            writer,
            path,
            number,
            data_bytes: 0,
            wrote_short_block: false,
            header: Box::new(header),
            part_crc: None,
        };
        self.file_number = Some(number);
        Ok(number)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteStatus, DeviceError> {
        let OpenFile::Writing { number, wrote_short_block, .. } = &self.open else {
            return Err(self.invalid("write a block", "no file is being written (call start_file)"));
        };
        let number = *number;
        check_block(
            || self.at_writing(Some(number)),
            block.len(),
            self.block_size_bytes,
            *wrote_short_block,
        )?;
        let request_bytes = block.len() as u64;
        if self.check_at_leom(request_bytes) {
            self.early_warning = true;
        }
        self.check_volume_full(request_bytes, Some(number))?;

        let OpenFile::Writing { writer, .. } = &mut self.open else {
            unreachable!("checked above");
        };
        if let Err(e) = writer.write(block) {
            let confirmed = writer.confirmed_bytes();
            // The writer is dropped here, waiting for its writes in flight, before the file
            // is cut back.
            let OpenFile::Writing { path, .. } = std::mem::replace(&mut self.open, OpenFile::None) else {
                unreachable!("checked above");
            };
            let error = self.write_failed(e, &path, number, confirmed);
            if error.is_end_of_volume() {
                self.open = OpenFile::Cut;
            }
            return Err(error);
        }
        let OpenFile::Writing { data_bytes, wrote_short_block, .. } = &mut self.open else {
            unreachable!("checked above");
        };
        *data_bytes += request_bytes;
        *wrote_short_block = block.len() < self.block_size_bytes;
        self.account_written(request_bytes);
        Ok(if self.early_warning { WriteStatus::EarlyWarning } else { WriteStatus::Written })
    }

    fn set_part_crc(&mut self, crc: Crc) {
        // A file cut back at the end of the medium keeps its header: its part is written
        // again on the next volume, and what is left here is a partial part.
        if let OpenFile::Writing { part_crc, .. } = &mut self.open {
            *part_crc = Some(crc);
        }
    }

    fn finish_file(&mut self) -> Result<(), DeviceError> {
        if matches!(self.open, OpenFile::Cut) {
            self.open = OpenFile::None;
            return Ok(());
        }
        if !matches!(self.open, OpenFile::Writing { .. }) {
            return Err(self.invalid("finish a file", "no file is being written"));
        }
        self.close_file()
    }

    fn abandon_file(&mut self) -> Result<(), DeviceError> {
        match std::mem::replace(&mut self.open, OpenFile::None) {
            OpenFile::Writing { writer, path, number, .. } => {
                // Waits for the writes in flight, then the file goes: a later reader finds
                // the volume as it was before this part.
                drop(writer);
                let at = self.at_writing(Some(number));
                fs::remove_file(&path).map_err(|source| DeviceError::Io {
                    at,
                    action: format!("removing {}", path.display()),
                    source,
                })?;
                self.sync_directory()?;
                let entries = self.list()?;
                self.update_volume_bytes(&entries);
                Ok(())
            }
            // Cut back at the end of the volume: it stays, as a part Amanda logs as partial.
            OpenFile::Cut => Ok(()),
            other => {
                self.open = other;
                Err(self.invalid("abandon a file", "no file is being written"))
            }
        }
    }

    fn seek_file(&mut self, requested: u32) -> Result<SeekResult, DeviceError> {
        self.require_mode("seek to a file", false)?;
        self.open = OpenFile::None;
        let entries = self.list()?;
        let number = if requested == 0 {
            Some(0)
        } else {
            entries
                .iter()
                .filter(|entry| entry.is_data_or_label && entry.number >= u64::from(requested))
                .map(|entry| entry.number)
                .filter(|&number| number <= i32::MAX as u64)
                .min()
                .map(|number| number as u32)
        };
        let Some(number) = number else {
            if self.file_path(&entries, requested - 1).is_some() {
                self.file_number = Some(requested);
                let datestamp = self.label.as_ref().map_or("X", |label| &label.datestamp);
                let header = DumpFile::new_tapeend(datestamp)
                    .unwrap_or_else(|_| DumpFile { file_type: FileType::TapeEnd, ..DumpFile::default() });
                return Ok(SeekResult { file_number: requested, header });
            }
            return Err(DeviceError::PastEnd { at: self.at_file(requested) });
        };
        let Some(path) = self.file_path(&entries, number) else {
            return Err(if number == 0 {
                DeviceError::NotLabelled { at: self.at(), reason: "file 0 not found".to_owned() }
            } else {
                DeviceError::Io {
                    at: self.at_file(number),
                    action: format!("opening file {number} in {}", self.dir.display()),
                    source: io::Error::from(io::ErrorKind::NotFound),
                }
            });
        };
        let mut file = File::open(&path)
            .map_err(self.io_error(self.at_file(number), format!("opening {}", path.display())))?;
        let header = self.read_header(&mut file, number)?;
        match header.file_type {
            FileType::File | FileType::ContFile | FileType::SplitFile => {}
            FileType::TapeStart if number == 0 => {}
            found => {
                return Err(DeviceError::UnexpectedHeader {
                    at: self.at_file(number),
                    expected: if number == 0 { "a TAPESTART header" } else { "a dump file header" },
                    found,
                })
            }
        }
        self.open = OpenFile::Reading { file, number, at_end: number == 0 };
        self.file_number = Some(number);
        Ok(SeekResult { file_number: number, header })
    }

    fn read_block(&mut self, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        let block_size_bytes = self.block_size_bytes;
        let OpenFile::Reading { file, number, at_end } = &mut self.open else {
            return Err(self.invalid("read a block", "no file is open for reading (call seek_file)"));
        };
        let number = *number;
        if buffer.len() < block_size_bytes {
            return Err(DeviceError::BufferTooSmall {
                at: Location::file(&self.name, number),
                buffer_bytes: buffer.len(),
                needed_bytes: block_size_bytes,
            });
        }
        if *at_end {
            return Ok(0);
        }
        let got_bytes =
            read_full(file, &mut buffer[..block_size_bytes]).map_err(|source| DeviceError::Io {
                at: Location::file(&self.name, number),
                action: "reading a data block".to_owned(),
                source,
            })?;
        if got_bytes < block_size_bytes {
            // A short block can only be the last one: the next read reports the end
            // without touching the file again.
            *at_end = true;
        }
        Ok(got_bytes)
    }

    fn eject(&mut self) -> Result<(), DeviceError> {
        Ok(())
    }

    fn capacity(&self) -> Capacity {
        Capacity {
            used_bytes: self.volume_bytes,
            limit_bytes: (self.enforce_volume_limit && self.volume_limit_bytes > 0)
                .then_some(self.volume_limit_bytes),
        }
    }

    fn at_early_warning(&self) -> bool {
        self.early_warning
    }

    fn file_number(&self) -> Option<u32> {
        self.file_number
    }
}

/// A directory entry whose name starts with digits then `.` or `-` (`^[0-9]+[.-]`).
#[derive(Debug, Clone)]
struct VolumeEntry {
    name: OsString,
    /// The leading number (saturating; numbers above `i32::MAX` are never used).
    number: u64,
    /// The digits are followed by `.` (`^[0-9]+\.`): a label or data file, as opposed to
    /// a lock file.
    is_data_or_label: bool,
}

fn list_volume_entries(dir: &Path) -> io::Result<Vec<VolumeEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(parsed) = parse_volume_name(&entry.file_name()) {
            entries.push(parsed);
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn parse_volume_name(name: &OsStr) -> Option<VolumeEntry> {
    let bytes = name.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let separator = *bytes.get(digits)?;
    if digits == 0 || !matches!(separator, b'.' | b'-') {
        return None;
    }
    let number =
        bytes[..digits].iter().fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')));
    Some(VolumeEntry { name: name.to_owned(), number, is_data_or_label: separator == b'.' })
}

/// Reads until `buffer` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut got_bytes = 0;
    while got_bytes < buffer.len() {
        match file.read(&mut buffer[got_bytes..]) {
            Ok(0) => break,
            Ok(n) => got_bytes += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got_bytes)
}

/// Whether a writer failed because the filesystem (or the file size limit) is full.
fn is_no_space_error(error: &FileIoError) -> bool {
    match error {
        FileIoError::NoSpace { .. } => true,
        FileIoError::Write { source, .. } => is_no_space(source),
        _ => false,
    }
}

/// A writer's error as a device error's action and cause (the path is in the action).
fn split_file_error(error: FileIoError, what: &str, path: &Path) -> (String, io::Error) {
    let offset = error.lowest_offset();
    match error {
        FileIoError::Write { source, .. } | FileIoError::Read { source, .. } => {
            (format!("{what} {} at offset {offset}", path.display()), source)
        }
        FileIoError::Sync { what: sync, source, .. } => (format!("{sync} of {}", path.display()), source),
        FileIoError::Open { source, .. } | FileIoError::Queue { source, .. } => {
            (format!("{what} {}", path.display()), source)
        }
        other => (format!("{what} {}", path.display()), io::Error::other(other.to_string())),
    }
}

fn is_no_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == Errno::ENOSPC as i32 || code == Errno::EFBIG as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::{pattern, TempDir};
    use crate::device::DeviceProperties;
    use crate::format::header::parse_header;

    fn vfs(dir: &Path, properties: &DeviceProperties) -> VfsDevice {
        let name = format!("file:{}", dir.display());
        VfsDevice::open(&name, &dir.display().to_string(), properties).unwrap()
    }

    fn write_mode(label: &str) -> AccessMode {
        AccessMode::Write { label: label.to_owned(), datestamp: "20240102030405".to_owned() }
    }

    fn split_header(host: &str, disk: &str, level: i32, part: i32) -> DumpFile {
        DumpFile::new_split_file("20240102030405", host, disk, level, "GNUTAR", part, -1)
    }

    /// Writes `data` as one file in blocks of the device's block size.
    fn write_file(device: &mut dyn Device, header: &DumpFile, data: &[u8]) -> u32 {
        let number = device.start_file(header).unwrap();
        for block in data.chunks(device.block_size_bytes()) {
            assert_eq!(device.write_block(block).unwrap(), WriteStatus::Written);
        }
        device.finish_file().unwrap();
        number
    }

    fn read_file(device: &mut dyn Device, number: u32) -> (DumpFile, Vec<u8>) {
        let found = device.seek_file(number).unwrap();
        assert_eq!(found.file_number, number);
        let mut buffer = vec![0u8; device.read_buffer_bytes()];
        let mut data = Vec::new();
        loop {
            let n = device.read_block(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buffer[..n]);
        }
        (found.header, data)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_of_several_files_at_three_block_sizes() {
        for block_size_bytes in [32 << 10, 256 << 10, 1 << 20] {
            let dir = TempDir::new("roundtrip");
            let properties = DeviceProperties::new().with("BLOCK_SIZE", &block_size_bytes.to_string());
            let mut device = vfs(dir.path(), &properties);
            device.start(write_mode("VOL-01")).unwrap();
            let sizes = [
                0,
                1,
                block_size_bytes - 1,
                block_size_bytes,
                block_size_bytes + 1,
                3 * block_size_bytes + 777,
            ];
            let datasets: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &len)| pattern(len, i as u64 + 1)).collect();
            for (i, data) in datasets.iter().enumerate() {
                let header = split_header("client.example.com", "/home/a b", i as i32 % 3, 1);
                let number = write_file(&mut device, &header, data);
                assert_eq!(number, i as u32 + 1);
            }
            device.finish().unwrap();
            assert_eq!(names(dir.path())[0], "00000.VOL-01");
            assert_eq!(names(dir.path())[1], "00001.client.example.com._home_a b.0");
            let used: u64 =
                sizes.iter().map(|&s| (s + VFS_HEADER_BYTES) as u64).sum::<u64>() + VFS_HEADER_BYTES as u64;
            assert_eq!(device.capacity().used_bytes, used);

            let mut reader = vfs(dir.path(), &properties);
            let label = reader.read_label().unwrap();
            assert_eq!(label, VolumeLabel { label: "VOL-01".into(), datestamp: "20240102030405".into() });
            reader.start(AccessMode::Read).unwrap();
            for (i, data) in datasets.iter().enumerate() {
                let (header, read_back) = read_file(&mut reader, i as u32 + 1);
                assert_eq!(header.file_type, FileType::SplitFile);
                assert_eq!(header.disk, "/home/a b");
                assert_eq!(&read_back, data, "file {} at block size {block_size_bytes}", i + 1);
            }
            let end = reader.seek_file(sizes.len() as u32 + 1).unwrap();
            assert_eq!(end.header.file_type, FileType::TapeEnd);
            let past = reader.seek_file(sizes.len() as u32 + 2).unwrap_err();
            assert!(matches!(past, DeviceError::PastEnd { .. }), "{past}");
        }
    }

    #[test]
    fn finish_file_writes_the_part_crc_into_the_header() {
        let dir = TempDir::new("part-crc");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("VOL-03")).unwrap();
        let data = pattern(100_000, 3);
        let crc = crate::format::crc::Crc32c::new().update(&data).to_crc();
        let number = device.start_file(&split_header("h", "/a", 0, 1)).unwrap();
        for block in data.chunks(device.block_size_bytes()) {
            assert_eq!(device.write_block(block).unwrap(), WriteStatus::Written);
        }
        device.set_part_crc(crc);
        device.finish_file().unwrap();
        // Without set_part_crc the header stays as it was written.
        write_file(&mut device, &split_header("h", "/b", 0, 1), &data);
        device.finish().unwrap();

        let file = fs::read(dir.path().join("00001.h._a.0")).unwrap();
        assert_eq!(file.len(), 32768 + 100_000);
        assert_eq!(&file[32768..], &data[..], "the data is untouched");
        let header = parse_header(&file[..32768]).unwrap();
        assert_eq!(header.part_crc, Some(crc));
        assert!(String::from_utf8_lossy(&file[..400]).contains(&format!("\nPART-CRC={crc}\n")));
        let other = fs::read(dir.path().join("00002.h._b.0")).unwrap();
        assert_eq!(parse_header(&other[..32768]).unwrap().part_crc, None);

        let mut reader = vfs(dir.path(), &DeviceProperties::new());
        reader.start(AccessMode::Read).unwrap();
        let (read_header, read_data) = read_file(&mut reader, number);
        assert_eq!((read_header.part_crc, read_data), (Some(crc), data));
    }

    #[test]
    fn files_match_amandas_bytes() {
        let dir = TempDir::new("bytes");
        let properties = DeviceProperties::new().with("block-size", "64k");
        let mut device = vfs(dir.path(), &properties);
        device.start(write_mode("VOL-02")).unwrap();
        let data = pattern(100_000, 7);
        write_file(&mut device, &split_header("h", "/etc", 1, 1), &data);
        device.finish().unwrap();
        let label = fs::read(dir.path().join("00000.VOL-02")).unwrap();
        assert_eq!(label.len(), 32768);
        assert!(label.starts_with(b"AMANDA: TAPESTART DATE 20240102030405 TAPE VOL-02\n\x0c\n\0"));
        assert!(label[52..].iter().all(|&b| b == 0));
        let file = fs::read(dir.path().join("00001.h._etc.1")).unwrap();
        assert_eq!(file.len(), 32768 + 100_000);
        assert_eq!(&file[32768..], &data[..]);
        let header = parse_header(&file[..32768]).unwrap();
        let text = String::from_utf8_lossy(&file[..200]);
        assert!(text
            .starts_with("AMANDA: SPLIT_FILE 20240102030405 h /etc  part 1/-1  lev 1 comp N program GNUTAR"));
        assert_eq!(header.part_number, 1);
    }

    #[test]
    fn numbering_follows_the_highest_file_and_seek_skips_gaps() {
        let dir = TempDir::new("numbering");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("VOL-03")).unwrap();
        for level in 0..3 {
            write_file(&mut device, &split_header("h", "/d", level, 1), b"x");
        }
        device.finish().unwrap();
        fs::remove_file(dir.path().join("00002.h._d.1")).unwrap();
        fs::write(dir.path().join("00007-lock"), b"").unwrap();
        device.start(AccessMode::Append).unwrap();
        assert_eq!(device.start_file(&split_header("h", "/d", 5, 1)).unwrap(), 4);
        device.finish().unwrap();
        device.start(AccessMode::Read).unwrap();
        assert_eq!(device.seek_file(2).unwrap().file_number, 3);
        assert_eq!(device.seek_file(4).unwrap().header.dump_level, 5);
        assert_eq!(device.seek_file(5).unwrap().header.file_type, FileType::TapeEnd);
        assert_eq!(device.seek_file(0).unwrap().header.file_type, FileType::TapeStart);
    }

    #[test]
    fn relabelling_erases_old_files_but_not_the_lock() {
        let dir = TempDir::new("relabel");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("OLD-1")).unwrap();
        write_file(&mut device, &split_header("h", "/a", 0, 1), &pattern(5000, 1));
        write_file(&mut device, &split_header("h", "/b", 0, 1), &pattern(5000, 2));
        device.finish().unwrap();
        fs::write(dir.path().join("00000-lock"), b"").unwrap();
        fs::write(dir.path().join("00003-lock"), b"").unwrap();
        fs::write(dir.path().join("notes.txt"), b"kept").unwrap();
        device.start(write_mode("NEW-1")).unwrap();
        device.finish().unwrap();
        assert_eq!(names(dir.path()), ["00000-lock", "00000.NEW-1", "notes.txt"]);
        assert_eq!(device.capacity().used_bytes, 32768);
        let mut reader = vfs(dir.path(), &DeviceProperties::new());
        assert_eq!(reader.read_label().unwrap().label, "NEW-1");
        reader.start(AccessMode::Read).unwrap();
        assert_eq!(reader.seek_file(1).unwrap().header.file_type, FileType::TapeEnd);
    }

    #[test]
    fn use_data_picks_the_directory() {
        let dir = TempDir::new("usedata");
        let node = dir.path().display().to_string();
        let open = |value: Option<&str>| {
            let mut properties = DeviceProperties::new();
            if let Some(value) = value {
                properties.set("USE_DATA", value);
            }
            VfsDevice::open("file:x", &node, &properties).unwrap().directory().to_path_buf()
        };
        assert_eq!(open(None), dir.path());
        assert_eq!(open(Some("yes")), dir.path().join("data"));
        assert_eq!(open(Some("EXIST")), dir.path());
        fs::create_dir(dir.path().join("data")).unwrap();
        assert_eq!(open(None), dir.path().join("data"));
        assert_eq!(open(Some("no")), dir.path());
        assert_eq!(open(Some("false")), dir.path());
        let error =
            VfsDevice::open("file:x", &node, &DeviceProperties::new().with("USE_DATA", "maybe")).unwrap_err();
        assert!(error.to_string().contains("USE_DATA"), "{error}");

        // With data/ present the volume is written there.
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("DATA-1")).unwrap();
        device.finish().unwrap();
        assert!(dir.path().join("data/00000.DATA-1").exists());
        let mut device = vfs(dir.path(), &DeviceProperties::new().with("USE_DATA", "NO"));
        let error = device.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::NotLabelled { .. }), "{error}");
    }

    #[test]
    fn max_volume_usage_gives_early_warning_then_volume_full() {
        let dir = TempDir::new("maxusage");
        let block = 32 << 10;
        // Label + header + 10 blocks fit exactly.
        let limit = 2 * 32768 + 10 * block;
        let properties = DeviceProperties::new().with("MAX_VOLUME_USAGE", &limit.to_string());
        let mut device = vfs(dir.path(), &properties);
        device.start(write_mode("FULL-1")).unwrap();
        device.start_file(&split_header("h", "/d", 0, 1)).unwrap();
        let data = pattern(block, 3);
        let mut statuses = Vec::new();
        let error = loop {
            match device.write_block(&data) {
                Ok(status) => statuses.push(status),
                Err(error) => break error,
            }
        };
        assert_eq!(statuses.len(), 10);
        // LEOM fires once fewer than 4 blocks of room would remain after the write.
        let first_warning = statuses.iter().position(|s| *s == WriteStatus::EarlyWarning).unwrap();
        assert_eq!(first_warning, 6);
        assert!(statuses[first_warning..].iter().all(|s| *s == WriteStatus::EarlyWarning));
        assert!(device.at_early_warning());
        match &error {
            DeviceError::VolumeFull { used_bytes, limit_bytes, at, .. } => {
                assert_eq!(*used_bytes, limit as u64);
                assert_eq!(*limit_bytes, limit as u64);
                assert_eq!(at.file, Some(1));
                assert_eq!(at.label.as_deref(), Some("FULL-1"));
            }
            other => panic!("expected VolumeFull, got {other}"),
        }
        assert!(error.is_end_of_volume());
        assert!(error.to_string().contains("volume FULL-1: file 1: volume full"), "{error}");
        device.finish_file().unwrap();
        let error = device.start_file(&split_header("h", "/d", 0, 2)).unwrap_err();
        assert!(matches!(error, DeviceError::VolumeFull { .. }), "{error}");
        device.finish().unwrap();
        let size = fs::metadata(dir.path().join("00001.h._d.0")).unwrap().len();
        assert_eq!(size, 32768 + 10 * block as u64);
    }

    #[test]
    fn a_header_cut_short_is_reported_with_its_file_number() {
        let dir = TempDir::new("truncheader");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("CUT-1")).unwrap();
        for level in 0..4 {
            write_file(&mut device, &split_header("h", "/d", level, 1), &pattern(1000, 9));
        }
        device.finish().unwrap();
        let victim = dir.path().join("00004.h._d.3");
        let file = OpenOptions::new().write(true).open(&victim).unwrap();
        file.set_len(1200).unwrap();
        device.start(AccessMode::Read).unwrap();
        let error = device.seek_file(4).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("file:{}: file 4: header is truncated (got 1200 bytes of 32768)", dir.path().display())
        );
        fs::write(dir.path().join("00000.CUT-1"), b"AMANDA: TAPESTART DATE X TAPE CUT-1\n\x0c\n").unwrap();
        let error = device.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::TruncatedHeader { got_bytes: 38, .. }), "{error}");
        assert!(
            error.to_string().contains(": file 0: header is truncated (got 38 bytes of 32768)"),
            "{error}"
        );
    }

    #[test]
    fn a_data_file_cut_short_mid_block_reads_to_its_end() {
        let dir = TempDir::new("truncdata");
        let block = 32 << 10;
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        device.start(write_mode("CUT-2")).unwrap();
        let data = pattern(3 * block, 4);
        write_file(&mut device, &split_header("h", "/d", 0, 1), &data);
        device.finish().unwrap();
        // Cut the file in the middle of its second data block.
        let path = dir.path().join("00001.h._d.0");
        OpenOptions::new().write(true).open(&path).unwrap().set_len((32768 + block + 5000) as u64).unwrap();
        device.start(AccessMode::Read).unwrap();
        device.seek_file(1).unwrap();
        let mut buffer = vec![0u8; block];
        assert_eq!(device.read_block(&mut buffer).unwrap(), block);
        assert_eq!(device.read_block(&mut buffer).unwrap(), 5000);
        assert_eq!(&buffer[..5000], &data[block..block + 5000]);
        assert_eq!(device.read_block(&mut buffer).unwrap(), 0);
        assert_eq!(device.file_number(), Some(1));
        // A buffer smaller than a block is refused, naming both sizes and the file.
        device.seek_file(1).unwrap();
        let error = device.read_block(&mut buffer[..1000]).unwrap_err();
        assert!(
            error.to_string().ends_with(
                ": file 1: read buffer of 1000 bytes is smaller than the 32768-byte blocks this device reads"
            ),
            "{error}"
        );
    }

    #[test]
    fn bad_labels_and_headers_are_reported() {
        let dir = TempDir::new("badlabel");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        let error = device.read_label().unwrap_err();
        assert!(error.to_string().contains("volume is not labelled (no file 00000.<label>"), "{error}");
        let error = device.start(AccessMode::Read).unwrap_err();
        assert!(matches!(error, DeviceError::NotLabelled { .. }));
        let error = device.start(write_mode("a/b")).unwrap_err();
        assert!(matches!(error, DeviceError::InvalidLabel { .. }), "{error}");
        let error =
            device.start(AccessMode::Write { label: "L".into(), datestamp: "yesterday".into() }).unwrap_err();
        assert!(matches!(error, DeviceError::CannotBuildHeader { .. }), "{error}");
        fs::write(dir.path().join("00000.X"), vec![0u8; 32768]).unwrap();
        let error = device.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::NotLabelled { .. }), "{error}");
        let mut garbage = vec![b'z'; 100];
        garbage.resize(32768, 0);
        fs::write(dir.path().join("00000.X"), &garbage).unwrap();
        let error = device.read_label().unwrap_err();
        assert!(matches!(error, DeviceError::BadHeader { .. }), "{error}");
        let missing =
            VfsDevice::open("file:/nonexistent/amrs", "/nonexistent/amrs", &DeviceProperties::new())
                .unwrap()
                .read_label()
                .unwrap_err();
        assert!(missing.to_string().starts_with("file:/nonexistent/amrs: checking directory"), "{missing}");
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let dir = TempDir::new("misuse");
        let mut device = vfs(dir.path(), &DeviceProperties::new());
        let header = split_header("h", "/d", 0, 1);
        assert!(matches!(device.start_file(&header), Err(DeviceError::InvalidState { .. })));
        device.start(write_mode("M-1")).unwrap();
        assert!(matches!(device.write_block(b"x"), Err(DeviceError::InvalidState { .. })));
        let label_header = DumpFile::new_tapestart("X", "M-1").unwrap();
        assert!(matches!(device.start_file(&label_header), Err(DeviceError::UnexpectedHeader { .. })));
        device.start_file(&header).unwrap();
        assert!(matches!(device.write_block(&[]), Err(DeviceError::BadBlockSize { .. })));
        assert!(matches!(device.write_block(&vec![0; 32769]), Err(DeviceError::BadBlockSize { .. })));
        assert_eq!(device.write_block(b"short").unwrap(), WriteStatus::Written);
        let error = device.write_block(b"again").unwrap_err();
        assert!(error.to_string().contains("only the last block of a file may be short"), "{error}");
        assert!(matches!(device.seek_file(1), Err(DeviceError::InvalidState { .. })));
        device.finish().unwrap();
        device.start(AccessMode::Read).unwrap();
        assert!(matches!(device.start_file(&header), Err(DeviceError::InvalidState { .. })));
        assert_eq!(read_file(&mut device, 1).1, b"short");
    }

    #[test]
    fn names_are_parsed_like_amandas_regexes() {
        let entry = parse_volume_name(OsStr::new("00012.host.disk.0")).unwrap();
        assert_eq!((entry.number, entry.is_data_or_label), (12, true));
        let entry = parse_volume_name(OsStr::new("00000-lock")).unwrap();
        assert_eq!((entry.number, entry.is_data_or_label), (0, false));
        assert!(parse_volume_name(OsStr::new("state")).is_none());
        assert!(parse_volume_name(OsStr::new("00012")).is_none());
        assert!(parse_volume_name(OsStr::new(".00012.x")).is_none());
    }

    /// An environment variable the interoperability checks need.
    fn required_env(name: &str) -> String {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run tools/check-vtape-with-amanda.sh"))
    }

    /// Not a unit test: `tools/check-vtape-with-amanda.sh` runs it to write the vtape that
    /// Amanda's `amrestore` must then read. File 1 is 300 001 bytes of pattern data
    /// (`AMRS_VTAPE_DIR.expected.1` holds a copy), file 2 an empty dump, file 3 the gzip
    /// stream `AMRS_GZ_PAYLOAD` with a `comp .gz` header; block size 256 KiB.
    #[test]
    #[ignore = "interoperability check, run by tools/check-vtape-with-amanda.sh"]
    fn interop_write_vtape_for_amanda() {
        let dir = PathBuf::from(required_env("AMRS_VTAPE_DIR"));
        let gz_payload = fs::read(required_env("AMRS_GZ_PAYLOAD")).unwrap();
        let properties = DeviceProperties::new().with("BLOCK_SIZE", "256k");
        let mut device = vfs(&dir, &properties);
        device.start(write_mode("AMRS-01")).unwrap();
        let data = pattern(300_001, 42);
        fs::write(format!("{}.expected.1", dir.display()), &data).unwrap();
        write_file(&mut device, &split_header("client.example.com", "/home/a b", 0, 1), &data);
        write_file(&mut device, &split_header("client.example.com", "/etc", 1, 1), &[]);
        let mut compressed = split_header("client.example.com", "/var/lib/data", 2, 1);
        compressed.compressed = true;
        compressed.compression_suffix = ".gz".to_owned();
        write_file(&mut device, &compressed, &gz_payload);
        device.finish().unwrap();
    }

    /// Not a unit test: `tools/check-vtape-with-amanda.sh` runs it on a vtape written by
    /// Amanda's own device code (label AMW-01, 64 KiB blocks, three files whose payloads
    /// are in `AMRS_AMANDA_VTAPE_DIR.expected.N`). Amanda's `Xfer::Dest::Device` pads the
    /// last block with stale buffer bytes, so only the payload prefix is compared.
    #[test]
    #[ignore = "interoperability check, run by tools/check-vtape-with-amanda.sh"]
    fn interop_read_vtape_written_by_amanda() {
        let dir = PathBuf::from(required_env("AMRS_AMANDA_VTAPE_DIR"));
        let mut device = vfs(&dir, &DeviceProperties::new());
        let label = device.read_label().unwrap();
        assert_eq!(label, VolumeLabel { label: "AMW-01".into(), datestamp: "20240102030405".into() });
        device.start(AccessMode::Read).unwrap();
        for number in 1..=3u32 {
            let expected = fs::read(format!("{}.expected.{number}", dir.display())).unwrap();
            let (header, data) = read_file(&mut device, number);
            assert_eq!(header.file_type, FileType::SplitFile);
            assert_eq!(header.host_or_label, "amhost");
            assert_eq!(header.disk, format!("/disk {number}"));
            assert_eq!(header.dump_level, number as i32);
            assert_eq!((header.part_number, header.total_parts), (1, -1));
            assert!(
                data.len() >= expected.len() && data.len() % 65536 == 0,
                "file {number}: {} bytes",
                data.len()
            );
            assert_eq!(&data[..expected.len()], &expected[..], "file {number}");
        }
        assert_eq!(device.seek_file(4).unwrap().header.file_type, FileType::TapeEnd);
        device.finish().unwrap();
    }

    /// Not a unit test: `tools/check-vtape-with-amanda.sh` runs it on a 1 MiB tmpfs
    /// (`AMRS_SMALL_FS_DIR`) to see the real filesystem run out: early warning from the
    /// free space first, then ENOSPC reported as the end of medium with the file cut back
    /// to the blocks written whole. The data written is saved to `DIR.expected.1` for
    /// amrestore.
    #[test]
    #[ignore = "interoperability check, run by tools/check-vtape-with-amanda.sh"]
    fn interop_fill_a_small_filesystem() {
        let dir = PathBuf::from(required_env("AMRS_SMALL_FS_DIR"));
        let block = VFS_DEFAULT_BLOCK_BYTES;
        let mut device = vfs(&dir, &DeviceProperties::new());
        device.start(write_mode("SMALL-01")).unwrap();
        device.start_file(&split_header("client", "/big", 0, 1)).unwrap();
        let data = pattern(block, 5);
        let mut statuses = Vec::new();
        let error = loop {
            match device.write_block(&data) {
                Ok(status) => statuses.push(status),
                Err(error) => break error,
            }
        };
        let first_warning =
            statuses.iter().position(|s| *s == WriteStatus::EarlyWarning).expect("early warning");
        assert!(
            statuses.len() - first_warning >= 3,
            "warned {} blocks before the end",
            statuses.len() - first_warning
        );
        let DeviceError::EndOfMedium { bytes_written, at } = &error else {
            panic!("expected EndOfMedium, got {error}")
        };
        // Writes are queued: the blocks accepted last may be the ones that did not fit.
        // The file is cut back to whole blocks that are on disk.
        assert!(*bytes_written <= (statuses.len() * block) as u64 && *bytes_written % block as u64 == 0);
        assert!(*bytes_written > 0);
        assert_eq!(at.file, Some(1));
        device.finish_file().unwrap();
        device.finish().unwrap();
        let size = fs::metadata(dir.join("00001.client._big.0")).unwrap().len();
        assert_eq!(size, VFS_HEADER_BYTES as u64 + bytes_written);
        let written: Vec<u8> = data.iter().copied().cycle().take(*bytes_written as usize).collect();
        fs::write(format!("{}.expected.1", dir.display()), &written).unwrap();
        device.start(AccessMode::Read).unwrap();
        assert_eq!(read_file(&mut device, 1).1, written);
    }
}
