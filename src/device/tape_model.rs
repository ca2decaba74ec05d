//! An in-memory tape drive behaving like a cartridge in the Linux st driver in variable
//! block mode: the one place that knows the rules of records, filemarks, early warning
//! and end of medium. The tape device is tested against it.
//!
//! # Rules modelled (Linux `Documentation/scsi/st.rst`, SCSI SSC)
//!
//! * The tape is a sequence of *records* (one per `write`, any length) and *filemarks*,
//!   with a position between two items. Writing a record or a filemark discards
//!   everything after the position first (tapes are not rewritten in place).
//! * `read` returns the next record whole if it fits the buffer. A record larger than
//!   the buffer is skipped and the read fails (st: ENOMEM); the model also says its size.
//!   A read at a filemark returns 0 and moves past it. At the end of recorded data (EOD)
//!   the first read returns 0 and later ones fail with EIO; any positioning resets that.
//! * `MTFSF n` moves past the next n filemarks (EIO, positioned at EOD, if it runs out);
//!   `MTBSF n` moves back over n filemarks and stops on their beginning-of-tape side
//!   (EIO at BOT if it runs out); `MTREW` goes to BOT; `MTOFFL` rewinds and unloads.
//! * Capacity: records use their length in bytes, filemarks nothing. A record that does
//!   not fit in the remaining capacity fails with ENOSPC and is not written (PEOM).
//! * Early warning: once the bytes on tape pass `capacity - early_warning_bytes`, the
//!   write that crossed succeeds; the next write fails with ENOSPC without writing; the
//!   one after succeeds; and so on alternately until PEOM ("to enable writing a
//!   trailer", st.rst). Filemarks are always accepted.
//! * Status (MTIOCGET): file number = filemarks before the position, block number =
//!   records since the last of them, BOT, write protection, online, and EOD — which, as
//!   in st, is reported only after a read or space operation ran into the end of data
//!   (so a read returning 0 can be told apart: filemark, or end of data).
//! * An unloaded drive fails every operation with ENOMEDIUM; a write-protected cartridge
//!   fails writes with EROFS (st: EACCES on open for writing; the device checks the
//!   status first, as Amanda does).

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use crate::device::tape::{TapeOps, TapeReadError, TapeStatus};

/// One item on the modelled tape, as shown by [`TapeModel::contents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapeItem {
    /// A record of this many bytes.
    Record(usize),
    /// A filemark.
    Filemark,
}

#[derive(Debug)]
enum Item {
    Record(Vec<u8>),
    Filemark,
}

#[derive(Debug)]
struct State {
    items: Vec<Item>,
    position: usize,
    /// Bytes of the records in `items` (all of them: writes truncate at the position).
    tape_bytes: u64,
    capacity_bytes: u64,
    early_warning_bytes: u64,
    /// The next write fails with ENOSPC (st's early-warning alternation).
    fail_next_write: bool,
    /// Reads at EOD since the last positioning.
    reads_at_eod: u32,
    /// A read or space operation ran into the end of data since the last write or
    /// positioning (st reports GMT_EOD only then, not merely for being there).
    eod_detected: bool,
    loaded: bool,
    write_protected: bool,
    variable_block_mode: bool,
    operations: Vec<&'static str>,
}

impl State {
    fn require_loaded(&self) -> io::Result<()> {
        if self.loaded {
            Ok(())
        } else {
            Err(errno(Errno::ENOMEDIUM))
        }
    }

    fn truncate_at_position(&mut self) {
        if self.position < self.items.len() {
            self.items.truncate(self.position);
            self.tape_bytes = self.items.iter().map(item_bytes).sum();
        }
    }

    fn moved(&mut self) {
        self.reads_at_eod = 0;
        self.eod_detected = false;
    }
}

fn item_bytes(item: &Item) -> u64 {
    match item {
        Item::Record(data) => data.len() as u64,
        Item::Filemark => 0,
    }
}

fn errno(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}

/// A shared handle on one modelled cartridge in one drive. Clones see the same tape, so a
/// test can keep a handle while a [`crate::device::tape::TapeDevice`] drives another.
#[derive(Debug, Clone)]
pub struct TapeModel {
    state: Arc<Mutex<State>>,
}

impl TapeModel {
    /// A blank, loaded, writable cartridge holding `capacity_bytes`, whose last
    /// `early_warning_bytes` are the early-warning zone.
    pub fn new(capacity_bytes: u64, early_warning_bytes: u64) -> TapeModel {
        assert!(early_warning_bytes <= capacity_bytes, "the early-warning zone lies within the tape");
        TapeModel {
            state: Arc::new(Mutex::new(State {
                items: Vec::new(),
                position: 0,
                tape_bytes: 0,
                capacity_bytes,
                early_warning_bytes,
                fail_next_write: false,
                reads_at_eod: 0,
                eod_detected: false,
                loaded: true,
                write_protected: false,
                variable_block_mode: false,
                operations: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves a usable state behind.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is on the tape, record sizes and filemarks.
    pub fn contents(&self) -> Vec<TapeItem> {
        self.lock()
            .items
            .iter()
            .map(|item| match item {
                Item::Record(data) => TapeItem::Record(data.len()),
                Item::Filemark => TapeItem::Filemark,
            })
            .collect()
    }

    /// The bytes of the `index`th item, if it is a record.
    pub fn record(&self, index: usize) -> Option<Vec<u8>> {
        match self.lock().items.get(index)? {
            Item::Record(data) => Some(data.clone()),
            Item::Filemark => None,
        }
    }

    /// Bytes of records on the tape.
    pub fn used_bytes(&self) -> u64 {
        self.lock().tape_bytes
    }

    /// Appends a record at the end of the recorded data, bypassing capacity rules (for
    /// building damaged or foreign tapes in tests).
    pub fn append_raw_record(&self, data: &[u8]) {
        let mut state = self.lock();
        state.tape_bytes += data.len() as u64;
        state.items.push(Item::Record(data.to_vec()));
    }

    /// Appends a filemark at the end of the recorded data.
    pub fn append_raw_filemark(&self) {
        self.lock().items.push(Item::Filemark);
    }

    /// Replaces the `index`th item by a record with `data`.
    pub fn replace_record(&self, index: usize, data: &[u8]) {
        let mut state = self.lock();
        state.items[index] = Item::Record(data.to_vec());
        state.tape_bytes = state.items.iter().map(item_bytes).sum();
    }

    /// Sets the cartridge's write-protect tab.
    pub fn set_write_protected(&self, protected: bool) {
        self.lock().write_protected = protected;
    }

    /// Loads the cartridge again after an offline (eject).
    pub fn load(&self) {
        let mut state = self.lock();
        state.loaded = true;
        state.position = 0;
        state.moved();
    }

    /// Whether a cartridge is loaded.
    pub fn is_loaded(&self) -> bool {
        self.lock().loaded
    }

    /// Whether MTSETBLK 0 (variable block mode) was issued.
    pub fn is_variable_block_mode(&self) -> bool {
        self.lock().variable_block_mode
    }

    /// The positioning operations performed so far (`"fsf"`, `"bsf"`, `"rewind"`, …), for
    /// tests that check how a seek was done.
    pub fn operations(&self) -> Vec<&'static str> {
        self.lock().operations.clone()
    }
}

impl TapeOps for TapeModel {
    fn write_record(&mut self, record: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        state.require_loaded()?;
        if state.write_protected {
            return Err(errno(Errno::EROFS));
        }
        state.truncate_at_position();
        state.moved();
        let record_bytes = record.len() as u64;
        if state.tape_bytes + record_bytes > state.capacity_bytes {
            return Err(errno(Errno::ENOSPC));
        }
        let warning_at = state.capacity_bytes - state.early_warning_bytes;
        if state.tape_bytes > warning_at && state.fail_next_write {
            state.fail_next_write = false;
            return Err(errno(Errno::ENOSPC));
        }
        state.items.push(Item::Record(record.to_vec()));
        state.tape_bytes += record_bytes;
        state.position = state.items.len();
        if state.tape_bytes > warning_at {
            state.fail_next_write = true;
        }
        Ok(record.len())
    }

    fn read_record(&mut self, buffer: &mut [u8]) -> Result<usize, TapeReadError> {
        let mut state = self.lock();
        state.require_loaded()?;
        let position = state.position;
        let record_bytes = match state.items.get(position) {
            None => {
                state.reads_at_eod += 1;
                state.eod_detected = true;
                return if state.reads_at_eod == 1 {
                    Ok(0)
                } else {
                    Err(TapeReadError::Io(errno(Errno::EIO)))
                };
            }
            Some(Item::Filemark) => {
                state.position += 1;
                state.moved();
                return Ok(0);
            }
            Some(Item::Record(data)) => data.len(),
        };
        state.position += 1;
        state.moved();
        if record_bytes > buffer.len() {
            return Err(TapeReadError::RecordTooLarge { record_bytes: Some(record_bytes) });
        }
        if let Some(Item::Record(data)) = state.items.get(position) {
            buffer[..record_bytes].copy_from_slice(data);
        }
        Ok(record_bytes)
    }

    fn write_filemarks(&mut self, count: u32) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        if state.write_protected {
            return Err(errno(Errno::EROFS));
        }
        state.truncate_at_position();
        state.moved();
        for _ in 0..count {
            state.items.push(Item::Filemark);
        }
        state.position = state.items.len();
        state.operations.push("weof");
        Ok(())
    }

    fn space_filemarks_forward(&mut self, count: u32) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        state.moved();
        state.operations.push("fsf");
        for _ in 0..count {
            let next = state.items[state.position..].iter().position(|item| matches!(item, Item::Filemark));
            match next {
                Some(offset) => state.position += offset + 1,
                None => {
                    state.position = state.items.len();
                    state.eod_detected = true;
                    return Err(errno(Errno::EIO));
                }
            }
        }
        Ok(())
    }

    fn space_filemarks_backward(&mut self, count: u32) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        state.moved();
        state.operations.push("bsf");
        for _ in 0..count {
            let previous =
                state.items[..state.position].iter().rposition(|item| matches!(item, Item::Filemark));
            match previous {
                Some(index) => state.position = index,
                None => {
                    state.position = 0;
                    return Err(errno(Errno::EIO));
                }
            }
        }
        Ok(())
    }

    fn rewind(&mut self) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        state.position = 0;
        state.moved();
        state.operations.push("rewind");
        Ok(())
    }

    fn offline(&mut self) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        state.position = 0;
        state.moved();
        state.loaded = false;
        state.operations.push("offline");
        Ok(())
    }

    fn status(&mut self) -> io::Result<TapeStatus> {
        let state = self.lock();
        if !state.loaded {
            return Ok(TapeStatus { online: false, ..TapeStatus::default() });
        }
        let before = &state.items[..state.position];
        let file_number = before.iter().filter(|item| matches!(item, Item::Filemark)).count();
        let block_number = before.iter().rev().take_while(|item| matches!(item, Item::Record(_))).count();
        Ok(TapeStatus {
            file_number: u32::try_from(file_number).ok(),
            block_number: u32::try_from(block_number).ok(),
            block_size_bytes: 0,
            at_bot: state.position == 0,
            at_eod: state.eod_detected,
            write_protected: state.write_protected,
            online: true,
        })
    }

    fn set_variable_block_mode(&mut self) -> io::Result<()> {
        let mut state = self.lock();
        state.require_loaded()?;
        state.variable_block_mode = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_errno<T: std::fmt::Debug>(result: io::Result<T>, expected: Errno) -> bool {
        matches!(result, Err(ref e) if e.raw_os_error() == Some(expected as i32))
    }

    #[test]
    fn records_and_filemarks_read_back_in_order() {
        let mut tape = TapeModel::new(1 << 20, 0);
        tape.write_record(b"one").unwrap();
        tape.write_filemarks(1).unwrap();
        tape.write_record(b"two").unwrap();
        tape.write_record(b"three").unwrap();
        tape.write_filemarks(1).unwrap();
        assert_eq!(
            tape.contents(),
            [
                TapeItem::Record(3),
                TapeItem::Filemark,
                TapeItem::Record(3),
                TapeItem::Record(5),
                TapeItem::Filemark
            ]
        );
        tape.rewind().unwrap();
        let mut buffer = [0u8; 16];
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 3);
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 0);
        assert_eq!(tape.status().unwrap().file_number, Some(1));
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 3);
        assert_eq!(tape.status().unwrap().block_number, Some(1));
        let too_small = tape.read_record(&mut buffer[..4]);
        assert!(matches!(too_small, Err(TapeReadError::RecordTooLarge { record_bytes: Some(5) })));
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 0);
        // End of data: 0 once, then EIO.
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 0);
        assert!(matches!(tape.read_record(&mut buffer), Err(TapeReadError::Io(_))));
        assert!(tape.status().unwrap().at_eod);
    }

    #[test]
    fn spacing_over_filemarks() {
        let mut tape = TapeModel::new(1 << 20, 0);
        for record in [b"a", b"b", b"c"] {
            tape.write_record(record).unwrap();
            tape.write_filemarks(1).unwrap();
        }
        tape.rewind().unwrap();
        tape.space_filemarks_forward(2).unwrap();
        assert_eq!(tape.status().unwrap().file_number, Some(2));
        tape.space_filemarks_backward(2).unwrap();
        // On the BOT side of the filemark ending file 0.
        assert_eq!(tape.status().unwrap().file_number, Some(0));
        tape.space_filemarks_forward(1).unwrap();
        let mut buffer = [0u8; 4];
        assert_eq!(tape.read_record(&mut buffer).unwrap(), 1);
        assert_eq!(buffer[0], b'b');
        assert!(is_errno(tape.space_filemarks_forward(5), Errno::EIO));
        assert!(tape.status().unwrap().at_eod);
        assert!(is_errno(tape.space_filemarks_backward(9), Errno::EIO));
        assert!(tape.status().unwrap().at_bot);
    }

    #[test]
    fn writing_truncates_what_follows() {
        let mut tape = TapeModel::new(1 << 20, 0);
        for record in [b"a", b"b", b"c"] {
            tape.write_record(record).unwrap();
            tape.write_filemarks(1).unwrap();
        }
        tape.rewind().unwrap();
        tape.space_filemarks_forward(1).unwrap();
        tape.write_record(b"new").unwrap();
        assert_eq!(tape.contents(), [TapeItem::Record(1), TapeItem::Filemark, TapeItem::Record(3)]);
        assert_eq!(tape.used_bytes(), 4);
    }

    #[test]
    fn early_warning_alternates_then_end_of_medium() {
        // 10 records of 10 bytes fit; the warning zone is the last 35 bytes.
        let mut tape = TapeModel::new(100, 35);
        let record = [7u8; 10];
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(match tape.write_record(&record) {
                Ok(_) => 'w',
                Err(e) if e.raw_os_error() == Some(Errno::ENOSPC as i32) => 'x',
                Err(e) => panic!("{e}"),
            });
        }
        let outcomes: String = outcomes.into_iter().collect();
        // 7 writes reach 70 > 65 (the crossing write succeeds), then ENOSPC and success
        // alternate until the tape is full, then ENOSPC for good.
        assert_eq!(outcomes, "wwwwwwwxwxwxwxxxxxxx");
        assert_eq!(tape.used_bytes(), 100);
        tape.write_filemarks(1).unwrap();
    }

    #[test]
    fn unloaded_and_protected_tapes_refuse() {
        let mut tape = TapeModel::new(100, 0);
        tape.set_write_protected(true);
        assert!(is_errno(tape.write_record(b"x"), Errno::EROFS));
        assert!(tape.status().unwrap().write_protected);
        tape.offline().unwrap();
        assert!(!tape.status().unwrap().online);
        assert!(is_errno(tape.rewind(), Errno::ENOMEDIUM));
        tape.load();
        tape.rewind().unwrap();
    }
}
