//! Volumes in Amanda's terms: the [`Device`] trait, its errors, properties and the
//! `open_device` factory; implementations in [`vfs`] (`file:`), [`tape`] (`tape:`) and
//! [`null`] (`null:`), changers in [`changer`].
//!
//! # Model (Amanda 3.5 `device-src/device.c`)
//!
//! A volume is a sequence of numbered *files*. File 0 is the volume label (a TAPESTART
//! header); files 1, 2, … each start with one header block ([`DumpFile`], built by
//! [`crate::format::header`]) followed by data blocks of exactly [`Device::block_size_bytes`]
//! (the last block of a file may be short). How a file is stored is the device's business:
//! one regular file per volume file on a vtape, header record + data records + filemark on
//! tape, nothing at all on `null:`. Past the last file, [`Device::seek_file`] synthesises a
//! TAPEEND header, as Amanda does; no device writes one.
//!
//! A device is used in one of three modes, chosen by [`Device::start`]:
//!
//! * `Write { label, datestamp }` — erase the volume and write a new label; then
//!   `start_file` / `write_block`* / `finish_file` for each file; then `finish`.
//! * `Append` — keep the existing files and the label, add files after the last one.
//! * `Read` — `seek_file(N)` (returns N's header) then `read_block` until it returns 0.
//!
//! # Rules the data path relies on
//!
//! * `write_block` takes the caller's buffer as is (any `&[u8]`, typically a page-aligned
//!   pool buffer): exactly `block_size_bytes`, or shorter only for the last block of a
//!   file. Devices allocate their scratch buffers once, when opened, never per block.
//! * `write_block` returns [`WriteStatus::EarlyWarning`] once the volume is in its early
//!   warning zone (Amanda's LEOM, `is_eom`): the block *was* written, and the caller
//!   should finish the current part and continue on the next volume. From then on every
//!   write reports it, until the next `start`. [`Device::at_early_warning`] tells the same
//!   before a file is started.
//! * When a block could not be written because the medium is physically full (PEOM,
//!   ENOSPC) the error is [`DeviceError::EndOfMedium`]; when the configured
//!   `MAX_VOLUME_USAGE` would be exceeded it is [`DeviceError::VolumeFull`]. The block is
//!   not on the volume in either case; what was written before it is. `finish_file` may
//!   still be called to close the (partial) file.
//! * A block is durable once `finish_file` has returned (vtape: fsync of the file and of
//!   its directory; tape: the filemark is written, which flushes the drive buffer).
//! * `read_block` needs a buffer of at least [`Device::read_buffer_bytes`]; a block that
//!   does not fit is an error naming both sizes, never a silent truncation. It returns
//!   the block's length, 0 at the end of the file.
//!
//! # Names and properties
//!
//! Device names are Amanda's: `TYPE:NODE` (`file:/vtapes/slot1`, `tape:/dev/nst0`,
//! `null:`); a name without `:` means `tape:NAME` (Amanda's legacy convention). Properties
//! are Amanda's device properties (`device-property "BLOCK_SIZE" "256k"`): names are
//! case-insensitive with `-` and `_` equivalent; sizes accept Amanda's suffixes (`k`, `mb`,
//! `g`, …, `inf`); booleans `yes/no/true/false/on/off/y/n/t/f/1/0`. A property a device
//! does not know is an error (Amanda: "No such device-property") unless it was set as
//! *optional* ([`DeviceProperties::set_optional`]), which is how Amanda treats the ones it
//! derives from the tapetype.

pub mod changer;
pub mod file_writer;
pub mod null;
pub mod tape;
pub mod tape_model;
pub mod vfs;

use std::fmt;
use std::io;

use crate::format::crc::Crc;
use crate::format::header::{DumpFile, FileType, HeaderError};

pub use crate::format::header::DISK_BLOCK_BYTES;

/// Size of every header block Amanda requires when reading: a header read from any device
/// must be at least this long (tape-device.c "header is too small").
pub const MIN_HEADER_BYTES: usize = DISK_BLOCK_BYTES;

/// What [`Device::start`] prepares the volume for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessMode {
    /// Read files (`seek_file`, `read_block`).
    Read,
    /// Erase the volume and label it `label`, with `datestamp` (`X`, 8 or 14 digits) in
    /// the TAPESTART header.
    Write {
        /// The new volume label.
        label: String,
        /// The run timestamp written into the label.
        datestamp: String,
    },
    /// Add files after the last one, keeping the label.
    Append,
}

impl AccessMode {
    fn is_writable(&self) -> bool {
        !matches!(self, AccessMode::Read)
    }
}

/// The outcome of a successful [`Device::write_block`].
#[must_use = "early warning means the caller must move to the next volume soon"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStatus {
    /// Written; the volume has room.
    Written,
    /// Written, and the volume is in its early-warning zone (LEOM): finish this part and
    /// continue on the next volume.
    EarlyWarning,
}

/// The label of a volume: its TAPESTART header's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeLabel {
    /// The volume label (`TAPE` field).
    pub label: String,
    /// The datestamp (`DATE` field): `X` on a fresh label, else the run that wrote it.
    pub datestamp: String,
}

/// What [`Device::seek_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekResult {
    /// The file actually positioned at: on a vtape, the smallest existing file number not
    /// below the one requested; on tape, the one requested (NOOP files are skipped).
    pub file_number: u32,
    /// That file's header; TAPEEND (synthesised) past the last file.
    pub header: DumpFile,
}

/// How much of a volume is used, as far as the device knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes on the volume: all files, headers included (vtape), or bytes written since
    /// `start` (tape, null).
    pub used_bytes: u64,
    /// `MAX_VOLUME_USAGE`, when set and enforced.
    pub limit_bytes: Option<u64>,
}

/// A volume in Amanda's sense. See the module documentation for the rules.
pub trait Device: Send {
    /// The full device name (`file:/vtapes/slot1`).
    fn name(&self) -> &str;

    /// Size of every data block but the last of a file (property `BLOCK_SIZE`).
    fn block_size_bytes(&self) -> usize;

    /// Smallest buffer [`Device::read_block`] accepts (tape: `READ_BLOCK_SIZE` if larger).
    fn read_buffer_bytes(&self) -> usize {
        self.block_size_bytes()
    }

    /// Reads the volume label (file 0). `NotLabelled` when the volume is blank.
    fn read_label(&mut self) -> Result<VolumeLabel, DeviceError>;

    /// The label as last read or written, if any.
    fn volume_label(&self) -> Option<&VolumeLabel>;

    /// Prepares the volume for `mode` (see [`AccessMode`]).
    fn start(&mut self, mode: AccessMode) -> Result<(), DeviceError>;

    /// Ends the session: closes an open file (writing its end), rewinds a tape.
    fn finish(&mut self) -> Result<(), DeviceError>;

    /// Starts a new file with `header` (FILE, CONT_FILE or SPLIT_FILE); returns its file
    /// number. The device sets the header's block size as Amanda does.
    fn start_file(&mut self, header: &DumpFile) -> Result<u32, DeviceError>;

    /// Writes one data block of the current file (see the module rules).
    fn write_block(&mut self, block: &[u8]) -> Result<WriteStatus, DeviceError>;

    /// Ends the current file; its blocks are durable when this returns.
    fn finish_file(&mut self) -> Result<(), DeviceError>;

    /// The CRC-32C and size of the data written to the current file, told by the taper
    /// just before [`Device::finish_file`]. A device that can still change the file's
    /// header records it there as `PART-CRC=` ([`DumpFile::part_crc`]), so a restore can
    /// judge this part alone: the vtape rewrites its header block in `finish_file`. The
    /// default ignores it: a tape's header record is behind the drive head by then (tape
    /// parts are to be checked against the catalog's CRC, a later issue) and `null:`
    /// keeps nothing.
    fn set_part_crc(&mut self, _crc: Crc) {}

    /// Ends the current file of a dump that failed, so that the volume does not present
    /// it as a part of a complete dump. Devices that can take a file back (`file:`)
    /// remove it; the default ends it like [`Device::finish_file`] (a tape's blocks cannot
    /// be taken back: Amanda leaves a failed part there too, and only the catalog says it
    /// failed).
    fn abandon_file(&mut self) -> Result<(), DeviceError> {
        self.finish_file()
    }

    /// Positions at the start of file `file_number`'s data and returns its header.
    fn seek_file(&mut self, file_number: u32) -> Result<SeekResult, DeviceError>;

    /// Reads the next data block of the current file into `buffer`; returns its length,
    /// 0 at the end of the file.
    fn read_block(&mut self, buffer: &mut [u8]) -> Result<usize, DeviceError>;

    /// Unloads the volume (tape: rewind and take offline); a no-op for vtapes and null.
    fn eject(&mut self) -> Result<(), DeviceError>;

    /// Space used and the configured limit.
    fn capacity(&self) -> Capacity;

    /// Whether the early-warning zone has been reached since `start`.
    fn at_early_warning(&self) -> bool;

    /// The file being written or read, or last positioned at.
    fn file_number(&self) -> Option<u32>;
}

/// Where an error happened: the device, and when relevant the volume label and the file
/// number. Displays as `DEVICE[: volume LABEL][: file N]`; a device name ending in `:`
/// (`null:`) is shown without it, so messages read `null: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The device name.
    pub device: String,
    /// The volume label, for errors while writing a labelled volume.
    pub label: Option<Box<str>>,
    /// The file number, when the error concerns one file.
    pub file: Option<u32>,
}

impl Location {
    /// Just the device.
    pub fn device(device: &str) -> Location {
        Location { device: device.to_owned(), label: None, file: None }
    }

    /// The device and a file number.
    pub fn file(device: &str, file: u32) -> Location {
        Location { device: device.to_owned(), label: None, file: Some(file) }
    }

    /// A file of the volume being written: device, label (when known) and file number.
    pub fn writing(device: &str, label: Option<&VolumeLabel>, file: Option<u32>) -> Location {
        Location { device: device.to_owned(), label: label.map(|l| l.label.as_str().into()), file }
    }

    /// The same location with the volume label.
    pub fn with_label(mut self, label: Option<&VolumeLabel>) -> Location {
        self.label = label.map(|label| label.label.as_str().into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.device.strip_suffix(':').unwrap_or(&self.device))?;
        if let Some(label) = &self.label {
            write!(f, ": volume {label}")?;
        }
        if let Some(file) = self.file {
            write!(f, ": file {file}")?;
        }
        Ok(())
    }
}

/// Everything a device can report. Messages name the device, and the label and file
/// number where they matter.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device name cannot be opened (bad syntax or unsupported type).
    #[error("{name:?} is not a usable device name: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A property is unknown to this device or has a bad value.
    #[error("{at}: device property {property} {value:?}: {reason}")]
    BadProperty {
        /// The device.
        at: Location,
        /// Normalised property name (`BLOCK_SIZE`).
        property: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The volume has no label (blank vtape directory, blank or foreign tape).
    #[error("{at}: volume is not labelled ({reason})")]
    NotLabelled {
        /// The device.
        at: Location,
        /// What was found instead.
        reason: String,
    },
    /// The volume carries another label than the one expected.
    #[error("{at}: wrong volume: expected label {expected}, found {found}")]
    WrongLabel {
        /// The device.
        at: Location,
        /// The label wanted.
        expected: String,
        /// The label on the volume.
        found: String,
    },
    /// A label that cannot be written (empty, or not usable in a vtape file name).
    #[error("{at}: cannot label the volume {label:?}: {reason}")]
    InvalidLabel {
        /// The device.
        at: Location,
        /// The label given.
        label: String,
        /// Why.
        reason: &'static str,
    },
    /// Physical end of medium (PEOM): the medium or filesystem is full; the block was not
    /// written.
    #[error("{at}: end of medium: no space left for the next block ({bytes_written} data bytes of this file written)")]
    EndOfMedium {
        /// Device, label and file.
        at: Location,
        /// Data bytes of the current file on the volume.
        bytes_written: u64,
    },
    /// Writing would exceed `MAX_VOLUME_USAGE`; nothing was written.
    #[error("{at}: volume full: {request_bytes} more bytes would exceed MAX_VOLUME_USAGE ({used_bytes} of {limit_bytes} bytes used)")]
    VolumeFull {
        /// Device, label and file.
        at: Location,
        /// Bytes on the volume.
        used_bytes: u64,
        /// Size of the refused write.
        request_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// A header block shorter than Amanda's 32 KiB.
    #[error("{at}: header is truncated (got {got_bytes} bytes of {expected_bytes})")]
    TruncatedHeader {
        /// Device and file.
        at: Location,
        /// Bytes found.
        got_bytes: usize,
        /// Bytes a header must have.
        expected_bytes: usize,
    },
    /// A header block that does not parse.
    #[error("{at}: unreadable Amanda header: {source}")]
    BadHeader {
        /// Device and file.
        at: Location,
        /// What the parser said.
        source: HeaderError,
    },
    /// A header that cannot be built (bad field values, too large for the block).
    #[error("{at}: cannot write the header: {source}")]
    CannotBuildHeader {
        /// Device, label and file.
        at: Location,
        /// What the builder said.
        source: HeaderError,
    },
    /// A well-formed header of the wrong type for this position.
    #[error("{at}: expected {expected}, found a {found} header")]
    UnexpectedHeader {
        /// Device and file.
        at: Location,
        /// What was wanted.
        expected: &'static str,
        /// The type found.
        found: FileType,
    },
    /// `seek_file` beyond the synthesised TAPEEND.
    #[error("{at}: attempt to read past the tape-end file")]
    PastEnd {
        /// Device and requested file.
        at: Location,
    },
    /// A block on the volume is larger than the read buffer.
    #[error("{at}: a block {} does not fit the {buffer_bytes}-byte read buffer; set READ_BLOCK_SIZE (tapetype readblocksize) to at least the size it was written with", describe_record(*.record_bytes))]
    RecordTooLarge {
        /// Device and file.
        at: Location,
        /// The buffer given.
        buffer_bytes: usize,
        /// The block's size, when the driver says.
        record_bytes: Option<usize>,
    },
    /// The read buffer is smaller than the device requires.
    #[error("{at}: read buffer of {buffer_bytes} bytes is smaller than the {needed_bytes}-byte blocks this device reads")]
    BufferTooSmall {
        /// Device and file.
        at: Location,
        /// The buffer given.
        buffer_bytes: usize,
        /// [`Device::read_buffer_bytes`].
        needed_bytes: usize,
    },
    /// A block of the wrong size was handed to `write_block`.
    #[error(
        "{at}: cannot write a block of {got_bytes} bytes with a block size of {block_size_bytes}: {reason}"
    )]
    BadBlockSize {
        /// Device, label and file.
        at: Location,
        /// Size given.
        got_bytes: usize,
        /// The device block size.
        block_size_bytes: usize,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A write-only device was asked to read.
    #[error("{at}: device cannot be read")]
    NotReadable {
        /// The device.
        at: Location,
    },
    /// The medium is write protected.
    #[error("{at}: volume is write protected")]
    WriteProtected {
        /// The device.
        at: Location,
    },
    /// No medium, or the drive is not ready.
    #[error("{at}: device not ready: {reason}")]
    NotReady {
        /// The device.
        at: Location,
        /// What the drive reported.
        reason: String,
    },
    /// An operation not allowed in the current state (a caller error).
    #[error("{at}: cannot {operation}: {state}")]
    InvalidState {
        /// The device.
        at: Location,
        /// What was attempted.
        operation: &'static str,
        /// The state that forbids it.
        state: &'static str,
    },
    /// An operating-system error.
    #[error("{at}: {action}: {source}")]
    Io {
        /// Device, label and file.
        at: Location,
        /// What was being done (`creating /vt/slot1/00003.host._etc.0`).
        action: String,
        /// The error.
        source: io::Error,
    },
}

fn describe_record(record_bytes: Option<usize>) -> String {
    match record_bytes {
        Some(bytes) => format!("of {bytes} bytes"),
        None => "larger than the buffer (the driver does not say how large)".to_owned(),
    }
}

impl DeviceError {
    /// Whether this is the end of the medium in either form (PEOM or `MAX_VOLUME_USAGE`):
    /// the caller continues on the next volume.
    pub fn is_end_of_volume(&self) -> bool {
        matches!(self, DeviceError::EndOfMedium { .. } | DeviceError::VolumeFull { .. })
    }
}

// ---------------------------------------------------------------------------------------
// Properties

/// Device properties (`device-property "NAME" "VALUE"`), later settings winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceProperties {
    entries: Vec<Property>,
}

/// One property setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Normalised name: upper case, `-` replaced by `_`.
    pub name: String,
    /// The value as written.
    pub value: String,
    /// An optional property is ignored when the device does not know it or refuses the
    /// value (Amanda's implicit properties from the tapetype).
    pub optional: bool,
}

impl DeviceProperties {
    /// No properties.
    pub fn new() -> DeviceProperties {
        DeviceProperties::default()
    }

    /// Sets `name` to `value` (replacing an earlier setting).
    pub fn set(&mut self, name: &str, value: &str) -> &mut DeviceProperties {
        self.insert(name, value, false)
    }

    /// Sets `name` to `value`, to be ignored if the device does not support it.
    pub fn set_optional(&mut self, name: &str, value: &str) -> &mut DeviceProperties {
        self.insert(name, value, true)
    }

    /// Builder form of [`DeviceProperties::set`].
    pub fn with(mut self, name: &str, value: &str) -> DeviceProperties {
        self.set(name, value);
        self
    }

    fn insert(&mut self, name: &str, value: &str, optional: bool) -> &mut DeviceProperties {
        let name = normalise_property_name(name);
        self.entries.retain(|entry| entry.name != name);
        self.entries.push(Property { name, value: value.to_owned(), optional });
        self
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = normalise_property_name(name);
        self.entries.iter().find(|entry| entry.name == name).map(|entry| entry.value.as_str())
    }

    /// Whether `name` was set (explicitly or optionally).
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All settings in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = &Property> {
        self.entries.iter()
    }
}

/// Amanda compares property names case-insensitively with `-` and `_` equivalent.
pub fn normalise_property_name(name: &str) -> String {
    name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }).collect()
}

/// Walks the properties for one device: `apply` is called for each; it returns
/// `Ok(false)` for a name the device does not know and `Err(reason)` for a bad value.
/// Optional properties that fail are skipped.
pub(crate) fn apply_properties(
    device: &str,
    properties: &DeviceProperties,
    mut apply: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<(), DeviceError> {
    for property in properties.iter() {
        let outcome = match apply(&property.name, &property.value) {
            Ok(true) => Ok(()),
            Ok(false) => Err("no such device property for this device".to_owned()),
            Err(reason) => Err(reason),
        };
        if let Err(reason) = outcome {
            if !property.optional {
                return Err(DeviceError::BadProperty {
                    at: Location::device(device),
                    property: property.name.clone(),
                    value: property.value.clone(),
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// A size property: a C `strtoull` number (decimal, `0x` hex, `0` octal) followed by an
/// optional Amanda unit suffix (`k`, `mb`, `g`, … as in amanda.conf); `inf` is the maximum.
pub fn parse_size_property(value: &str) -> Result<u64, String> {
    let text = value.trim_start();
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let (number, suffix) = digits.split_at(end);
    let multiplier = size_multiplier(suffix.trim())
        .ok_or_else(|| format!("unknown unit {:?} (expected k, m, g, t, …)", suffix.trim()))?;
    let Some(multiplier) = multiplier else { return Ok(u64::MAX) };
    if number.is_empty() && radix != 8 {
        return Err("not a number".to_owned());
    }
    let number =
        if number.is_empty() { 0 } else { u64::from_str_radix(number, radix).map_err(|e| e.to_string())? };
    number.checked_mul(multiplier).ok_or_else(|| "value too large".to_owned())
}

/// Amanda's `find_multiplier` over the `numb_keytable`: `Some(None)` is `inf`.
fn size_multiplier(suffix: &str) -> Option<Option<u64>> {
    if suffix.is_empty() {
        return Some(Some(1));
    }
    let upper = suffix.to_ascii_uppercase();
    let (_, token) = crate::config::tables::NUMB_KEYTAB.iter().find(|(word, _)| *word == upper)?;
    match *token {
        "MULT1" => Some(Some(1)),
        "MULT7" => Some(Some(7)),
        "MULT1K" => Some(Some(1 << 10)),
        "MULT1M" => Some(Some(1 << 20)),
        "MULT1G" => Some(Some(1 << 30)),
        "MULT1T" => Some(Some(1 << 40)),
        "AMINFINITY" => Some(None),
        _ => None,
    }
}

/// A boolean property, as Amanda's `string_to_boolean`.
pub fn parse_bool_property(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Ok(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Ok(false),
        _ => Err("not a boolean (expected yes/no, true/false, on/off, 1/0)".to_owned()),
    }
}

/// A block-size property within `min..=max` bytes.
pub(crate) fn parse_block_size(value: &str, min_bytes: usize, max_bytes: usize) -> Result<usize, String> {
    let bytes = parse_size_property(value)?;
    if bytes < min_bytes as u64 || bytes > max_bytes as u64 {
        return Err(format!("block size must be between {min_bytes} and {max_bytes} bytes"));
    }
    Ok(bytes as usize)
}

// ---------------------------------------------------------------------------------------
// Factory

/// The device types this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// `file:DIR`, a vtape directory.
    File,
    /// `tape:/dev/nstN`, a Linux st tape drive.
    Tape,
    /// `null:`, discards writes.
    Null,
}

/// Splits a device name into its type and node as Amanda's `validate_device_name`: text
/// before the first `:` is the type; without `:` the type is `tape`.
pub fn parse_device_name(name: &str) -> Result<(DeviceKind, &str), DeviceError> {
    let bad = |reason: &str| DeviceError::BadName { name: name.to_owned(), reason: reason.to_owned() };
    let (kind, node) = match name.split_once(':') {
        Some((kind, node)) => (kind, node),
        None => ("tape", name),
    };
    if kind.is_empty() {
        return Err(bad("the device type before ':' is empty"));
    }
    let kind = match kind {
        "file" => DeviceKind::File,
        "tape" => DeviceKind::Tape,
        "null" => DeviceKind::Null,
        "s3" | "ndmp" | "rait" | "diskflat" | "dvdrw" | "tapeaux" => {
            return Err(bad(
                "this Amanda device type is not implemented by amrs (file:, tape: and null: are)",
            ))
        }
        _ => return Err(bad("unknown device type (expected file:, tape: or null:)")),
    };
    if node.is_empty() && kind != DeviceKind::Null {
        return Err(bad("the device node after ':' is empty"));
    }
    Ok((kind, node))
}

/// Opens the device `name` with `properties`. Nothing is touched on the medium until
/// `read_label` or `start`.
pub fn open_device(name: &str, properties: &DeviceProperties) -> Result<Box<dyn Device>, DeviceError> {
    let (kind, node) = parse_device_name(name)?;
    Ok(match kind {
        DeviceKind::File => Box::new(vfs::VfsDevice::open(name, node, properties)?),
        DeviceKind::Tape => Box::new(tape::TapeDevice::open_st(name, node, properties)?),
        DeviceKind::Null => Box::new(null::NullDevice::open(name, properties)?),
    })
}

/// Reads the label and checks it is `expected` ([`DeviceError::WrongLabel`] if not).
pub fn expect_label(device: &mut dyn Device, expected: &str) -> Result<VolumeLabel, DeviceError> {
    let label = device.read_label()?;
    if label.label != expected {
        return Err(DeviceError::WrongLabel {
            at: Location::device(device.name()),
            expected: expected.to_owned(),
            found: label.label,
        });
    }
    Ok(label)
}

/// Checks a write_block request against the block rules shared by all devices.
pub(crate) fn check_block(
    at: impl FnOnce() -> Location,
    block_bytes: usize,
    block_size_bytes: usize,
    wrote_short_block: bool,
) -> Result<(), DeviceError> {
    let reason = if block_bytes == 0 {
        "a block must not be empty"
    } else if block_bytes > block_size_bytes {
        "a block must not exceed the block size"
    } else if wrote_short_block {
        "a short block was already written, and only the last block of a file may be short"
    } else {
        return Ok(());
    };
    Err(DeviceError::BadBlockSize { at: at(), got_bytes: block_bytes, block_size_bytes, reason })
}

/// Unique scratch paths for tests, under the system temp directory.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh, empty directory that is removed when dropped.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("amrs-device-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Deterministic pseudo-random bytes (xorshift), so round trips compare real data.
    pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_split_like_amanda() {
        assert_eq!(parse_device_name("file:/vt/slot1").unwrap(), (DeviceKind::File, "/vt/slot1"));
        assert_eq!(parse_device_name("tape:/dev/nst0").unwrap(), (DeviceKind::Tape, "/dev/nst0"));
        assert_eq!(parse_device_name("/dev/nst0").unwrap(), (DeviceKind::Tape, "/dev/nst0"));
        assert_eq!(parse_device_name("null:").unwrap(), (DeviceKind::Null, ""));
        assert_eq!(parse_device_name("file:a:b").unwrap(), (DeviceKind::File, "a:b"));
        let error = parse_device_name(":x").unwrap_err().to_string();
        assert!(error.contains("empty"), "{error}");
        let error = parse_device_name("s3:bucket").unwrap_err().to_string();
        assert!(error.contains("not implemented"), "{error}");
        assert!(parse_device_name("file:").is_err());
    }

    #[test]
    fn sizes_take_amanda_units() {
        assert_eq!(parse_size_property("32768").unwrap(), 32768);
        assert_eq!(parse_size_property("32k").unwrap(), 32768);
        assert_eq!(parse_size_property("256 KB").unwrap(), 256 << 10);
        assert_eq!(parse_size_property("1m").unwrap(), 1 << 20);
        assert_eq!(parse_size_property("2 gbytes").unwrap(), 2 << 30);
        assert_eq!(parse_size_property("0x100").unwrap(), 256);
        assert_eq!(parse_size_property("010").unwrap(), 8);
        assert_eq!(parse_size_property("0").unwrap(), 0);
        assert_eq!(parse_size_property("inf").unwrap(), u64::MAX);
        assert!(parse_size_property("12 parsecs").is_err());
        assert!(parse_size_property("").is_err());
    }

    #[test]
    fn booleans_and_names_are_amanda_spelling() {
        assert!(parse_bool_property("Yes").unwrap());
        assert!(!parse_bool_property("off").unwrap());
        assert!(parse_bool_property("maybe").is_err());
        let properties = DeviceProperties::new().with("use-data", "no").with("Block_Size", "64k");
        assert_eq!(properties.get("USE_DATA"), Some("no"));
        assert_eq!(properties.get("block-size"), Some("64k"));
        let properties = properties.with("USE-DATA", "yes");
        assert_eq!(properties.iter().count(), 2);
        assert_eq!(properties.get("use_data"), Some("yes"));
    }

    #[test]
    fn locations_read_naturally() {
        assert_eq!(Location::file("file:/vt/slot3", 4).to_string(), "file:/vt/slot3: file 4");
        assert_eq!(Location::device("null:").to_string(), "null");
        let label = VolumeLabel { label: "VOL-1".into(), datestamp: "X".into() };
        assert_eq!(
            Location::file("tape:/dev/nst0", 2).with_label(Some(&label)).to_string(),
            "tape:/dev/nst0: volume VOL-1: file 2"
        );
        let error = DeviceError::TruncatedHeader {
            at: Location::file("file:/vt/slot3", 4),
            got_bytes: 1200,
            expected_bytes: 32768,
        };
        assert_eq!(
            error.to_string(),
            "file:/vt/slot3: file 4: header is truncated (got 1200 bytes of 32768)"
        );
    }

    #[test]
    fn expect_label_tells_the_wrong_volume() {
        let dir = test_support::TempDir::new("expect");
        let name = format!("file:{}", dir.path().display());
        let mut device = open_device(&name, &DeviceProperties::new()).unwrap();
        device.start(AccessMode::Write { label: "VOL-7".into(), datestamp: "X".into() }).unwrap();
        device.finish().unwrap();
        assert_eq!(expect_label(device.as_mut(), "VOL-7").unwrap().label, "VOL-7");
        let error = expect_label(device.as_mut(), "VOL-8").unwrap_err();
        assert_eq!(error.to_string(), format!("{name}: wrong volume: expected label VOL-8, found VOL-7"));
    }

    #[test]
    fn unknown_properties_fail_unless_optional() {
        let mut properties = DeviceProperties::new();
        properties.set_optional("NUM_SLOT", "3");
        let error = open_device("null:", &properties.clone().with("frobnicate", "1")).err().unwrap();
        assert!(error.to_string().contains("FROBNICATE"), "{error}");
        assert!(open_device("null:", &properties).is_ok());
    }
}
