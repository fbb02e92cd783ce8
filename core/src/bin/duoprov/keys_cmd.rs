//! `duoprov keys …`

use clap::Subcommand;

use crate::output::Ctx;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {}

pub fn run(cmd: KeysCommand, _ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {}
}
