//! [`stable_nonce`]: PCP mapping nonces derived from this machine, the client address, the
//! protocol and the port, so another process of this host can renew or delete a mapping.

use std::net::IpAddr;
use std::sync::OnceLock;

use natpmp_proto::Nonce;

use crate::technique::Protocol;

/// The PCP nonce for this host's mapping of `protocol`/`port`, as
/// [`PmpTechnique`](crate::PmpTechnique) uses it:
/// the same in every process on this machine, for this client address, protocol and port.
///
/// Someone who can read the machine id can delete these mappings; on a LAN they could also
/// just watch the request go by, which is why RFC 6887 does not treat the nonce as a secret
/// from on-path hosts.
pub fn stable_nonce(client: IpAddr, protocol: Protocol, port: u16) -> Nonce {
    let material = format!(
        "nat-traversal-pcp-nonce|{}|{client}|{protocol}|{port}",
        machine_secret()
    );
    let first = fnv1a(0xcbf2_9ce4_8422_2325, material.as_bytes());
    let second = fnv1a(first ^ 0x9e37_79b9_7f4a_7c15, material.as_bytes());
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&first.to_le_bytes());
    bytes[8..].copy_from_slice(&second.to_le_bytes()[..4]);
    Nonce::new(bytes)
}

/// A value private to this machine and stable across processes: its machine id where the
/// system has one, else its host name.
fn machine_secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        [
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
            "/etc/hostid",
            "/etc/hostname",
        ]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|text| !text.is_empty())
        .or_else(|| {
            ["COMPUTERNAME", "HOSTNAME"]
                .iter()
                .find_map(|name| std::env::var(name).ok())
        })
        .unwrap_or_default()
    })
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_nonce_is_stable_and_distinct_per_port_and_protocol() {
        let client: IpAddr = [192, 168, 77, 10].into();
        let a = stable_nonce(client, Protocol::Tcp, 4000);
        assert_eq!(a, stable_nonce(client, Protocol::Tcp, 4000));
        assert_ne!(a, stable_nonce(client, Protocol::Tcp, 4001));
        assert_ne!(a, stable_nonce(client, Protocol::Udp, 4000));
        assert_ne!(
            a,
            stable_nonce([192, 168, 77, 11].into(), Protocol::Tcp, 4000)
        );
    }
}
