//! The one module allowed unsafe code: io_uring (coming with the data-path issue) and the
//! st tape ioctls ([`st`]).
//!
//! The crate denies `unsafe_code`; each file here opts back in with
//! `#![allow(unsafe_code)]` and puts a `// SAFETY:` note on every unsafe block. Everything
//! exported from here is a safe function.

pub mod buf;
pub mod file;
pub mod ring;
pub mod st;
