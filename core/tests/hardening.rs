//! Issue 13's rules, each tested through the real `duoprov` binary: one
//! module per rule (or group of rules), all in one test crate so the suite
//! links once.

#![cfg(feature = "cli")]

mod common;

#[path = "hardening/recorded.rs"]
mod recorded;
#[path = "hardening/rule15_cloud_replies.rs"]
mod rule15_cloud_replies;
#[path = "hardening/serve.rs"]
mod serve;

#[path = "hardening/accounts.rs"]
mod accounts;
#[path = "hardening/rule01_02_outputs.rs"]
mod rule01_02_outputs;
#[path = "hardening/rule04_keys.rs"]
mod rule04_keys;
#[path = "hardening/rule05_11_output.rs"]
mod rule05_11_output;
#[path = "hardening/rule06_interrupt.rs"]
mod rule06_interrupt;
#[path = "hardening/rule07_13_inputs.rs"]
mod rule07_13_inputs;
#[path = "hardening/rule08_12_messages.rs"]
mod rule08_12_messages;
#[path = "hardening/rule09_loopback.rs"]
mod rule09_loopback;
#[path = "hardening/rule10_14_cli.rs"]
mod rule10_14_cli;
