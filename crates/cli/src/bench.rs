//! `txnchain bench …` (being written).

/// Benchmark arguments.
#[derive(clap::Args)]
pub struct BenchArgs {}

/// Runs a benchmark.
pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
