//! Issue 13's rules, each tested through the real `duoprov` binary: one
//! module per rule (or group of rules), all in one test crate so the suite
//! links once.

#![cfg(feature = "cli")]

mod common;

#[path = "hardening/recorded.rs"]
mod recorded;
#[path = "hardening/rule15_cloud_replies.rs"]
mod rule15_cloud_replies;
