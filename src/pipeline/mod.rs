//! The streaming data path: buffer pool, codecs, external filter programs, the resolver
//! from a dumptype to codec/programs/key and header fields, the staged pipeline, the
//! holding-disk chunker, the taper, and [`uring`], the one module allowed `unsafe`
//! (aligned buffers, io_uring file I/O, the st tape ioctls).

pub mod chunker;
pub mod codec;
pub mod filter;
pub mod follow;
pub mod pool;
pub mod resolve;
pub mod run;
pub mod synthetic;
pub mod taper;
pub mod uring;
pub mod uring_source;
