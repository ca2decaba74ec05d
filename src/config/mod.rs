//! Configuration: amanda.conf(5) and amanda-client.conf(5) (`parser`), disklist(5)
//! (`disklist`), amanda-security.conf and .amandahosts (`security`), the tables
//! (`tables`, generated), typed values and amgetconf's display rules (`value`).

pub mod disklist;
pub mod parser;
pub mod security;
pub mod tables;
pub mod value;

pub use parser::{
    load_client, load_server, parse_bytes, parse_text, Config, ConfigSource, Level, Override, Section,
    SectionKind,
};
pub use value::{Val, Value};
