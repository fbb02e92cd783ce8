//! `duoprov dct …`

use clap::Subcommand;

use crate::output::Ctx;

#[derive(Subcommand, Debug)]
pub enum DctCommand {}

pub fn run(cmd: DctCommand, _ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {}
}
