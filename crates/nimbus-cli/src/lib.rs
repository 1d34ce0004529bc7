//! The library half of the `nimbus` binary: the embedded bundler and code generation, shared by
//! `nimbus dev` and `nimbus deploy` and tested on their own.

pub mod bundle;
pub mod codegen;
