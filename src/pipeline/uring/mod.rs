//! The one module allowed unsafe code: page-aligned buffers ([`buf`]), io_uring file I/O
//! ([`ring`], with safe wrappers in [`file`]) and the st tape ioctls ([`st`]).
//!
//! The crate denies `unsafe_code`; each file here opts back in with
//! `#![allow(unsafe_code)]` and puts a `// SAFETY:` note on every unsafe block. Everything
//! exported from here is a safe function.

pub mod buf;
pub mod file;
pub mod ring;
pub mod st;
