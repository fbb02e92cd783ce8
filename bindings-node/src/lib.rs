//! Node.js binding of the duo-provisioning core (napi-rs).
//!
//! One file per core module, as the `tokenizers` bindings do: each converts
//! types at the edge and calls one core function; the core's errors become JS
//! `Error`s in [`error`]. There is no domain logic here: every `if` about
//! devices, keys or the cloud lives in `core/`.

// napi-derive registers exports only outside `cfg(test)`, so a test build
// (clippy --all-targets) sees every export as unused.
#![cfg_attr(test, allow(dead_code))]

mod cloud;
mod convert;
mod dct;
mod device;
mod error;
mod keys;
mod sim;
mod task;
