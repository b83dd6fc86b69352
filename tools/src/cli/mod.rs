//! The subcommands of `earsight-tools`, one file each (as tract's `cli/src/`): each holds its
//! flags and its `run`; `main.rs` only parses and dispatches. What several of them take is in
//! `common`.

pub mod bench_train;
pub mod board;
mod common;
pub mod decode;
pub mod eval;
pub mod export;
pub mod graft;
pub mod import;
pub mod init;
pub mod pseudo_label;
pub mod recipe;
pub mod score;
pub mod teacher;
pub mod tokenizer;
pub mod train;
pub mod world;
