//! The `null:` device (Amanda's NullDevice): accepts a volume label and files, counts the
//! bytes and keeps nothing. For tests and for measuring the data path without storage.
//!
//! # Rules
//!
//! * Only `start(Write)` is possible; `Read` and `Append`, `read_label`, `seek_file` and
//!   `read_block` fail with "null: device cannot be read".
//! * Files are numbered from 1; blocks follow the same size rules as other devices
//!   (exactly `BLOCK_SIZE`, the last of a file may be short) so a pipeline tested on
//!   `null:` behaves the same on a real device.
//! * Properties: `BLOCK_SIZE` (default 32 KiB, as Amanda's `NULL_DEVICE_DEFAULT_BLOCK_SIZE`),
//!   `COMMENT`. No early warning, no end of medium.

use crate::device::{
    apply_properties, check_block, parse_block_size, AccessMode, Capacity, Device, DeviceError,
    DeviceProperties, Location, SeekResult, VolumeLabel, WriteStatus,
};
use crate::format::header::DumpFile;

/// Default `BLOCK_SIZE`.
pub const NULL_DEFAULT_BLOCK_BYTES: usize = 32 * 1024;

/// Largest `BLOCK_SIZE` (Amanda: `INT_MAX`).
const NULL_MAX_BLOCK_BYTES: usize = i32::MAX as usize;

/// The `null:` device. See the module documentation.
#[derive(Debug)]
pub struct NullDevice {
    name: String,
    block_size_bytes: usize,
    label: Option<VolumeLabel>,
    writing: bool,
    in_file: Option<u32>,
    wrote_short_block: bool,
    next_file: u32,
    file_number: Option<u32>,
    bytes_written: u64,
}

impl NullDevice {
    /// Opens `null:` (any node after the colon is ignored, as in Amanda).
    pub fn open(name: &str, properties: &DeviceProperties) -> Result<NullDevice, DeviceError> {
        let mut block_size_bytes = NULL_DEFAULT_BLOCK_BYTES;
        apply_properties(name, properties, |property, value| {
            match property {
                "BLOCK_SIZE" => block_size_bytes = parse_block_size(value, 1, NULL_MAX_BLOCK_BYTES)?,
                "COMMENT" => {}
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(NullDevice {
            name: name.to_owned(),
            block_size_bytes,
            label: None,
            writing: false,
            in_file: None,
            wrote_short_block: false,
            next_file: 1,
            file_number: None,
            bytes_written: 0,
        })
    }

    fn not_readable(&self) -> DeviceError {
        DeviceError::NotReadable { at: Location::device(&self.name) }
    }

    fn invalid(&self, operation: &'static str, state: &'static str) -> DeviceError {
        DeviceError::InvalidState { at: Location::device(&self.name), operation, state }
    }
}

impl Device for NullDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn block_size_bytes(&self) -> usize {
        self.block_size_bytes
    }

    fn read_label(&mut self) -> Result<VolumeLabel, DeviceError> {
        Err(self.not_readable())
    }

    fn volume_label(&self) -> Option<&VolumeLabel> {
        self.label.as_ref()
    }

    fn start(&mut self, mode: AccessMode) -> Result<(), DeviceError> {
        let AccessMode::Write { label, datestamp } = mode else {
            return Err(self.not_readable());
        };
        self.label = Some(VolumeLabel { label, datestamp });
        self.writing = true;
        self.in_file = None;
        self.next_file = 1;
        self.file_number = Some(0);
        self.bytes_written = 0;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DeviceError> {
        self.writing = false;
        self.in_file = None;
        Ok(())
    }

    fn start_file(&mut self, header: &DumpFile) -> Result<u32, DeviceError> {
        if !self.writing {
            return Err(self.invalid("start a file", "the device is not started for writing"));
        }
        if self.in_file.is_some() {
            return Err(self.invalid("start a file", "a file is already being written"));
        }
        if !header.file_type.is_dump() {
            return Err(DeviceError::UnexpectedHeader {
                at: Location::device(&self.name),
                expected: "a FILE, CONT_FILE or SPLIT_FILE header to write",
                found: header.file_type,
            });
        }
        let number = self.next_file;
        self.next_file += 1;
        self.in_file = Some(number);
        self.file_number = Some(number);
        self.wrote_short_block = false;
        Ok(number)
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteStatus, DeviceError> {
        let Some(number) = self.in_file else {
            return Err(self.invalid("write a block", "no file is being written (call start_file)"));
        };
        check_block(
            || Location::file(&self.name, number).with_label(self.label.as_ref()),
            block.len(),
            self.block_size_bytes,
            self.wrote_short_block,
        )?;
        self.wrote_short_block = block.len() < self.block_size_bytes;
        self.bytes_written += block.len() as u64;
        Ok(WriteStatus::Written)
    }

    fn finish_file(&mut self) -> Result<(), DeviceError> {
        if self.in_file.take().is_none() {
            return Err(self.invalid("finish a file", "no file is being written"));
        }
        Ok(())
    }

    fn seek_file(&mut self, _file_number: u32) -> Result<SeekResult, DeviceError> {
        Err(self.not_readable())
    }

    fn read_block(&mut self, _buffer: &mut [u8]) -> Result<usize, DeviceError> {
        Err(self.not_readable())
    }

    fn eject(&mut self) -> Result<(), DeviceError> {
        Ok(())
    }

    fn capacity(&self) -> Capacity {
        Capacity { used_bytes: self.bytes_written, limit_bytes: None }
    }

    fn at_early_warning(&self) -> bool {
        false
    }

    fn file_number(&self) -> Option<u32> {
        self.file_number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::open_device;

    #[test]
    fn writes_vanish_and_are_counted() {
        let mut device = open_device("null:", &DeviceProperties::new().with("BLOCK_SIZE", "1m")).unwrap();
        device.start(AccessMode::Write { label: "NULL-1".into(), datestamp: "X".into() }).unwrap();
        let header = DumpFile::new_split_file("20240101", "h", "/d", 0, "GNUTAR", 1, -1);
        let block = vec![0u8; 1 << 20];
        for expected_file in 1..=3 {
            assert_eq!(device.start_file(&header).unwrap(), expected_file);
            for _ in 0..4 {
                assert_eq!(device.write_block(&block).unwrap(), WriteStatus::Written);
            }
            assert_eq!(device.write_block(&block[..10]).unwrap(), WriteStatus::Written);
            device.finish_file().unwrap();
        }
        assert_eq!(device.capacity().used_bytes, 3 * (4 * (1 << 20) + 10));
        device.finish().unwrap();
    }

    #[test]
    fn reads_fail_clearly() {
        let mut device = open_device("null:", &DeviceProperties::new()).unwrap();
        assert_eq!(device.read_label().unwrap_err().to_string(), "null: device cannot be read");
        assert_eq!(device.start(AccessMode::Read).unwrap_err().to_string(), "null: device cannot be read");
        assert_eq!(device.start(AccessMode::Append).unwrap_err().to_string(), "null: device cannot be read");
        assert_eq!(device.seek_file(1).unwrap_err().to_string(), "null: device cannot be read");
        let mut buffer = [0u8; 16];
        assert!(matches!(device.read_block(&mut buffer), Err(DeviceError::NotReadable { .. })));
    }
}
