//! The Amanda 3.5 volume/holding-file header block: build, parse and summarise
//! (common-src/fileheader.c `build_header`, `parse_file_header`, `summarize_header`).
//!
//! # Layout
//!
//! Every file Amanda writes to a volume (tape file, vtape `NNNNN.*` file) or to a holding
//! disk starts with one header block: ASCII-ish text followed by NUL bytes up to the block
//! size. The block size is the device block size on volumes and `DISK_BLOCK_BYTES` (32 KiB)
//! for holding files; in practice always 32 768 bytes. "␠" below is one space, `\f` is form
//! feed (0x0C), `{x}` is a field, `[...]` is optional.
//!
//! ## First line
//!
//! ```text
//! TAPESTART:  AMANDA: TAPESTART DATE {datestamp} TAPE {label}\n\f\n
//! TAPEEND:    AMANDA: TAPEEND DATE {datestamp}\n\f\n
//! NOOP:       AMANDA: NOOP\n\f\n
//! FILE:       AMANDA: FILE {datestamp} {host} {disk}␠␠lev {level} comp {comp} program {program}[tokens]\n
//! CONT_FILE:  AMANDA: CONT_FILE {datestamp} {host} {disk}␠␠lev {level} comp {comp} program {program}[tokens]\n
//! SPLIT_FILE: AMANDA: SPLIT_FILE {datestamp} {host} {disk}␠␠part {N}/{M}␠␠lev {level} comp {comp} program {program}[tokens]\n
//! ```
//!
//! The double spaces are real: Amanda formats `"%s %s %s %s %s lev %d ..."` with the fifth
//! `%s` being `""` or `" part %d/%d "`. `{disk}` is [`quote_string`]`(disk)`; `{comp}` is the
//! compression suffix (`.gz`, `cust`, `.Z`, ...) when compressed, else `N`; `{program}` has a
//! trailing `.exe` (any case) removed. A TAPESTART written by `amlabel` has datestamp `X`;
//! the taper rewrites it with the run's timestamp. Taper writes every dump as SPLIT_FILE with
//! `part N/-1` (total unknown), even single-part ones; holding files are FILE (chunks after
//! the first are CONT_FILE). `{datestamp}` must be `X`, 8 digits or 14 digits.
//!
//! `[tokens]` are zero or more of, in exactly this order, each ` keyword value`:
//!
//! | token | field | rule |
//! |---|---|---|
//! | ` crypt {suffix}` | `encryption_suffix` | only when `encrypted` (suffix is `enc`) |
//! | ` server_custom_compress {prog}` | `server_compress_program` | excludes the next |
//! | ` client_custom_compress {prog}` | `client_compress_program` | |
//! | ` server_encrypt {prog}` | `server_encrypt_program` | excludes the next |
//! | ` client_encrypt {prog}` | `client_encrypt_program` | |
//! | ` server_decrypt_option {opt}` | `server_decrypt_option` | excludes the next |
//! | ` client_decrypt_option {opt}` | `client_decrypt_option` | |
//!
//! ## Following lines (dump types only), in this order, each only when set
//!
//! ```text
//! CONT_FILENAME={continuation_filename}\n     next holding-disk chunk
//! APPLICATION={application}\n
//! PARTIAL=YES\n                               is_partial
//! ORIGSIZE={original_size_kb}\n               only if > 0
//! NATIVE-CRC={crc:%08x}:{size:%lld}\n         only if crc != 0
//! CLIENT-CRC={crc:%08x}:{size:%lld}\n         only if crc != 0
//! SERVER-CRC={crc:%08x}:{size:%lld}\n         only if crc != 0
//! PART-CRC={crc:%08x}:{size:%lld}\n           only if set (amrs only, see below)
//! DLE=<<ENDDLE\n{dle_xml}\nENDDLE\n           only if dle_xml.len() < block_size - 2048
//! To restore, position tape at start of file and run:\n
//! \tdd if=<tape> [bs={block_size_bytes/1024}k ]skip=1 | [{decrypt_cmd} ][{uncompress_cmd} ]{recover_cmd} \n\f\n
//! ```
//!
//! The DLE here-document delimiter is `ENDDLE`, or `ENDDLE1`, `ENDDLE2`, ... — the first
//! one that is not itself a whole line of the DLE text. The size test is Amanda's
//! `strlen(dle_str) < max_size-2048` on `size_t`: with a block smaller than 2048 bytes the
//! subtraction wraps and the DLE is always included. `bs=` appears only when
//! `block_size_bytes != 0` (taper sets 32768 → `bs=32k`; dumper/holding leave 0). The three
//! commands appear only if `recover_cmd` is set; `decrypt_cmd` and `uncompress_cmd` must end
//! in `|`. Note the space after the last command. Amanda's dumper sets `uncompress_cmd` to
//! ` /bin/gzip -dc |` (leading space, so `skip=1 |  /bin/...`), but every header that reaches
//! a holding disk or volume has been re-parsed and rebuilt by the chunker or taper, which
//! trims it: real files read `skip=1 | /bin/gzip -dc | /usr/lib/amanda/application/amgtar
//! restore [./file-to-restore]+ `.
//!
//! The text ends with `\n\f\n` and the block is NUL-padded to its full size. A header whose
//! text does not fit in the block cannot be written.
//!
//! # Parsing rules (what [`parse_header`] accepts)
//!
//! * The text is the block up to its first NUL. An empty or all-zero block is an unlabeled
//!   / blank volume: [`FileType::Empty`] (Amanda's `F_EMPTY`). A block with no NUL at all
//!   whose text does not end in `\n\f\n` is reported as truncated (Amanda would silently
//!   parse it; we refuse so a short read never passes for a header). Old 2.5/2.6.0 labels
//!   ended in `\n014\n` (a missing backslash in Amanda) and are accepted since they are NUL
//!   padded.
//! * The first line runs to the first `\n` that is not inside double quotes.
//! * Tokens are split on runs of spaces only (TAB is an ordinary byte). The first token must
//!   be `AMANDA:` or `NETDUMP:` (pre-2.x); the second is the type word. Any other type word
//!   is an error (Amanda: `F_WEIRD`).
//! * TAPESTART: `DATE {ds} TAPE {label}`; extra tokens ignored. TAPEEND: `DATE {ds}`
//!   optional (missing → empty datestamp); another word is an error. NOOP: nothing.
//! * Dump types: `{ds} {host} {disk}`, the disk read with `strquotedstr` (so quoted spaces
//!   survive) and unquoted; SPLIT_FILE then `part`, a number up to `/`, a number; then
//!   `lev N`, `comp S`. `comp N` means uncompressed (suffix ""); `comp C` means `.Z`
//!   (pre-2.2); anything else is the suffix. `program P` is optional (old headers); if
//!   present the optional tokens follow, each recognised only at its place in the order
//!   above and only by *prefix* (Amanda's `BSTRNCMP`); the first token out of order ends the
//!   line. A `crypt` value starting with `N` means not encrypted. FILE gets part 1 of 1,
//!   CONT_FILE part 0 of 0.
//! * Numbers are C `%d`: leading whitespace, optional sign, digits, anything after ignored
//!   (`lev 3x` is level 3). No digits, or a value outside `i32`, is an error (Amanda wraps).
//! * Following lines are split on `\n`, empty lines skipped (so a DLE loses blank lines),
//!   and recognised by prefix: `CONT_FILENAME=`, `PARTIAL=` (`yes` in any case → partial),
//!   `APPLICATION=`, `ORIGSIZE=` (C `atoll`; garbage → 0), `NATIVE-CRC=` / `CLIENT-CRC=` /
//!   `SERVER-CRC=` (unparsable → 0:0), `PART-CRC=` (ours; unparsable → not set), `DLE=`
//!   (`<<KEY` reads lines up to one equal to KEY, joined with `\n`; otherwise the rest of
//!   the line), the "To restore" line (skipped) and
//!   `\tdd if=<tape> `. On the dd line everything after the first `|` is split at the next
//!   two `|` and each piece trimmed of ASCII whitespace: one piece → `recover_cmd`; two →
//!   `uncompress_cmd = "{1} |"`, `recover_cmd`; three → `decrypt_cmd = "{1} |"`,
//!   `uncompress_cmd = "{2} |"`, `recover_cmd` (which keeps any further `|`). A dd line with
//!   no `|` gives `recover_cmd = "BUG"`. Other lines are ignored. These lines are read for
//!   every type, as Amanda does.
//! * `block_size_bytes` is *not* read back from `bs=` (it stays 0), as in Amanda.
//! * Text that is not UTF-8 is decoded lossily (U+FFFD), field by field.
//!
//! # Where we differ from Amanda, and why
//!
//! * Amanda's first-line scan treats `\"` as an escaped quote but not `\\`, so a disk name
//!   ending in a backslash (quoted `"C:\\"`, i.e. every Windows drive root) makes it run the
//!   first line to the end of the text and swallow the following lines into the program
//!   name (verified with Amanda 3.5.1's own parser). We treat `\\` as escaped too and parse
//!   such headers correctly.
//! * [`build_header`] returns errors where Amanda calls `error()` (aborts) and additionally
//!   refuses values that would not parse back: a space, `"`, newline or NUL inside a
//!   single-token field (host, label, program, suffixes, custom programs and options),
//!   a newline in a line field, a value longer than Amanda's 255-byte `string_t` (Amanda
//!   would truncate it on read), an encryption suffix starting with `N`, a compression
//!   suffix `N`, and sizes above `i64::MAX`.
//! * Amanda never lets parsing fail: malformed headers become `F_WEIRD`. [`parse_header`]
//!   returns a [`HeaderError`] saying what was wrong; [`parse_header_lenient`] gives
//!   Amanda's answer (including `Weird`) for tools such as amrestore that just report it.
//! * `parse_file_header` itself calls an all-zero block `F_WEIRD`; Amanda's devices report
//!   a volume with nothing readable as `F_EMPTY` before ever parsing. We return `Empty` for
//!   empty and all-zero blocks from both parsers, which is what callers act on.
//! * Amanda truncates every string field to 255 bytes on read, wraps out-of-range `%d`
//!   numbers, and keeps negative `ORIGSIZE`/CRC sizes; we keep full strings, reject
//!   out-of-range numbers and read negative sizes as 0 (ORIGSIZE) or 0:0 (CRC). An
//!   unbalanced quote on the first line makes Amanda overwrite its terminating NUL and read
//!   past the header; we stop at the end of the text.
//! * `PART-CRC=` is ours: the CRC-32C and size of the data of this volume file alone,
//!   written by file-backed devices once a part is complete (see [`DumpFile::part_crc`]).
//!   Amanda's parser ignores lines it does not know, so it reads these headers as if the
//!   line were absent; Amanda never writes it, so its files build byte for byte as before.
//!
//! All of the above was checked against Amanda 3.5.1 itself: its Perl binding
//! (`Amanda::Header->to_string` / `from_string` / `summary`) agreed byte for byte with
//! [`build_header`] and [`summarize_header`] on 15 000 random headers, and field for field
//! with [`parse_header_lenient`] on mutated ones, except for the cases listed here.
//!
//! [`quote_string`]: crate::format::quote::quote_string

use std::fmt::{self, Write as _};

use crate::format::crc::{scan_c_decimal_i64, Crc};
use crate::format::quote::{quote_string, unquote_string, Tokenizer};

/// Amanda's `DISK_BLOCK_BYTES`: header block size for holding files and the usual volume
/// block size.
pub const DISK_BLOCK_BYTES: usize = 32 * 1024;

/// Longest value an Amanda `string_t` field (`char[STRMAX]`, STRMAX 256) can hold.
pub const MAX_FIELD_BYTES: usize = 255;

/// Room `build_header` keeps free for everything but the DLE: the DLE is written only if it
/// is shorter than `block size - 2048`.
pub const DLE_HEADROOM_BYTES: usize = 2048;

/// The line that ends every header text.
pub const HEADER_TERMINATOR: &[u8] = b"\n\x0c\n";

const RESTORE_HINT: &str = "To restore, position tape at start of file and run:";
const DD_PREFIX: &str = "\tdd if=<tape> ";

/// Amanda's `filetype_t`: what a header block says the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileType {
    /// `F_EMPTY`: nothing there (empty or all-zero block: blank volume, no file).
    #[default]
    Empty,
    /// `F_UNKNOWN`: never produced by parsing; kept for completeness of the Amanda enum.
    Unknown,
    /// `F_WEIRD`: not an Amanda header, or a malformed one (only from the lenient parser).
    Weird,
    /// `F_TAPESTART` (`TAPESTART`): the volume label, file 0 of every volume.
    TapeStart,
    /// `F_TAPEEND` (`TAPEEND`): end of data; 3.5 devices synthesise it instead of writing it.
    TapeEnd,
    /// `F_DUMPFILE` (`FILE`): a whole dump, or the first chunk of a holding-disk dump.
    File,
    /// `F_CONT_DUMPFILE` (`CONT_FILE`): a later holding-disk chunk.
    ContFile,
    /// `F_SPLIT_DUMPFILE` (`SPLIT_FILE`): one part of a dump on a volume.
    SplitFile,
    /// `F_NOOP` (`NOOP`): filler block between filemarks on some tape drives.
    Noop,
}

impl FileType {
    /// The word on the header's first line, for the six types that have one.
    pub fn header_word(self) -> Option<&'static str> {
        match self {
            FileType::TapeStart => Some("TAPESTART"),
            FileType::TapeEnd => Some("TAPEEND"),
            FileType::File => Some("FILE"),
            FileType::ContFile => Some("CONT_FILE"),
            FileType::SplitFile => Some("SPLIT_FILE"),
            FileType::Noop => Some("NOOP"),
            FileType::Empty | FileType::Unknown | FileType::Weird => None,
        }
    }

    /// The type named by a header's second word (exact match), if it is one of the six.
    pub fn from_header_word(word: &str) -> Option<FileType> {
        match word {
            "TAPESTART" => Some(FileType::TapeStart),
            "TAPEEND" => Some(FileType::TapeEnd),
            "FILE" => Some(FileType::File),
            "CONT_FILE" => Some(FileType::ContFile),
            "SPLIT_FILE" => Some(FileType::SplitFile),
            "NOOP" => Some(FileType::Noop),
            _ => None,
        }
    }

    /// Amanda's numeric `filetype_t` value (as Amanda's Perl API exposes it).
    pub fn amanda_code(self) -> i32 {
        match self {
            FileType::Empty => -2,
            FileType::Weird => -1,
            FileType::Unknown => 0,
            FileType::TapeStart => 1,
            FileType::TapeEnd => 2,
            FileType::File => 3,
            FileType::ContFile => 4,
            FileType::SplitFile => 5,
            FileType::Noop => 6,
        }
    }

    /// FILE, CONT_FILE or SPLIT_FILE: the types that carry dump data.
    pub fn is_dump(self) -> bool {
        matches!(self, FileType::File | FileType::ContFile | FileType::SplitFile)
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            FileType::Empty => "EMPTY",
            FileType::Unknown => "UNKNOWN",
            FileType::Weird => "WEIRD",
            other => other.header_word().unwrap_or("UNKNOWN"),
        };
        f.write_str(word)
    }
}

/// One header's contents: Amanda's `dumpfile_t`, field for field.
///
/// Which fields matter depends on [`DumpFile::file_type`]: TAPESTART uses `datestamp` and
/// `host_or_label`; TAPEEND uses `datestamp`; NOOP nothing; the dump types use the rest.
/// `Default` is Amanda's `fh_init`: type [`FileType::Empty`], everything else empty/zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DumpFile {
    /// `type`.
    pub file_type: FileType,
    /// `datestamp`: run timestamp, `YYYYMMDD` or `YYYYMMDDhhmmss`, or `X` on a fresh label.
    pub datestamp: String,
    /// `dumplevel`: 0 full, 1.. incremental.
    pub dump_level: i32,
    /// `compressed`: whether the data is compressed (`comp` is not `N`).
    pub compressed: bool,
    /// `encrypted`: whether a `crypt` token is present.
    pub encrypted: bool,
    /// `comp_suffix`: `.gz`, `.Z`, `cust`, ... ; empty when not compressed.
    pub compression_suffix: String,
    /// `encrypt_suffix`: `enc` when encrypted, else empty.
    pub encryption_suffix: String,
    /// `name`: the client host name for dumps, the volume label for TAPESTART.
    pub host_or_label: String,
    /// `disk`: the disk-list entry's disk name, unquoted.
    pub disk: String,
    /// `program`: `DUMP`, `GNUTAR`, `APPLICATION`, ...
    pub program: String,
    /// `application`: the application plugin name when `program` is `APPLICATION`.
    pub application: String,
    /// `srvcompprog`: server-side custom compression program (`server_custom_compress`).
    pub server_compress_program: String,
    /// `clntcompprog`: client-side custom compression program (`client_custom_compress`).
    pub client_compress_program: String,
    /// `srv_encrypt`: server-side encryption program (`server_encrypt`).
    pub server_encrypt_program: String,
    /// `clnt_encrypt`: client-side encryption program (`client_encrypt`).
    pub client_encrypt_program: String,
    /// `recover_cmd`: the last command of the restore pipeline on the dd line.
    pub recover_cmd: String,
    /// `uncompress_cmd`: the uncompress stage, ending in `|` (e.g. `/bin/gzip -dc |`).
    pub uncompress_cmd: String,
    /// `decrypt_cmd`: the decrypt stage, ending in `|`.
    pub decrypt_cmd: String,
    /// `srv_decrypt_opt`: option the server encryption program takes to decrypt.
    pub server_decrypt_option: String,
    /// `clnt_decrypt_opt`: option the client encryption program takes to decrypt.
    pub client_decrypt_option: String,
    /// `cont_filename`: path of the next chunk of a holding-disk dump, if any.
    pub continuation_filename: String,
    /// `dle_str`: the disk-list entry as XML; `None` when the header has no `DLE=` line.
    pub dle_xml: Option<String>,
    /// `is_partial`: the dump did not complete (`PARTIAL=YES`).
    pub is_partial: bool,
    /// `partnum`: 1-based part number for SPLIT_FILE (FILE parses as 1, CONT_FILE as 0).
    pub part_number: i32,
    /// `totalparts`: number of parts, or -1 when unknown (taper always writes -1).
    pub total_parts: i32,
    /// `blocksize`: device block size, printed as `bs=Nk`; never read back (parses as 0).
    pub block_size_bytes: usize,
    /// `orig_size`: size of the data before compression, in KiB; 0 = unknown.
    pub original_size_kb: u64,
    /// `native_crc`: CRC of the data as the backup program produced it.
    pub native_crc: Crc,
    /// `client_crc`: CRC of the data as the client sent it (after client compression).
    pub client_crc: Crc,
    /// `server_crc`: CRC of the data as stored after this header.
    pub server_crc: Crc,
    /// `PART-CRC=` (amrs only, no Amanda field): CRC-32C and size of the data of this
    /// volume file alone. SERVER-CRC covers the whole dump, so it cannot judge one part
    /// of a split dump, and a dump written straight to a volume has its header written
    /// before any CRC is known; file-backed devices rewrite the header with this line
    /// once the part is written. Amanda's `parse_file_header` skips lines it does not
    /// know, so it still reads such files. `None`: no line (every Amanda-written file).
    pub part_crc: Option<Crc>,
}

impl DumpFile {
    /// A volume label (TAPESTART). `datestamp` is `X` for a freshly labeled volume or the
    /// run timestamp; the label must be one space-free token.
    pub fn new_tapestart(datestamp: &str, label: &str) -> Result<DumpFile, HeaderError> {
        let file = DumpFile {
            file_type: FileType::TapeStart,
            datestamp: datestamp.to_owned(),
            host_or_label: label.to_owned(),
            ..DumpFile::default()
        };
        validate_datestamp(file.file_type, &file.datestamp)?;
        validate_token(file.file_type, "label", &file.host_or_label)?;
        Ok(file)
    }

    /// An end-of-data marker (TAPEEND) for the run `datestamp`.
    pub fn new_tapeend(datestamp: &str) -> Result<DumpFile, HeaderError> {
        let file =
            DumpFile { file_type: FileType::TapeEnd, datestamp: datestamp.to_owned(), ..DumpFile::default() };
        validate_datestamp(file.file_type, &file.datestamp)?;
        Ok(file)
    }

    /// A NOOP filler header.
    pub fn new_noop() -> DumpFile {
        DumpFile { file_type: FileType::Noop, ..DumpFile::default() }
    }

    /// A whole-dump FILE header (part 1 of 1). The other fields start empty; set them
    /// before building. Validation happens in [`build_header`].
    pub fn new_file(datestamp: &str, host: &str, disk: &str, dump_level: i32, program: &str) -> DumpFile {
        DumpFile {
            file_type: FileType::File,
            datestamp: datestamp.to_owned(),
            host_or_label: host.to_owned(),
            disk: disk.to_owned(),
            dump_level,
            program: program.to_owned(),
            part_number: 1,
            total_parts: 1,
            ..DumpFile::default()
        }
    }

    /// A holding-disk continuation chunk (CONT_FILE, part 0 of 0).
    pub fn new_cont_file(
        datestamp: &str,
        host: &str,
        disk: &str,
        dump_level: i32,
        program: &str,
    ) -> DumpFile {
        DumpFile {
            file_type: FileType::ContFile,
            part_number: 0,
            total_parts: 0,
            ..DumpFile::new_file(datestamp, host, disk, dump_level, program)
        }
    }

    /// One part of a dump on a volume (SPLIT_FILE). `total_parts` is -1 when unknown, which
    /// is what the taper always writes.
    pub fn new_split_file(
        datestamp: &str,
        host: &str,
        disk: &str,
        dump_level: i32,
        program: &str,
        part_number: i32,
        total_parts: i32,
    ) -> DumpFile {
        DumpFile {
            file_type: FileType::SplitFile,
            part_number,
            total_parts,
            ..DumpFile::new_file(datestamp, host, disk, dump_level, program)
        }
    }
}

/// What went wrong building or parsing a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The block does not start with `AMANDA:` or `NETDUMP:`.
    #[error("not an Amanda header: the block starts with {found:?}, expected \"AMANDA:\" or \"NETDUMP:\"")]
    NotAmanda {
        /// The first word found (may be empty).
        found: String,
    },
    /// The type word is not one Amanda writes.
    #[error("unknown Amanda header type {found:?} (expected TAPESTART, FILE, CONT_FILE, SPLIT_FILE, TAPEEND or NOOP)")]
    UnknownType {
        /// The word found after `AMANDA:`.
        found: String,
    },
    /// The first line is missing a word or has the wrong one.
    #[error("malformed {header_type} header: expected {expected}, found {}", describe_token(found.as_deref()))]
    Malformed {
        /// The type word of the header being parsed (`AMANDA` if not known yet).
        header_type: &'static str,
        /// What the parser wanted at this point.
        expected: &'static str,
        /// What it found instead (`None`: the line ended).
        found: Option<String>,
    },
    /// A numeric field is not a C `%d` integer (or does not fit in 32 bits).
    #[error("malformed {header_type} header: {field} {text:?} is not a 32-bit decimal number")]
    BadNumber {
        /// The type word of the header being parsed.
        header_type: &'static str,
        /// Which number (`dump level`, `part number`, `total parts`).
        field: &'static str,
        /// The token found.
        text: String,
    },
    /// The whole block is text with no terminator: it was cut short.
    #[error("header text fills the whole {block_bytes}-byte block without NUL padding and does not end in \"\\n\\f\\n\": the block is truncated")]
    Unterminated {
        /// Size of the block given to the parser.
        block_bytes: usize,
    },
    /// The header text does not fit in the block.
    #[error("{file_type} header text needs {text_bytes} bytes but the block is only {max_bytes} bytes")]
    TooLarge {
        /// The type being built.
        file_type: FileType,
        /// Length of the text.
        text_bytes: usize,
        /// Block size requested.
        max_bytes: usize,
    },
    /// A field value cannot be written (Amanda would abort, or could not read it back).
    #[error("cannot build {file_type} header: {field} {value:?} {reason}")]
    InvalidField {
        /// The type being built.
        file_type: FileType,
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Empty, Unknown and Weird have no on-volume form.
    #[error("cannot build a header of type {0}: only TAPESTART, FILE, CONT_FILE, SPLIT_FILE, TAPEEND and NOOP can be written")]
    NotWritable(FileType),
}

fn describe_token(found: Option<&str>) -> String {
    match found {
        Some(token) => format!("{token:?}"),
        None => "the end of the line".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Building

/// Builds the header block: the text followed by NULs, exactly `max_size_bytes` long
/// (Amanda's `build_header(file, NULL, max_size)`). `max_size_bytes` is the device block
/// size, or [`DISK_BLOCK_BYTES`] for holding files.
pub fn build_header(file: &DumpFile, max_size_bytes: usize) -> Result<Vec<u8>, HeaderError> {
    let mut block = vec![0u8; max_size_bytes];
    write_header_into(file, &mut block)?;
    Ok(block)
}

/// Builds the header into `block` (whose length is the block size): the text, then NULs to
/// the end of `block`. Returns the length of the text. On error `block` is left untouched.
pub fn write_header_into(file: &DumpFile, block: &mut [u8]) -> Result<usize, HeaderError> {
    let text = header_text(file, block.len())?;
    let text_bytes = text.len();
    block[..text_bytes].copy_from_slice(text.as_bytes());
    block[text_bytes..].fill(0);
    Ok(text_bytes)
}

/// The header text alone (no padding) as it would be written into a block of
/// `max_size_bytes` (which decides whether the DLE is included and whether it fits).
pub fn header_text(file: &DumpFile, max_size_bytes: usize) -> Result<String, HeaderError> {
    let file_type = file.file_type;
    let text = match file_type {
        FileType::TapeStart => {
            validate_token(file_type, "label", &file.host_or_label)?;
            validate_datestamp(file_type, &file.datestamp)?;
            format!("AMANDA: TAPESTART DATE {} TAPE {}\n\x0c\n", file.datestamp, file.host_or_label)
        }
        FileType::File | FileType::ContFile | FileType::SplitFile => dump_header_text(file, max_size_bytes)?,
        FileType::TapeEnd => {
            validate_datestamp(file_type, &file.datestamp)?;
            format!("AMANDA: TAPEEND DATE {}\n\x0c\n", file.datestamp)
        }
        FileType::Noop => "AMANDA: NOOP\n\x0c\n".to_owned(),
        FileType::Empty | FileType::Unknown | FileType::Weird => {
            return Err(HeaderError::NotWritable(file_type))
        }
    };
    if text.len() > max_size_bytes {
        return Err(HeaderError::TooLarge { file_type, text_bytes: text.len(), max_bytes: max_size_bytes });
    }
    Ok(text)
}

fn dump_header_text(file: &DumpFile, max_size_bytes: usize) -> Result<String, HeaderError> {
    let file_type = file.file_type;
    let type_word = file_type.header_word().unwrap_or("FILE");

    let split_data = if file_type == FileType::SplitFile {
        validate_parts(file)?;
        format!(" part {}/{} ", file.part_number, file.total_parts)
    } else {
        String::new()
    };
    validate_token(file_type, "host", &file.host_or_label)?;
    validate_datestamp(file_type, &file.datestamp)?;
    validate_value(file_type, "disk", &file.disk)?;
    let program = strip_exe_suffix(&file.program);
    validate_token(file_type, "program", program)?;
    let compression = if file.compressed {
        validate_token(file_type, "compression suffix", &file.compression_suffix)?;
        if file.compression_suffix == "N" {
            return Err(invalid(file_type, "compression suffix", "N", "means \"not compressed\""));
        }
        file.compression_suffix.as_str()
    } else {
        "N"
    };
    validate_encryption_suffix(file)?;

    let mut text = String::with_capacity(1024);
    // Writing to a String cannot fail; the results are ignored deliberately.
    let _ = write!(
        text,
        "AMANDA: {} {} {} {} {} lev {} comp {} program {}",
        type_word,
        file.datestamp,
        file.host_or_label,
        quote_string(&file.disk),
        split_data,
        file.dump_level,
        compression,
        program
    );
    if file.encrypted {
        let _ = write!(text, " crypt {}", file.encryption_suffix);
    }
    let option_pairs = [
        (
            ("server_custom_compress", &file.server_compress_program),
            ("client_custom_compress", &file.client_compress_program),
        ),
        (("server_encrypt", &file.server_encrypt_program), ("client_encrypt", &file.client_encrypt_program)),
        (
            ("server_decrypt_option", &file.server_decrypt_option),
            ("client_decrypt_option", &file.client_decrypt_option),
        ),
    ];
    for ((server_keyword, server_value), (client_keyword, client_value)) in option_pairs {
        if !server_value.is_empty() && !client_value.is_empty() {
            return Err(invalid(
                file_type,
                client_keyword,
                client_value,
                "cannot be set together with its server_* counterpart",
            ));
        }
        if !server_value.is_empty() {
            validate_token(file_type, server_keyword, server_value)?;
            let _ = write!(text, " {server_keyword} {server_value}");
        } else if !client_value.is_empty() {
            validate_token(file_type, client_keyword, client_value)?;
            let _ = write!(text, " {client_keyword} {client_value}");
        }
    }
    text.push('\n');

    if !file.continuation_filename.is_empty() {
        validate_line_value(file_type, "continuation filename", &file.continuation_filename)?;
        let _ = writeln!(text, "CONT_FILENAME={}", file.continuation_filename);
    }
    if !file.application.is_empty() {
        validate_line_value(file_type, "application", &file.application)?;
        let _ = writeln!(text, "APPLICATION={}", file.application);
    }
    if file.is_partial {
        text.push_str("PARTIAL=YES\n");
    }
    if file.original_size_kb > 0 {
        validate_size(file_type, "original size", file.original_size_kb)?;
        let _ = writeln!(text, "ORIGSIZE={}", file.original_size_kb);
    }
    for (keyword, crc) in
        [("NATIVE-CRC", file.native_crc), ("CLIENT-CRC", file.client_crc), ("SERVER-CRC", file.server_crc)]
    {
        if crc.crc != 0 {
            validate_size(file_type, keyword, crc.size)?;
            let _ = writeln!(text, "{keyword}={crc}");
        }
    }
    if let Some(crc) = file.part_crc {
        validate_size(file_type, "PART-CRC", crc.size)?;
        let _ = writeln!(text, "PART-CRC={crc}");
    }
    if let Some(dle) = &file.dle_xml {
        if dle.contains('\0') {
            return Err(invalid(file_type, "DLE", dle, "contains a NUL byte"));
        }
        // Amanda: strlen(dle_str) < max_size-2048 on size_t, which wraps for small blocks.
        let fits = max_size_bytes < DLE_HEADROOM_BYTES || dle.len() < max_size_bytes - DLE_HEADROOM_BYTES;
        if fits {
            let delimiter = heredoc_delimiter(dle, "ENDDLE");
            let _ = write!(text, "DLE=<<{delimiter}\n{dle}\n{delimiter}\n");
        }
    }

    text.push_str(RESTORE_HINT);
    text.push('\n');
    text.push_str(DD_PREFIX);
    if file.block_size_bytes != 0 {
        let _ = write!(text, "bs={}k ", file.block_size_bytes / 1024);
    }
    text.push_str("skip=1 | ");
    if !file.recover_cmd.is_empty() {
        for (field, command) in
            [("decrypt command", &file.decrypt_cmd), ("uncompress command", &file.uncompress_cmd)]
        {
            if !command.is_empty() {
                validate_line_value(file_type, field, command)?;
                if !command.ends_with('|') {
                    return Err(invalid(file_type, field, command, "must end with '|'"));
                }
                text.push_str(command);
                text.push(' ');
            }
        }
        validate_line_value(file_type, "recover command", &file.recover_cmd)?;
        text.push_str(&file.recover_cmd);
        text.push(' ');
    } else if !file.uncompress_cmd.is_empty() || !file.decrypt_cmd.is_empty() {
        let (field, value) = if file.uncompress_cmd.is_empty() {
            ("decrypt command", &file.decrypt_cmd)
        } else {
            ("uncompress command", &file.uncompress_cmd)
        };
        return Err(invalid(file_type, field, value, "needs a recover command"));
    }
    text.push_str("\n\x0c\n");
    Ok(text)
}

/// Amanda trims a trailing `.exe` (regex `^.*[.][Ee][Xx][Ee]$`) from the program name.
fn strip_exe_suffix(program: &str) -> &str {
    let bytes = program.as_bytes();
    if bytes.len() >= 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".exe") {
        &program[..program.len() - 4]
    } else {
        program
    }
}

/// `quote_heredoc`: the first of `prefix`, `prefix1`, `prefix2`, ... that is not a whole
/// line of `text`.
fn heredoc_delimiter(text: &str, prefix: &str) -> String {
    let mut delimiter = prefix.to_owned();
    let mut counter = 0u32;
    while text.split('\n').any(|line| line == delimiter) {
        counter += 1;
        delimiter = format!("{prefix}{counter}");
    }
    delimiter
}

/// Whether `datestamp` is what Amanda's `validate_datestamp` accepts: `X`, or exactly 8 or
/// 14 ASCII digits.
pub fn is_valid_datestamp(datestamp: &str) -> bool {
    datestamp == "X"
        || ((datestamp.len() == 8 || datestamp.len() == 14) && datestamp.bytes().all(|b| b.is_ascii_digit()))
}

fn invalid(file_type: FileType, field: &'static str, value: &str, reason: &'static str) -> HeaderError {
    HeaderError::InvalidField { file_type, field, value: value.to_owned(), reason }
}

fn validate_datestamp(file_type: FileType, datestamp: &str) -> Result<(), HeaderError> {
    if is_valid_datestamp(datestamp) {
        Ok(())
    } else {
        Err(invalid(file_type, "datestamp", datestamp, "is not \"X\", 8 digits or 14 digits"))
    }
}

/// Any field: no NUL (it would end the text) and within Amanda's `string_t`.
fn validate_value(file_type: FileType, field: &'static str, value: &str) -> Result<(), HeaderError> {
    if value.contains('\0') {
        return Err(invalid(file_type, field, value, "contains a NUL byte"));
    }
    if value.len() > MAX_FIELD_BYTES {
        return Err(invalid(
            file_type,
            field,
            value,
            "is longer than 255 bytes (Amanda's STRMAX) and would be truncated by Amanda",
        ));
    }
    Ok(())
}

/// A field written as the rest of a line.
fn validate_line_value(file_type: FileType, field: &'static str, value: &str) -> Result<(), HeaderError> {
    validate_value(file_type, field, value)?;
    if value.contains('\n') {
        return Err(invalid(file_type, field, value, "contains a newline"));
    }
    Ok(())
}

/// A field written as one unquoted word of the first line.
fn validate_token(file_type: FileType, field: &'static str, value: &str) -> Result<(), HeaderError> {
    validate_line_value(file_type, field, value)?;
    if value.is_empty() {
        return Err(invalid(file_type, field, value, "is empty"));
    }
    if value.contains([' ', '"']) {
        return Err(invalid(
            file_type,
            field,
            value,
            "contains a space or double quote, which would split or unbalance the header line",
        ));
    }
    Ok(())
}

fn validate_size(file_type: FileType, field: &'static str, size: u64) -> Result<(), HeaderError> {
    if i64::try_from(size).is_err() {
        return Err(invalid(file_type, field, &size.to_string(), "exceeds Amanda's signed 64-bit off_t"));
    }
    Ok(())
}

fn validate_parts(file: &DumpFile) -> Result<(), HeaderError> {
    if file.part_number < 1 {
        return Err(invalid(
            file.file_type,
            "part number",
            &file.part_number.to_string(),
            "must be at least 1",
        ));
    }
    if file.total_parts >= 0 && file.part_number > file.total_parts {
        return Err(invalid(
            file.file_type,
            "part number",
            &file.part_number.to_string(),
            "exceeds the total number of parts",
        ));
    }
    Ok(())
}

fn validate_encryption_suffix(file: &DumpFile) -> Result<(), HeaderError> {
    let suffix = &file.encryption_suffix;
    if file.encrypted {
        validate_token(file.file_type, "encryption suffix", suffix)?;
        if suffix.starts_with('N') {
            // The parser reads any `crypt N...` as "not encrypted".
            return Err(invalid(
                file.file_type,
                "encryption suffix",
                suffix,
                "starts with 'N', which means \"not encrypted\"",
            ));
        }
    } else if !suffix.is_empty() && suffix != "N" {
        return Err(invalid(
            file.file_type,
            "encryption suffix",
            suffix,
            "is set but the file is not encrypted",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Parsing

/// Parses a header block (Amanda's `parse_file_header`), reporting what is wrong with a
/// block that is not a well-formed header. An empty or all-zero block is `Ok` with type
/// [`FileType::Empty`]. Only the text up to the first NUL is read.
pub fn parse_header(block: &[u8]) -> Result<DumpFile, HeaderError> {
    let text_bytes = header_text_bytes(block);
    if text_bytes.is_empty() && block.iter().all(|&byte| byte == 0) {
        return Ok(DumpFile::default());
    }
    if text_bytes.len() == block.len() && !block.ends_with(HEADER_TERMINATOR) {
        return Err(HeaderError::Unterminated { block_bytes: block.len() });
    }
    parse_text(&String::from_utf8_lossy(text_bytes))
}

/// Parses a header block the way Amanda does, never failing: an empty or all-zero block is
/// [`FileType::Empty`], anything malformed is [`FileType::Weird`] (with no other fields
/// set), and a block without terminator is parsed as far as it goes. Use this where Amanda
/// would just report "WEIRD file".
pub fn parse_header_lenient(block: &[u8]) -> DumpFile {
    let text_bytes = header_text_bytes(block);
    if text_bytes.is_empty() && block.iter().all(|&byte| byte == 0) {
        return DumpFile::default();
    }
    parse_text(&String::from_utf8_lossy(text_bytes))
        .unwrap_or_else(|_| DumpFile { file_type: FileType::Weird, ..DumpFile::default() })
}

/// The text part of a block: up to the first NUL, as Amanda reads it as a C string.
fn header_text_bytes(block: &[u8]) -> &[u8] {
    let end = block.iter().position(|&byte| byte == 0).unwrap_or(block.len());
    &block[..end]
}

fn parse_text(text: &str) -> Result<DumpFile, HeaderError> {
    let first_line_end = first_line_len(text);
    let first_line = &text[..first_line_end];
    // Like Amanda, the other lines start after the first newline even if the first line
    // (through an unbalanced quote) ran past it; only hand-made headers can tell.
    let other_lines = text.split_once('\n').map_or("", |(_, rest)| rest);

    let mut file = DumpFile::default();
    let mut tokens = Tokenizer::new(first_line);
    match tokens.next_token() {
        Some("AMANDA:" | "NETDUMP:") => {}
        other => return Err(HeaderError::NotAmanda { found: other.unwrap_or("").to_owned() }),
    }
    let type_word = tokens.next_token().ok_or(HeaderError::Malformed {
        header_type: "AMANDA",
        expected: "a header type",
        found: None,
    })?;
    file.file_type = FileType::from_header_word(type_word)
        .ok_or_else(|| HeaderError::UnknownType { found: type_word.to_owned() })?;
    let mut line = FirstLine { tokens, header_type: type_word_static(file.file_type) };

    match file.file_type {
        FileType::TapeStart => {
            line.expect_word("DATE")?;
            file.datestamp = line.required("<date stamp>")?.to_owned();
            line.expect_word("TAPE")?;
            file.host_or_label = line.required("<label>")?.to_owned();
        }
        FileType::File | FileType::ContFile | FileType::SplitFile => parse_dump_line(&mut line, &mut file)?,
        FileType::TapeEnd => match line.tokens.next_token() {
            None => {}
            Some("DATE") => file.datestamp = line.tokens.next_token().unwrap_or("").to_owned(),
            Some(other) => {
                return Err(HeaderError::Malformed {
                    header_type: line.header_type,
                    expected: "DATE",
                    found: Some(other.to_owned()),
                })
            }
        },
        FileType::Noop | FileType::Empty | FileType::Unknown | FileType::Weird => {}
    }

    parse_other_lines(other_lines, &mut file);
    Ok(file)
}

fn type_word_static(file_type: FileType) -> &'static str {
    file_type.header_word().unwrap_or("AMANDA")
}

/// Length of the first line: up to the first `\n` outside double quotes. Amanda skips a
/// quote preceded by a backslash; we also skip an escaped backslash so `"C:\\"` closes.
fn first_line_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' if !in_quotes => return index,
            b'"' => in_quotes = !in_quotes,
            b'\\' if matches!(bytes.get(index + 1), Some(b'"' | b'\\')) => index += 1,
            _ => {}
        }
        index += 1;
    }
    bytes.len()
}

/// The first line's tokenizer plus the header type for error messages.
struct FirstLine<'a> {
    tokens: Tokenizer<'a>,
    header_type: &'static str,
}

impl<'a> FirstLine<'a> {
    fn required(&mut self, expected: &'static str) -> Result<&'a str, HeaderError> {
        self.tokens.next_token().ok_or(HeaderError::Malformed {
            header_type: self.header_type,
            expected,
            found: None,
        })
    }

    fn expect_word(&mut self, word: &'static str) -> Result<(), HeaderError> {
        match self.tokens.next_token() {
            Some(found) if found == word => Ok(()),
            found => Err(HeaderError::Malformed {
                header_type: self.header_type,
                expected: word,
                found: found.map(str::to_owned),
            }),
        }
    }

    fn number(
        &self,
        token: Option<&str>,
        field: &'static str,
        expected: &'static str,
    ) -> Result<i32, HeaderError> {
        let token =
            token.ok_or(HeaderError::Malformed { header_type: self.header_type, expected, found: None })?;
        scan_c_int(token).ok_or_else(|| HeaderError::BadNumber {
            header_type: self.header_type,
            field,
            text: token.to_owned(),
        })
    }
}

/// C `sscanf("%d")`: leading whitespace, optional sign, at least one digit; the rest of the
/// token is ignored. `None` if there are no digits or the value does not fit in `i32`.
fn scan_c_int(token: &str) -> Option<i32> {
    let (value, _) = scan_c_decimal_i64(token)?;
    i32::try_from(value).ok()
}

/// C `atoll`: like `%lld` but no digits gives 0 and overflow saturates.
fn c_atoll(text: &str) -> i64 {
    match scan_c_decimal_i64(text) {
        Some((value, _)) => value,
        None => {
            let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            let negative = trimmed.starts_with('-');
            let has_digits = trimmed.trim_start_matches(['-', '+']).starts_with(|c: char| c.is_ascii_digit());
            match (has_digits, negative) {
                (false, _) => 0,
                (true, true) => i64::MIN,
                (true, false) => i64::MAX,
            }
        }
    }
}

/// The optional keyword/value tokens after `program`, in the only order Amanda reads them.
#[derive(Clone, Copy)]
enum OptionalToken {
    Crypt,
    ServerCompress,
    ClientCompress,
    ServerEncrypt,
    ClientEncrypt,
    ServerDecryptOption,
    ClientDecryptOption,
}

const OPTIONAL_TOKENS: [(&str, &str, OptionalToken); 7] = [
    ("crypt", "<crypt param>", OptionalToken::Crypt),
    ("server_custom_compress", "<server custom compress param>", OptionalToken::ServerCompress),
    ("client_custom_compress", "<client custom compress param>", OptionalToken::ClientCompress),
    ("server_encrypt", "<server encrypt param>", OptionalToken::ServerEncrypt),
    ("client_encrypt", "<client encrypt param>", OptionalToken::ClientEncrypt),
    ("server_decrypt_option", "<server decrypt param>", OptionalToken::ServerDecryptOption),
    ("client_decrypt_option", "<client decrypt param>", OptionalToken::ClientDecryptOption),
];

fn parse_dump_line(line: &mut FirstLine<'_>, file: &mut DumpFile) -> Result<(), HeaderError> {
    file.datestamp = line.required("<date stamp>")?.to_owned();
    file.host_or_label = line.required("<host name>")?.to_owned();
    let raw_disk = line.tokens.next_quoted().ok_or(HeaderError::Malformed {
        header_type: line.header_type,
        expected: "<disk name>",
        found: None,
    })?;
    file.disk = unquote_string(raw_disk);

    match file.file_type {
        FileType::SplitFile => {
            line.expect_word("part")?;
            let part = line.tokens.next_token_until(b'/');
            file.part_number = line.number(part, "part number", "<part number>")?;
            let total = line.tokens.next_token();
            file.total_parts = line.number(total, "total parts", "<total parts>")?;
        }
        FileType::File => {
            file.part_number = 1;
            file.total_parts = 1;
        }
        _ => {
            file.part_number = 0;
            file.total_parts = 0;
        }
    }

    line.expect_word("lev")?;
    let level = line.tokens.next_token();
    file.dump_level = line.number(level, "dump level", "<dump level>")?;
    line.expect_word("comp")?;
    let compression = line.required("<compression suffix>")?;
    file.compressed = compression != "N";
    file.compression_suffix = match compression {
        "N" => String::new(),
        "C" => ".Z".to_owned(), // pre-2.2 Amanda wrote `comp C` for compress(1)
        other => other.to_owned(),
    };

    // `program` and everything after it are optional (very old headers stop at comp).
    if line.tokens.next_token() != Some("program") {
        return Ok(());
    }
    file.program = line.required("<program name>")?.to_owned();

    let Some(mut token) = line.tokens.next_token() else {
        return Ok(());
    };
    for (keyword, expected, which) in OPTIONAL_TOKENS {
        // BSTRNCMP: a prefix comparison, as Amanda does it.
        if !token.starts_with(keyword) {
            continue;
        }
        let value = line.required(expected)?.to_owned();
        match which {
            OptionalToken::Crypt => {
                // "crypt N..." is an old way of saying "not encrypted".
                if value.starts_with('N') {
                    file.encrypted = false;
                    file.encryption_suffix = String::new();
                } else {
                    file.encrypted = true;
                    file.encryption_suffix = value;
                }
            }
            OptionalToken::ServerCompress => file.server_compress_program = value,
            OptionalToken::ClientCompress => file.client_compress_program = value,
            OptionalToken::ServerEncrypt => file.server_encrypt_program = value,
            OptionalToken::ClientEncrypt => file.client_encrypt_program = value,
            OptionalToken::ServerDecryptOption => file.server_decrypt_option = value,
            OptionalToken::ClientDecryptOption => file.client_decrypt_option = value,
        }
        match line.tokens.next_token() {
            Some(next) => token = next,
            None => return Ok(()),
        }
    }
    Ok(())
}

fn parse_other_lines(text: &str, file: &mut DumpFile) {
    // strtok_r(…, "\n"): empty lines never show up.
    let mut lines = text.split('\n').filter(|line| !line.is_empty());
    while let Some(line) = lines.next() {
        if let Some(value) = line.strip_prefix("CONT_FILENAME=") {
            file.continuation_filename = value.to_owned();
        } else if let Some(value) = line.strip_prefix("PARTIAL=") {
            file.is_partial = value.eq_ignore_ascii_case("yes");
        } else if let Some(value) = line.strip_prefix("APPLICATION=") {
            file.application = value.to_owned();
        } else if let Some(value) = line.strip_prefix("ORIGSIZE=") {
            file.original_size_kb = u64::try_from(c_atoll(value)).unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("NATIVE-CRC=") {
            file.native_crc = Crc::parse(value);
        } else if let Some(value) = line.strip_prefix("CLIENT-CRC=") {
            file.client_crc = Crc::parse(value);
        } else if let Some(value) = line.strip_prefix("SERVER-CRC=") {
            file.server_crc = Crc::parse(value);
        } else if let Some(value) = line.strip_prefix("PART-CRC=") {
            file.part_crc = Crc::parse_strict(value);
        } else if let Some(value) = line.strip_prefix("DLE=") {
            file.dle_xml = Some(match value.strip_prefix("<<") {
                Some(delimiter) => {
                    // An unterminated here-document takes the rest of the header.
                    let body: Vec<&str> =
                        lines.by_ref().take_while(|&body_line| body_line != delimiter).collect();
                    body.join("\n")
                }
                None => value.to_owned(),
            });
        } else if line.starts_with(RESTORE_HINT) {
            continue;
        } else if line.starts_with(DD_PREFIX) {
            parse_dd_line(line, file);
        }
    }
}

/// Splits `\tdd if=<tape> ... skip=1 | [decrypt |] [uncompress |] recover` into commands.
fn parse_dd_line(line: &str, file: &mut DumpFile) {
    let Some((_, pipeline)) = line.split_once('|') else {
        file.recover_cmd = "BUG".to_owned();
        return;
    };
    // g_ascii_isspace: space, TAB, LF, FF, CR (not VT) — the same set as is_ascii_whitespace.
    let chomp = |command: &str| command.trim_matches(|c: char| c.is_ascii_whitespace()).to_owned();
    let commands: Vec<&str> = pipeline.splitn(3, '|').collect();
    match commands.as_slice() {
        [recover] => file.recover_cmd = chomp(recover),
        [uncompress, recover] => {
            file.uncompress_cmd = format!("{} |", chomp(uncompress));
            file.recover_cmd = chomp(recover);
        }
        [decrypt, uncompress, recover, ..] => {
            file.decrypt_cmd = format!("{} |", chomp(decrypt));
            file.uncompress_cmd = format!("{} |", chomp(uncompress));
            file.recover_cmd = chomp(recover);
        }
        [] => {}
    }
}

// ---------------------------------------------------------------------------------------
// Summaries

/// One-line description of a header, exactly as Amanda's `summarize_header` prints it
/// (amrestore: `amrestore: 1: restoring {summary}`), e.g.
/// `split dumpfile: date 20261122023803 host localhost disk /data part 1/UNKNOWN lev 0 comp .gz program APPLICATION`.
pub fn summarize_header(file: &DumpFile) -> String {
    let mut summary = match file.file_type {
        FileType::Empty => return "EMPTY file".to_owned(),
        FileType::Unknown => return "UNKNOWN file".to_owned(),
        FileType::Weird => return "WEIRD file".to_owned(),
        FileType::Noop => return "NOOP file".to_owned(),
        FileType::TapeStart => {
            return format!("start of tape: date {} label {}", file.datestamp, file.host_or_label)
        }
        FileType::TapeEnd => return format!("end of tape: date {}", file.datestamp),
        FileType::File | FileType::ContFile => format!(
            "{}: date {} host {} disk {} lev {} comp {}",
            file.file_type,
            file.datestamp,
            file.host_or_label,
            quote_string(&file.disk),
            file.dump_level,
            summary_compression(file)
        ),
        FileType::SplitFile => {
            let total_parts =
                if file.total_parts > 0 { file.total_parts.to_string() } else { "UNKNOWN".to_owned() };
            format!(
                "split dumpfile: date {} host {} disk {} part {}/{} lev {} comp {}",
                file.datestamp,
                file.host_or_label,
                quote_string(&file.disk),
                file.part_number,
                total_parts,
                file.dump_level,
                summary_compression(file)
            )
        }
    };
    if !file.program.is_empty() {
        let _ = write!(summary, " program {}", file.program);
    }
    // Amanda prints the crypt word only for the one suffix it ever writes.
    if file.encryption_suffix == "enc" {
        let _ = write!(summary, " crypt {}", file.encryption_suffix);
    }
    for (keyword, value) in [
        ("server_custom_compress", &file.server_compress_program),
        ("client_custom_compress", &file.client_compress_program),
        ("server_encrypt", &file.server_encrypt_program),
        ("client_encrypt", &file.client_encrypt_program),
        ("server_decrypt_option", &file.server_decrypt_option),
        ("client_decrypt_option", &file.client_decrypt_option),
    ] {
        if !value.is_empty() {
            let _ = write!(summary, " {keyword} {value}");
        }
    }
    summary
}

fn summary_compression(file: &DumpFile) -> &str {
    if file.compressed {
        &file.compression_suffix
    } else {
        "N"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Header texts written by real Amanda 3.5.1 (Debian amd64) on this project's test
    // machine: amlabel / amdump / amflush into a chg-disk vtape changer and a holding disk
    // (see testdata/README.md). Only the text part of each 32 KiB block is kept.
    const REAL_TAPESTART: &str = include_str!("testdata/amanda351-taper-tapestart.txt");
    const REAL_SPLIT_GZ: &str = include_str!("testdata/amanda351-taper-split-gz.txt");
    const REAL_SPLIT_SERVER_CRYPT: &str = include_str!("testdata/amanda351-taper-split-srvcrypt.txt");
    const REAL_SPLIT_NON_ASCII: &str = include_str!("testdata/amanda351-taper-split-nonascii.txt");
    const REAL_HOLDING_SERVER_CRYPT: &str = include_str!("testdata/amanda351-holding-file-srvcrypt.txt");
    const REAL_HOLDING_NON_ASCII: &str = include_str!("testdata/amanda351-holding-file-nonascii.txt");
    /// What `amlabel amrs-fmt-scratch FMT-01 slot 1` wrote before any dump ran.
    const REAL_AMLABEL: &str = "AMANDA: TAPESTART DATE X TAPE FMT-01\n\x0c\n";

    // Texts produced by Amanda 3.5.1's own build_header through its Perl binding
    // (Amanda::Header->to_string(32768, 32768)), for types a normal run does not write.
    const AMANDA_TAPEEND: &str = "AMANDA: TAPEEND DATE 20240102030405\n\x0c\n";
    const AMANDA_NOOP: &str = "AMANDA: NOOP\n\x0c\n";
    const AMANDA_CONT_FILE: &str = "AMANDA: CONT_FILE 20240102030405 client.example.com /home  lev 2 comp .gz program GNUTAR\nCONT_FILENAME=/holding/20240102030405/client.example.com._home.2.2\nTo restore, position tape at start of file and run:\n\tdd if=<tape> skip=1 | /bin/gzip -dc | /bin/tar -xpGf - ... \n\x0c\n";
    const AMANDA_FILE_ALL_OPTIONS: &str = "AMANDA: FILE 20240102 win \"C:\\\\Users\\\\a b\"  lev 1 comp cust program AMWINDUMP crypt enc client_custom_compress /usr/bin/xz client_encrypt /usr/sbin/amcryptsimple client_decrypt_option -d\nPARTIAL=YES\nORIGSIZE=123456\nNATIVE-CRC=0135ce9f:10240\nCLIENT-CRC=abcdef01:999\nDLE=<<ENDDLE2\n<dle>\n ENDDLE\nENDDLE\nENDDLE1\n</dle>\nENDDLE2\nTo restore, position tape at start of file and run:\n\tdd if=<tape> bs=64k skip=1 | /usr/sbin/amcryptsimple -d | /usr/bin/xz -d | restore -x \n\x0c\n";
    const AMANDA_SPLIT_3_OF_5: &str = "AMANDA: SPLIT_FILE 20240102030405 h /d  part 3/5  lev 0 comp N program DUMP\nTo restore, position tape at start of file and run:\n\tdd if=<tape> skip=1 | \n\x0c\n";

    fn block_of(text: &str) -> Vec<u8> {
        let mut block = vec![0u8; DISK_BLOCK_BYTES];
        block[..text.len()].copy_from_slice(text.as_bytes());
        block
    }

    fn built_text(file: &DumpFile) -> String {
        header_text(file, DISK_BLOCK_BYTES).expect("header builds")
    }

    fn parsed(text: &str) -> DumpFile {
        parse_header(&block_of(text)).expect("header parses")
    }

    /// The DLE that amdump recorded for the `/tmp/amrs-fmt-scratch/data` DLE.
    fn real_dle_gz() -> String {
        [
            "<dle>",
            "  <program>APPLICATION</program>",
            "  <disk>/tmp/amrs-fmt-scratch/data</disk>",
            "  <level>0</level>",
            "  <auth>local</auth>",
            "  <compress>FAST</compress>",
            "  <record>NO</record>",
            "  <index>YES</index>",
            "  <datapath>AMANDA</datapath>",
            "  <backup-program>",
            "    <plugin>amgtar</plugin>",
            "  </backup-program>",
            "</dle>",
        ]
        .join("\n")
    }

    #[test]
    fn tapestart_matches_amlabel_and_taper() {
        let label = DumpFile::new_tapestart("X", "FMT-01").unwrap();
        assert_eq!(built_text(&label), REAL_AMLABEL);
        let relabel = DumpFile::new_tapestart("20261122023835", "FMT-02").unwrap();
        assert_eq!(built_text(&relabel), REAL_TAPESTART);

        let block = build_header(&relabel, DISK_BLOCK_BYTES).unwrap();
        assert_eq!(block.len(), DISK_BLOCK_BYTES);
        assert_eq!(&block[..REAL_TAPESTART.len()], REAL_TAPESTART.as_bytes());
        assert!(block[REAL_TAPESTART.len()..].iter().all(|&b| b == 0));
        assert_eq!(parse_header(&block).unwrap(), relabel);
    }

    #[test]
    fn taper_split_file_matches_real_amanda_byte_for_byte() {
        let mut file = DumpFile::new_split_file(
            "20261122023803",
            "localhost",
            "/tmp/amrs-fmt-scratch/data",
            0,
            "APPLICATION",
            1,
            -1,
        );
        file.compressed = true;
        file.compression_suffix = ".gz".into();
        file.application = "amgtar".into();
        file.original_size_kb = 110;
        file.native_crc = Crc::parse("229588d0:112640");
        file.client_crc = Crc::parse("9c1c95f6:100501");
        file.server_crc = Crc::parse("9c1c95f6:100501");
        file.dle_xml = Some(real_dle_gz());
        file.block_size_bytes = 32768;
        file.uncompress_cmd = "/bin/gzip -dc |".into();
        file.recover_cmd = "/usr/lib/amanda/application/amgtar restore [./file-to-restore]+".into();
        assert_eq!(built_text(&file), REAL_SPLIT_GZ);

        let mut reparsed = parsed(REAL_SPLIT_GZ);
        assert_eq!(reparsed.block_size_bytes, 0, "bs= is not read back");
        reparsed.block_size_bytes = 32768;
        assert_eq!(reparsed, file);
    }

    #[test]
    fn real_server_encrypted_headers_parse_and_rebuild_identically() {
        let holding = parsed(REAL_HOLDING_SERVER_CRYPT);
        assert_eq!(holding.file_type, FileType::File);
        assert_eq!(holding.disk, "/tmp/amrs-fmt-scratch/data/sub dir");
        assert_eq!((holding.part_number, holding.total_parts), (1, 1));
        assert!(holding.compressed && holding.encrypted);
        assert_eq!(holding.compression_suffix, "cust");
        assert_eq!(holding.encryption_suffix, "enc");
        assert_eq!(holding.server_compress_program, "/bin/gzip");
        assert_eq!(holding.server_encrypt_program, "/bin/cat");
        assert_eq!(holding.server_decrypt_option, "-d");
        assert_eq!(holding.decrypt_cmd, "/bin/cat -d |");
        assert_eq!(holding.uncompress_cmd, "/bin/gzip -d |");
        assert_eq!(holding.recover_cmd, "/usr/lib/amanda/application/amgtar restore [./file-to-restore]+");
        assert_eq!(holding.server_crc, Crc { crc: 0x931c_7d38, size: 100_332 });
        assert!(holding.dle_xml.as_deref().unwrap().contains("<decrypt-option>-d</decrypt-option>"));
        assert_eq!(built_text(&holding), REAL_HOLDING_SERVER_CRYPT);

        // The taper turned the holding FILE into SPLIT_FILE part 1/-1 with bs=32k.
        let mut on_tape = holding.clone();
        on_tape.file_type = FileType::SplitFile;
        on_tape.total_parts = -1;
        on_tape.block_size_bytes = 32768;
        assert_eq!(built_text(&on_tape), REAL_SPLIT_SERVER_CRYPT);
    }

    #[test]
    fn real_non_ascii_disk_is_quoted_like_amanda_on_x86() {
        let holding = parsed(REAL_HOLDING_NON_ASCII);
        assert_eq!(holding.disk, "/tmp/amrs-fmt-scratch/dätä");
        assert!(REAL_HOLDING_NON_ASCII.starts_with(
            "AMANDA: FILE 20261122023821 localhost \"/tmp/amrs-fmt-scratch/dätä\"  lev 0 comp .gz"
        ));
        assert_eq!(built_text(&holding), REAL_HOLDING_NON_ASCII);
        let on_tape = parsed(REAL_SPLIT_NON_ASCII);
        assert_eq!(on_tape.file_type, FileType::SplitFile);
        assert_eq!(on_tape.disk, holding.disk);
        assert_eq!(on_tape.dle_xml, holding.dle_xml);
    }

    /// The exact lines amrestore 3.5.1 printed for the real vtapes above.
    #[test]
    fn summaries_match_real_amrestore_output() {
        assert_eq!(
            summarize_header(&parsed(REAL_SPLIT_GZ)),
            "split dumpfile: date 20261122023803 host localhost disk /tmp/amrs-fmt-scratch/data part 1/UNKNOWN lev 0 comp .gz program APPLICATION"
        );
        assert_eq!(
            summarize_header(&parsed(REAL_SPLIT_SERVER_CRYPT)),
            "split dumpfile: date 20261122023821 host localhost disk \"/tmp/amrs-fmt-scratch/data/sub dir\" part 1/UNKNOWN lev 0 comp cust program APPLICATION crypt enc server_custom_compress /bin/gzip server_encrypt /bin/cat server_decrypt_option -d"
        );
        assert_eq!(
            summarize_header(&parsed(REAL_SPLIT_NON_ASCII)),
            "split dumpfile: date 20261122023821 host localhost disk \"/tmp/amrs-fmt-scratch/dätä\" part 1/UNKNOWN lev 0 comp .gz program APPLICATION"
        );
    }

    #[test]
    fn other_types_match_amanda_build_header() {
        assert_eq!(built_text(&DumpFile::new_tapeend("20240102030405").unwrap()), AMANDA_TAPEEND);
        assert_eq!(built_text(&DumpFile::new_noop()), AMANDA_NOOP);

        let mut cont = DumpFile::new_cont_file("20240102030405", "client.example.com", "/home", 2, "GNUTAR");
        cont.compressed = true;
        cont.compression_suffix = ".gz".into();
        cont.continuation_filename = "/holding/20240102030405/client.example.com._home.2.2".into();
        cont.uncompress_cmd = "/bin/gzip -dc |".into();
        cont.recover_cmd = "/bin/tar -xpGf - ...".into();
        assert_eq!(built_text(&cont), AMANDA_CONT_FILE);
        assert_eq!(parsed(AMANDA_CONT_FILE), cont);

        let split = DumpFile::new_split_file("20240102030405", "h", "/d", 0, "DUMP", 3, 5);
        assert_eq!(built_text(&split), AMANDA_SPLIT_3_OF_5);
        assert_eq!(parsed(AMANDA_SPLIT_3_OF_5), split);
    }

    #[test]
    fn every_optional_token_and_line_matches_amanda() {
        let mut file = DumpFile::new_file("20240102", "win", "C:\\Users\\a b", 1, "AMWINDUMP.EXE");
        file.compressed = true;
        file.compression_suffix = "cust".into();
        file.encrypted = true;
        file.encryption_suffix = "enc".into();
        file.client_compress_program = "/usr/bin/xz".into();
        file.client_encrypt_program = "/usr/sbin/amcryptsimple".into();
        file.client_decrypt_option = "-d".into();
        file.is_partial = true;
        file.original_size_kb = 123_456;
        file.native_crc = Crc { crc: 0x0135_ce9f, size: 10240 };
        file.client_crc = Crc { crc: 0xabcd_ef01, size: 999 };
        file.block_size_bytes = 65536;
        file.decrypt_cmd = "/usr/sbin/amcryptsimple -d |".into();
        file.uncompress_cmd = "/usr/bin/xz -d |".into();
        file.recover_cmd = "restore -x".into();
        file.dle_xml = Some("<dle>\n ENDDLE\nENDDLE\nENDDLE1\n</dle>".into());
        assert_eq!(built_text(&file), AMANDA_FILE_ALL_OPTIONS);
        assert_eq!(
            summarize_header(&file),
            "FILE: date 20240102 host win disk \"C:\\\\Users\\\\a b\" lev 1 comp cust program AMWINDUMP.EXE crypt enc client_custom_compress /usr/bin/xz client_encrypt /usr/sbin/amcryptsimple client_decrypt_option -d"
        );

        let back = parsed(AMANDA_FILE_ALL_OPTIONS);
        let mut expected = file.clone();
        expected.program = "AMWINDUMP".into(); // .exe is stripped on write
        expected.block_size_bytes = 0;
        assert_eq!(back, expected);
    }

    #[test]
    fn other_summaries() {
        assert_eq!(summarize_header(&DumpFile::default()), "EMPTY file");
        assert_eq!(summarize_header(&DumpFile::new_noop()), "NOOP file");
        assert_eq!(
            summarize_header(&DumpFile::new_tapestart("X", "DailySet1-07").unwrap()),
            "start of tape: date X label DailySet1-07"
        );
        assert_eq!(
            summarize_header(&DumpFile::new_tapeend("20240102030405").unwrap()),
            "end of tape: date 20240102030405"
        );
        assert_eq!(
            summarize_header(&parsed(AMANDA_CONT_FILE)),
            "CONT_FILE: date 20240102030405 host client.example.com disk /home lev 2 comp .gz program GNUTAR"
        );
        assert_eq!(
            summarize_header(&parsed(AMANDA_SPLIT_3_OF_5)),
            "split dumpfile: date 20240102030405 host h disk /d part 3/5 lev 0 comp N program DUMP"
        );
        let weird = parse_header_lenient(b"garbage\0");
        assert_eq!(summarize_header(&weird), "WEIRD file");
    }

    #[test]
    fn dle_is_dropped_unless_shorter_than_block_minus_2048() {
        // Amanda 3.5.1: with a 4000-byte block a 1951-byte DLE is written, 1952 is not.
        let mut file = DumpFile::new_split_file("20240102030405", "h", "/d", 0, "DUMP", 1, -1);
        file.dle_xml = Some("x".repeat(1951));
        let fits = header_text(&file, 4000).unwrap();
        assert!(fits.contains(&format!("DLE=<<ENDDLE\n{}\nENDDLE\n", "x".repeat(1951))));
        file.dle_xml = Some("x".repeat(1952));
        let dropped = header_text(&file, 4000).unwrap();
        assert!(!dropped.contains("DLE="));
        assert_eq!(
            dropped,
            "AMANDA: SPLIT_FILE 20240102030405 h /d  part 1/-1  lev 0 comp N program DUMP\nTo restore, position tape at start of file and run:\n\tdd if=<tape> skip=1 | \n\x0c\n"
        );
        // Below 2048 bytes Amanda's size_t subtraction wraps: the DLE is always attempted.
        file.dle_xml = Some("x".repeat(10));
        assert!(header_text(&file, 1024).unwrap().contains("DLE=<<ENDDLE\n"));
    }

    #[test]
    fn heredoc_delimiter_skips_lines_equal_to_it() {
        assert_eq!(heredoc_delimiter("<dle/>", "ENDDLE"), "ENDDLE");
        assert_eq!(heredoc_delimiter(" ENDDLE\nENDDLEx", "ENDDLE"), "ENDDLE");
        assert_eq!(heredoc_delimiter("ENDDLE", "ENDDLE"), "ENDDLE1");
        assert_eq!(heredoc_delimiter("a\nENDDLE1\nENDDLE\n", "ENDDLE"), "ENDDLE2");
    }

    #[test]
    fn dle_blank_lines_are_lost_like_amanda() {
        let mut file = DumpFile::new_file("20240102", "h", "/d", 0, "DUMP");
        file.dle_xml = Some("\n<dle>\n\n</dle>\n".into());
        let back = parsed(&built_text(&file));
        assert_eq!(back.dle_xml.as_deref(), Some("<dle>\n</dle>"));
        file.dle_xml = Some(String::new());
        assert_eq!(parsed(&built_text(&file)).dle_xml.as_deref(), Some(""));
    }

    #[test]
    fn too_large_header_is_refused() {
        let mut file = DumpFile::new_file("20240102", "h", "/d", 0, "DUMP");
        file.dle_xml = Some("y".repeat(100));
        let error = build_header(&file, 100).unwrap_err();
        assert!(matches!(error, HeaderError::TooLarge { max_bytes: 100, .. }), "{error}");
        let mut small = [0xAAu8; 16];
        assert!(write_header_into(&DumpFile::new_noop(), &mut small[..14]).is_err());
        assert_eq!(small, [0xAA; 16], "block untouched on error");
        assert_eq!(write_header_into(&DumpFile::new_noop(), &mut small[..15]), Ok(15));
        assert_eq!(&small[..15], b"AMANDA: NOOP\n\x0c\n");
        assert_eq!(small[15], 0xAA, "nothing written past the block");
    }

    #[test]
    fn write_into_pads_with_nul() {
        let mut block = vec![0xFFu8; 4096];
        let label = DumpFile::new_tapestart("20240102", "VOL-1").unwrap();
        let text_bytes = write_header_into(&label, &mut block).unwrap();
        assert_eq!(&block[..text_bytes], b"AMANDA: TAPESTART DATE 20240102 TAPE VOL-1\n\x0c\n");
        assert!(block[text_bytes..].iter().all(|&b| b == 0));
    }

    #[test]
    fn datestamp_validation() {
        for good in ["X", "20240102", "20240102030405"] {
            assert!(is_valid_datestamp(good), "{good}");
            assert!(DumpFile::new_tapestart(good, "L").is_ok());
        }
        for bad in ["", "x", "2024010", "202401020", "2024010203040", "2024010203040X", "２０２４０１０２"]
        {
            assert!(!is_valid_datestamp(bad), "{bad}");
            let error = DumpFile::new_tapestart(bad, "L").unwrap_err();
            assert!(error.to_string().contains("datestamp"), "{error}");
        }
        assert!(DumpFile::new_tapeend("1").is_err());
    }

    #[test]
    fn build_refuses_what_amanda_refuses_or_cannot_read_back() {
        let base = DumpFile::new_split_file("20240102030405", "h", "/d", 0, "DUMP", 1, -1);
        let cases: Vec<(DumpFile, &str)> = vec![
            (DumpFile { host_or_label: String::new(), ..base.clone() }, "host"),
            (DumpFile { host_or_label: "a b".into(), ..base.clone() }, "host"),
            (DumpFile { program: String::new(), ..base.clone() }, "program"),
            (DumpFile { program: ".exe".into(), ..base.clone() }, "program"),
            (DumpFile { datestamp: "2024".into(), ..base.clone() }, "datestamp"),
            (DumpFile { part_number: 0, ..base.clone() }, "part number"),
            (DumpFile { part_number: 4, total_parts: 3, ..base.clone() }, "part number"),
            (DumpFile { encrypted: true, ..base.clone() }, "encryption suffix"),
            (
                DumpFile { encrypted: true, encryption_suffix: "N".into(), ..base.clone() },
                "encryption suffix",
            ),
            (DumpFile { encryption_suffix: "enc".into(), ..base.clone() }, "encryption suffix"),
            (DumpFile { compressed: true, ..base.clone() }, "compression suffix"),
            (
                DumpFile { compressed: true, compression_suffix: "N".into(), ..base.clone() },
                "compression suffix",
            ),
            (
                DumpFile {
                    server_compress_program: "a".into(),
                    client_compress_program: "b".into(),
                    ..base.clone()
                },
                "client_custom_compress",
            ),
            (DumpFile { server_encrypt_program: "a b".into(), ..base.clone() }, "server_encrypt"),
            (DumpFile { client_decrypt_option: "-d x".into(), ..base.clone() }, "client_decrypt_option"),
            (DumpFile { uncompress_cmd: "gzip -dc |".into(), ..base.clone() }, "uncompress command"),
            (
                DumpFile { uncompress_cmd: "gzip -dc".into(), recover_cmd: "tar x".into(), ..base.clone() },
                "uncompress command",
            ),
            (DumpFile { recover_cmd: "a\nb".into(), ..base.clone() }, "recover command"),
            (DumpFile { application: "a\nb".into(), ..base.clone() }, "application"),
            (DumpFile { disk: "x".repeat(256), ..base.clone() }, "disk"),
            (DumpFile { disk: "a\0b".into(), ..base.clone() }, "disk"),
            (DumpFile { original_size_kb: u64::MAX, ..base.clone() }, "original size"),
        ];
        for (file, field) in cases {
            match header_text(&file, DISK_BLOCK_BYTES) {
                Err(HeaderError::InvalidField { field: got, .. }) => {
                    assert_eq!(got, field, "{file:?}")
                }
                other => panic!("expected InvalidField({field}) for {file:?}, got {other:?}"),
            }
        }
        for unwritable in [FileType::Empty, FileType::Unknown, FileType::Weird] {
            let file = DumpFile { file_type: unwritable, ..base.clone() };
            assert_eq!(header_text(&file, DISK_BLOCK_BYTES), Err(HeaderError::NotWritable(unwritable)));
        }
        let error =
            header_text(&DumpFile { host_or_label: "a b".into(), ..base }, DISK_BLOCK_BYTES).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot build SPLIT_FILE header: host \"a b\" contains a space or double quote, which would split or unbalance the header line"
        );
    }

    #[test]
    fn empty_and_zero_blocks_are_empty() {
        assert_eq!(parse_header(&[]).unwrap().file_type, FileType::Empty);
        assert_eq!(parse_header(&[0u8; DISK_BLOCK_BYTES]).unwrap(), DumpFile::default());
        assert_eq!(parse_header_lenient(&[0u8; 512]).file_type, FileType::Empty);
    }

    #[test]
    fn parse_errors_say_what_failed() {
        let cases: &[(&[u8], &str)] = &[
            (b"garbage\n\0", "not an Amanda header: the block starts with \"garbage\""),
            (b"\0junk", "not an Amanda header: the block starts with \"\""),
            (b"AMANDA:\tFILE\n\0", "not an Amanda header: the block starts with \"AMANDA:\\tFILE\""),
            (b"AMANDA: FOO bar\n\x0c\n\0", "unknown Amanda header type \"FOO\""),
            (b"AMANDA: WEIRD\n\0", "unknown Amanda header type \"WEIRD\""),
            (b"AMANDA:\n\0", "malformed AMANDA header: expected a header type, found the end of the line"),
            (
                b"AMANDA: TAPESTART DATE X\n\0",
                "malformed TAPESTART header: expected TAPE, found the end of the line",
            ),
            (
                b"AMANDA: TAPESTART DAT X TAPE L\n\0",
                "malformed TAPESTART header: expected DATE, found \"DAT\"",
            ),
            (b"AMANDA: TAPEEND FOO\n\0", "malformed TAPEEND header: expected DATE, found \"FOO\""),
            (
                b"AMANDA: FILE 20200101 h /d lev x comp N\n\0",
                "malformed FILE header: dump level \"x\" is not a 32-bit decimal number",
            ),
            (
                b"AMANDA: FILE 20200101 h /d lev 99999999999 comp N\n\0",
                "malformed FILE header: dump level \"99999999999\" is not a 32-bit decimal number",
            ),
            (
                b"AMANDA: SPLIT_FILE 20200101 h /d part //3//7 lev 1 comp N\n\0",
                "malformed SPLIT_FILE header: total parts \"/7\" is not a 32-bit decimal number",
            ),
            (
                b"AMANDA: SPLIT_FILE 20200101 h /d lev 1\n\0",
                "malformed SPLIT_FILE header: expected part, found \"lev\"",
            ),
            (
                b"AMANDA: FILE 20200101 h \"/d lev 1\n\0",
                "malformed FILE header: expected <disk name>, found the end of the line",
            ),
            (
                b"AMANDA: FILE 20200101 h /d lev 1 comp\n\0",
                "malformed FILE header: expected <compression suffix>, found the end of the line",
            ),
            (
                b"AMANDA: FILE 20200101 h /d lev 1 comp N program\n\0",
                "malformed FILE header: expected <program name>, found the end of the line",
            ),
            (
                b"AMANDA: FILE 20200101 h /d lev 1 comp N program X crypt\n\0",
                "malformed FILE header: expected <crypt param>, found the end of the line",
            ),
            (
                b"AMANDA: TAPESTART DATE X TAPE L",
                "header text fills the whole 31-byte block without NUL padding",
            ),
        ];
        for (block, message) in cases {
            let error = parse_header(block).unwrap_err();
            assert!(
                error.to_string().starts_with(message),
                "for {:?}: got {:?}, wanted {:?}",
                String::from_utf8_lossy(block),
                error.to_string(),
                message
            );
            if !matches!(error, HeaderError::Unterminated { .. }) {
                assert_eq!(parse_header_lenient(block).file_type, FileType::Weird);
            }
        }
    }

    #[test]
    fn unterminated_block_is_parsed_by_lenient_parser_like_amanda() {
        let cut = b"AMANDA: TAPESTART DATE X TAPE L";
        assert!(matches!(parse_header(cut), Err(HeaderError::Unterminated { block_bytes: 31 })));
        let lenient = parse_header_lenient(cut);
        assert_eq!(lenient.file_type, FileType::TapeStart);
        assert_eq!(lenient.host_or_label, "L");
        // A block filled exactly to its end, terminator included, is complete.
        let exact = b"AMANDA: NOOP\n\x0c\n";
        assert_eq!(parse_header(exact).unwrap().file_type, FileType::Noop);
    }

    #[test]
    fn legacy_and_loose_variants_parse() {
        // NETDUMP: magic and pre-2.2 `comp C` (.Z).
        let netdump = parsed("NETDUMP: FILE 19980101 h /d lev 0 comp C program DUMP\n\x0c\n");
        assert_eq!(netdump.file_type, FileType::File);
        assert!(netdump.compressed);
        assert_eq!(netdump.compression_suffix, ".Z");
        assert_eq!(
            summarize_header(&netdump),
            "FILE: date 19980101 host h disk /d lev 0 comp .Z program DUMP"
        );

        // Runs of spaces anywhere; quoted disk keeps its inner spacing; `crypt N`.
        let spaced = parsed(
            "AMANDA:   FILE   20200101   h   \"/a  b\"   lev 3   comp .gz   program  GNUTAR crypt N\n",
        );
        assert_eq!(spaced.disk, "/a  b");
        assert_eq!(spaced.dump_level, 3);
        assert_eq!(spaced.program, "GNUTAR");
        assert!(!spaced.encrypted);
        assert_eq!(spaced.encryption_suffix, "");

        // No `program` at all (very old headers), and C %d leniency.
        let old = parsed("AMANDA: FILE 19970101 h sd0a lev +3x comp N\n");
        assert_eq!((old.dump_level, old.program.as_str()), (3, ""));

        // TAPEEND with and without DATE.
        assert_eq!(parsed("AMANDA: TAPEEND\n").datestamp, "");
        assert_eq!(parsed("AMANDA: TAPEEND DATE\n").datestamp, "");
        assert_eq!(parsed("AMANDA: TAPEEND DATE 20200101\n").datestamp, "20200101");

        // Amanda 2.5/2.6.0 wrote labels ending in "\n014\n" (a lost backslash).
        let old_label = parsed("AMANDA: TAPESTART DATE 20070101 TAPE DailySet1-01\n014\n");
        assert_eq!(old_label.host_or_label, "DailySet1-01");

        // `part N/ M` with a space after the slash, and extra TAPESTART words.
        let split = parsed("AMANDA: SPLIT_FILE 20200101 h /d part 3/ 7 lev 1 comp N program X\n");
        assert_eq!((split.part_number, split.total_parts), (3, 7));
        assert_eq!(parsed("AMANDA: TAPESTART DATE X TAPE L extra words\n").host_or_label, "L");
        assert_eq!(parsed("   AMANDA: NOOP trailing\n").file_type, FileType::Noop);
    }

    #[test]
    fn optional_tokens_are_prefix_matched_in_order_only() {
        let file = parsed("AMANDA: FILE 20200101 h /d lev 0 comp N program X cryptic enc server_encrypted /p client_decrypt_option -d\n");
        assert!(file.encrypted);
        assert_eq!(file.encryption_suffix, "enc");
        assert_eq!(file.server_encrypt_program, "/p");
        assert_eq!(file.client_decrypt_option, "-d");

        // Out of order: once client_encrypt is read, a later `crypt` is ignored.
        let file = parsed("AMANDA: FILE 20200101 h /d lev 0 comp N program X client_encrypt /p crypt enc\n");
        assert_eq!(file.client_encrypt_program, "/p");
        assert!(!file.encrypted);
    }

    #[test]
    fn other_lines_follow_amanda() {
        let file = parsed(concat!(
            "AMANDA: FILE 20200101 h /d lev 1 comp N program X extra\n",
            "PARTIAL=yEs\n",
            "ORIGSIZE=12abc\n",
            "NATIVE-CRC=zz\n",
            "CLIENT-CRC=1234:5\n",
            "SOMETHING-NEW=1\n",
            "\n",
            "APPLICATION= spaced\n",
            "DLE=inline\n",
            "\tdd if=<tape> bs=32k skip=1 nopipe\n",
            "\x0c\n"
        ));
        assert!(file.is_partial);
        assert_eq!(file.original_size_kb, 12);
        assert_eq!(file.native_crc, Crc::default());
        assert_eq!(file.client_crc, Crc { crc: 0x1234, size: 5 });
        assert_eq!(file.application, " spaced");
        assert_eq!(file.dle_xml.as_deref(), Some("inline"));
        assert_eq!(file.recover_cmd, "BUG");
        assert_eq!(file.block_size_bytes, 0);

        assert_eq!(parsed("AMANDA: NOOP\nORIGSIZE=-5\n").original_size_kb, 0);
        assert!(!parsed("AMANDA: NOOP\nPARTIAL=NO\n").is_partial);
    }

    #[test]
    fn part_crc_follows_server_crc_and_reads_back_and_is_absent_unless_set() {
        let mut file = DumpFile::new_split_file("20261122023803", "h", "/d", 0, "GNUTAR", 2, -1);
        file.server_crc = Crc::parse("9c1c95f6:100501");
        file.dle_xml = Some("<dle/>".into());
        let without = built_text(&file);
        assert!(!without.contains("PART-CRC"), "{without}");
        file.part_crc = Some(Crc { crc: 0x0123_abcd, size: 1_048_576 });
        let with = built_text(&file);
        assert_eq!(
            with,
            without.replace(
                "SERVER-CRC=9c1c95f6:100501\n",
                "SERVER-CRC=9c1c95f6:100501\nPART-CRC=0123abcd:1048576\n"
            )
        );
        assert_eq!(parsed(&with), file);
        // An empty part has CRC 0:0, which is still a CRC to check (unlike SERVER-CRC's 0).
        file.part_crc = Some(Crc::default());
        assert!(built_text(&file).contains("\nPART-CRC=00000000:0\n"));
        assert_eq!(parsed(&built_text(&file)).part_crc, Some(Crc::default()));
        // Unparsable: not set, so nothing is checked against it.
        assert_eq!(parsed("AMANDA: NOOP\nPART-CRC=zz\n").part_crc, None);
    }

    #[test]
    fn dd_line_splits_into_at_most_three_commands() {
        let one = parsed("AMANDA: NOOP\n\tdd if=<tape> skip=1 |  tar -x \n");
        assert_eq!(
            (one.decrypt_cmd.as_str(), one.uncompress_cmd.as_str(), one.recover_cmd.as_str()),
            ("", "", "tar -x")
        );
        // Two pipes: the first is taken as uncompress even if it decrypts (as in Amanda).
        let two = parsed("AMANDA: NOOP\n\tdd if=<tape> skip=1 |  /bin/gzip -dc| tar -x\x0b \n");
        assert_eq!(two.uncompress_cmd, "/bin/gzip -dc |");
        assert_eq!(two.recover_cmd, "tar -x\x0b", "VT is not whitespace to g_ascii_isspace");
        let four = parsed("AMANDA: NOOP\n\tdd if=<tape> skip=1 | d | u | r1 | r2 \n");
        assert_eq!(four.decrypt_cmd, "d |");
        assert_eq!(four.uncompress_cmd, "u |");
        assert_eq!(four.recover_cmd, "r1 | r2");
        let empty = parsed("AMANDA: NOOP\n\tdd if=<tape> skip=1 | \n");
        assert_eq!(empty.recover_cmd, "");
    }

    #[test]
    fn unterminated_heredoc_takes_the_rest() {
        let file = parsed("AMANDA: FILE 20200101 h /d lev 1 comp N program X\nDLE=<<END\n<dle>\nTo restore, position tape at start of file and run:\n\tdd if=<tape> skip=1 | r \n\x0c\n");
        assert_eq!(
            file.dle_xml.as_deref(),
            Some("<dle>\nTo restore, position tape at start of file and run:\n\tdd if=<tape> skip=1 | r \n\x0c")
        );
        assert_eq!(file.recover_cmd, "");
    }

    /// Amanda 3.5.1's own parser runs the first line of this header to the end of the text
    /// (it does not see `\\` as an escaped backslash) and returns the program as
    /// "DUMP\nCONT_FILENAME=/hold/x.1\nAPPLICATION=amzfs\nTo". We parse it correctly.
    #[test]
    fn windows_drive_root_disk_parses_correctly() {
        let mut file = DumpFile::new_file("20240102", "win", "C:\\", 0, "DUMP");
        file.application = "amzfs".into();
        file.continuation_filename = "/hold/x.1".into();
        file.recover_cmd = "restore -xpGf - ...".into();
        let text = built_text(&file);
        assert!(text.starts_with(
            "AMANDA: FILE 20240102 win \"C:\\\\\"  lev 0 comp N program DUMP\nCONT_FILENAME=/hold/x.1\n"
        ));
        assert_eq!(parsed(&text), file);
    }

    #[test]
    fn non_utf8_bytes_are_replaced() {
        let mut block = b"AMANDA: TAPESTART DATE X TAPE L\xff\n\x0c\n".to_vec();
        block.resize(64, 0);
        assert_eq!(parse_header(&block).unwrap().host_or_label, "L\u{FFFD}");
        let mut block = b"AMANDA: FILE 20200101 h \"/d\\377x\" lev 1 comp N\n".to_vec();
        block.push(0);
        assert_eq!(parse_header(&block).unwrap().disk, "/d\u{FFFD}x");
    }

    #[test]
    fn file_type_codes_and_words() {
        for file_type in [
            FileType::TapeStart,
            FileType::TapeEnd,
            FileType::File,
            FileType::ContFile,
            FileType::SplitFile,
            FileType::Noop,
        ] {
            let word = file_type.header_word().unwrap();
            assert_eq!(FileType::from_header_word(word), Some(file_type));
            assert_eq!(file_type.to_string(), word);
        }
        assert_eq!(FileType::from_header_word("file"), None);
        assert_eq!(FileType::Empty.amanda_code(), -2);
        assert_eq!(FileType::SplitFile.amanda_code(), 5);
        assert!(FileType::ContFile.is_dump() && !FileType::TapeStart.is_dump());
    }

    // ---- round-trip properties -------------------------------------------------------

    /// A word that can stand alone on the first line: no space, quote, newline or NUL.
    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_./:+@=,%\\\\\t-]{1,12}|[a-zé✓\u{10348}]{1,6}"
    }

    fn datestamp() -> impl Strategy<Value = String> {
        prop_oneof![Just("X".to_owned()), "[0-9]{8}", "[0-9]{14}"]
    }

    fn disk_name() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-zA-Z0-9/_.-]{1,8}",
            Just(" ".to_owned()),
            Just("  ".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\\\"".to_owned()),
            Just("\\101".to_owned()),
            Just(":".to_owned()),
            Just("'".to_owned()),
            "[\t\n\r\x0c\x0b\x01\x7f]",
            "[äöüé日本語✓]{1,3}",
        ];
        proptest::collection::vec(piece, 0..8)
            .prop_map(|pieces| pieces.concat())
            .prop_filter("fits Amanda's string_t", |disk| disk.len() <= MAX_FIELD_BYTES)
    }

    /// A value written as the rest of a line: anything but newline and NUL.
    fn line_value() -> impl Strategy<Value = String> {
        "[^\n\x00]{1,30}"
    }

    /// Restore-pipeline stage as the parser hands it back: trimmed, no `|`, nonempty.
    fn command() -> impl Strategy<Value = String> {
        "[a-z/]{1,8}( [a-z0-9-]{1,5}){0,2}"
    }

    fn dle() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[^\n\x00]{1,20}",
            Just("ENDDLE".to_owned()),
            Just("ENDDLE1".to_owned()),
            Just("  <disk>/a b</disk>".to_owned()),
            Just("\x0c".to_owned()),
        ];
        proptest::collection::vec(line, 0..6).prop_map(|lines| lines.join("\n"))
    }

    fn crc() -> impl Strategy<Value = Crc> {
        prop_oneof![
            Just(Crc::default()),
            (1u32.., 0u64..=i64::MAX as u64).prop_map(|(crc, size)| Crc { crc, size }),
        ]
    }

    fn optional<S: Strategy<Value = String>>(strategy: S) -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), strategy]
    }

    /// One of a server/client pair, or neither.
    fn server_or_client() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            Just((String::new(), String::new())),
            token().prop_map(|value| (value, String::new())),
            token().prop_map(|value| (String::new(), value)),
        ]
    }

    prop_compose! {
        fn dump_file()(
            file_type in prop_oneof![Just(FileType::File), Just(FileType::ContFile), Just(FileType::SplitFile)],
            datestamp in datestamp(),
            host in token(),
            disk in disk_name(),
            dump_level in 0i32..400,
            program in token().prop_filter("no .exe", |p| !p.to_ascii_lowercase().ends_with(".exe")),
            compression in optional(token().prop_filter("N and C are special", |s| s != "N" && s != "C")),
            encryption in optional(token().prop_filter("N means none", |s| !s.starts_with('N'))),
            (server_compress_program, client_compress_program) in server_or_client(),
            (server_encrypt_program, client_encrypt_program) in server_or_client(),
            (server_decrypt_option, client_decrypt_option) in server_or_client(),
            continuation_filename in optional(line_value()),
            application in optional(line_value()),
            dle_xml in proptest::option::of(dle()),
            is_partial in any::<bool>(),
            (part_number, total_parts) in (1i32..1000).prop_flat_map(|part| (Just(part), prop_oneof![Just(-1), part..2000])),
            original_size_kb in prop_oneof![Just(0u64), 0u64..=i64::MAX as u64],
            native_crc in crc(),
            client_crc in crc(),
            server_crc in crc(),
            part_crc in proptest::option::of(crc()),
            (decrypt_cmd, uncompress_cmd, recover_cmd) in prop_oneof![
                Just((String::new(), String::new(), String::new())),
                command().prop_map(|r| (String::new(), String::new(), r)),
                (command(), command()).prop_map(|(u, r)| (String::new(), format!("{u} |"), r)),
                (command(), command(), "[a-z]([a-z /|]{0,5}[a-z])?").prop_map(|(d, u, r)| (format!("{d} |"), format!("{u} |"), r)),
            ],
        ) -> DumpFile {
            let (part_number, total_parts) = match file_type {
                FileType::File => (1, 1),
                FileType::ContFile => (0, 0),
                _ => (part_number, total_parts),
            };
            DumpFile {
                file_type,
                datestamp,
                dump_level,
                compressed: !compression.is_empty(),
                encrypted: !encryption.is_empty(),
                compression_suffix: compression,
                encryption_suffix: encryption,
                host_or_label: host,
                disk,
                program,
                application,
                server_compress_program,
                client_compress_program,
                server_encrypt_program,
                client_encrypt_program,
                recover_cmd,
                uncompress_cmd,
                decrypt_cmd,
                server_decrypt_option,
                client_decrypt_option,
                continuation_filename,
                dle_xml,
                is_partial,
                part_number,
                total_parts,
                block_size_bytes: 0,
                original_size_kb,
                native_crc,
                client_crc,
                server_crc,
                part_crc,
            }
        }
    }

    proptest! {
        #[test]
        fn dump_headers_round_trip(file in dump_file(), block_size_kb in prop_oneof![Just(0usize), Just(32), Just(256)]) {
            let mut written = file.clone();
            written.block_size_bytes = block_size_kb * 1024;
            let block = build_header(&written, DISK_BLOCK_BYTES).expect("builds");
            prop_assert_eq!(block.len(), DISK_BLOCK_BYTES);
            let text_bytes = block.iter().position(|&b| b == 0).unwrap();
            prop_assert!(block[..text_bytes].ends_with(HEADER_TERMINATOR));
            prop_assert!(block[text_bytes..].iter().all(|&b| b == 0));
            let back = parse_header(&block).expect("parses");
            prop_assert_eq!(&back, &file);
            // Building what we parsed gives the same bytes (bs= aside).
            prop_assert_eq!(build_header(&back, DISK_BLOCK_BYTES).unwrap(), build_header(&file, DISK_BLOCK_BYTES).unwrap());
        }

        #[test]
        fn volume_marks_round_trip(datestamp in datestamp(), label in token(), which in 0..3) {
            let file = match which {
                0 => DumpFile::new_tapestart(&datestamp, &label).unwrap(),
                1 => DumpFile::new_tapeend(&datestamp).unwrap(),
                _ => DumpFile::new_noop(),
            };
            let block = build_header(&file, DISK_BLOCK_BYTES).unwrap();
            prop_assert_eq!(parse_header(&block).unwrap(), file);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let strict = parse_header(&bytes);
            let lenient = parse_header_lenient(&bytes);
            if let Ok(file) = strict {
                prop_assert_eq!(&file, &lenient);
            }
            let _ = summarize_header(&lenient);
        }

        #[test]
        fn parsing_mutated_headers_is_stable(
            seed in dump_file(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut block = build_header(&seed, 2048 + 4096).unwrap();
            let text_bytes = block.iter().position(|&b| b == 0).unwrap();
            for (index, byte) in edits {
                block[index.index(text_bytes)] = byte;
            }
            // Whatever parses must rebuild into a header that parses to the same thing.
            if let Ok(file) = parse_header(&block) {
                if let Ok(rebuilt) = build_header(&file, DISK_BLOCK_BYTES) {
                    let again = parse_header(&rebuilt).expect("rebuilt header parses");
                    prop_assert_eq!(build_header(&again, DISK_BLOCK_BYTES).unwrap(), rebuilt);
                }
            }
        }
    }
}
