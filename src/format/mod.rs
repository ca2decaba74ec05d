//! On-volume formats: Amanda 3.5 header blocks (see header.rs for the layout).
//!
//! * [`header`] — the 32 KiB header block at the start of every volume file and holding
//!   file: [`DumpFile`], [`build_header`], [`parse_header`], [`summarize_header`].
//! * [`quote`] — Amanda's string quoting, the header/log-line tokenizer and
//!   `sanitise_filename`, shared with the catalog and holding-disk code.
//! * [`crc`] — CRC-32C as Amanda computes it over dump streams, and its `crc:size` text form.
//! * [`aead`] — the built-in authenticated encryption stream ("amaead") and its key files.
//!
//! Everything here is encode/decode over caller-supplied buffers or readers/writers; the
//! only file this module opens itself is an amaead key file.

pub mod aead;
pub mod crc;
pub mod header;
pub mod quote;

pub use crc::{crc32c, Crc, Crc32c};
pub use header::{
    build_header, header_text, is_valid_datestamp, parse_header, parse_header_lenient, summarize_header,
    write_header_into, DumpFile, FileType, HeaderError, DISK_BLOCK_BYTES,
};
pub use quote::{quote_string, sanitise_filename, unquote_string};
