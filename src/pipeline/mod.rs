//! The streaming data path (buffer pool, stages, io_uring I/O); today only the unsafe
//! boundary module [`uring`], which the device layer uses for the st tape ioctls.

pub mod chunker;
pub mod codec;
pub mod pool;
pub mod run;
pub mod synthetic;
pub mod taper;
pub mod uring;
