//! The fixture's nftables rules: a fixture placed on the lab's router makes its mappings
//! real by rewriting miniupnpd's chains (DNAT and accept) from its table in one `nft -f`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Stdio;

use super::engine::{Engine, Table};
use super::igd::{ACTION_FAILED, Fault};
use crate::error::{LabError, Result, io_err};

impl Engine {
    /// Makes the router's rules match `table`.
    pub(super) async fn commit(&self, table: Table) -> std::result::Result<(), Fault> {
        if !self.placement.forwards {
            return Ok(());
        }
        self.apply_rules(&table).await.map_err(|e| {
            tracing::warn!(error = %e, "fixture could not write its nftables rules");
            ACTION_FAILED
        })
    }

    /// Rewrites the miniupnpd chains of the router's ruleset from `table` in one `nft -f`.
    pub(super) async fn apply_rules(&self, table: &Table) -> Result<()> {
        let mut script = String::from(
            "flush chain inet filter prerouting_miniupnpd\nflush chain inet filter miniupnpd\n",
        );
        for ((protocol, external), entry) in table {
            let wan = crate::router::WAN_INTERFACE;
            let _ = writeln!(
                script,
                "add rule inet filter prerouting_miniupnpd iifname \"{wan}\" {p} dport {external} dnat ip to {client}:{port}\n\
                 add rule inet filter miniupnpd iifname \"{wan}\" ip daddr {client} {p} dport {port} accept",
                p = protocol.nft(),
                client = entry.internal_client,
                port = entry.internal_port,
            );
        }
        let host = self.placement.host.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut child = host
                .command("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(io_err("cannot run nft"))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(script.as_bytes())
                    .map_err(io_err("cannot write to nft"))?;
            }
            let output = child
                .wait_with_output()
                .map_err(io_err("cannot wait for nft"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(LabError::Command {
                    command: format!("nft -f - <<{script}"),
                    detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                })
            }
        })
        .await
        .map_err(|e| LabError::Invalid(format!("the nft task failed: {e}")))?
    }
}
