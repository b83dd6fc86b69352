//! The subcommands of `earsight-tools` that live in files of their own (one file each, as
//! tract's `cli/src/`); the rest are still in `main.rs`.

pub mod board;
pub mod teacher;
