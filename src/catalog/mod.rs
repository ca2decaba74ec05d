//! The catalog: Amanda's record of volumes and dumps (`tapelist` today; logs, curinfo
//! and indexes arrive with amdump). Every write is atomic.

pub mod tapelist;
