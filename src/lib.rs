//! amrs: an Amanda-compatible backup system; this file is the map of its modules.
//!
//! Control plane: `config` (amanda.conf, disklist and the client-side files) and `cli`
//! (one module per tool). Data plane: `pipeline` (source → compress/encrypt workers →
//! chunker/taper, external filters, the follower that tapes a dump while it is written,
//! io_uring I/O) and `device` (volumes and their queued writer). `format` holds the
//! on-volume formats shared by both planes.

pub mod catalog; // tapelist (later logs, curinfo, indexes); atomic rewrites
pub mod cli; // the tools: argument parsing, calling the library, exit codes
pub mod cmdline; // host/disk/datestamp/level/glob/label matching (match.c) and dumpspecs (cmdline.c)
pub mod config; // amanda.conf(5), disklist(5), amanda-client.conf, security files
pub mod device; // volumes: the Device trait, file:/tape:/null: devices, the queued file writer, changers
pub mod format; // Amanda 3.5 on-volume formats: 32 KiB header blocks; encode/decode, no I/O
pub mod holding; // holding-disk files: reading and checking chunk chains (pipeline::chunker writes them)
pub mod pipeline; // the streaming data path; pipeline::uring is the one module allowed unsafe
