//! A refused mapping says why when the gateway's own external address shows it: behind a
//! second NAT (miniupnpd with a private WAN address refuses every PCP mapping with
//! NO_RESOURCES), `map` names the double NAT, not only the result code. In-process.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use nat_traversal::{
    Error, MapRequest, Mapping, Nat, NatOptions, NatTechnique, Protocol, Result, Technique,
    async_trait,
};

/// Refuses every mapping; reports `external` as its external address.
#[derive(Debug)]
struct Refusing {
    external: IpAddr,
}

#[async_trait]
impl NatTechnique for Refusing {
    fn kind(&self) -> Technique {
        Technique::Pcp
    }

    fn gateway(&self) -> IpAddr {
        [127, 0, 0, 1].into()
    }

    async fn external_address(&self) -> Result<IpAddr> {
        Ok(self.external)
    }

    async fn map(&self, _request: &MapRequest) -> Result<Mapping> {
        Err(Error::other(Technique::Pcp, "NO_RESOURCES (8)"))
    }

    async fn refresh(&self, _mapping: &Mapping, _lifetime: Duration) -> Result<Mapping> {
        Err(Error::other(Technique::Pcp, "NO_RESOURCES (8)"))
    }

    async fn unmap(&self, _mapping: &Mapping) -> Result<()> {
        Ok(())
    }
}

fn nat(external: [u8; 4]) -> Nat {
    Nat::with_techniques(
        NatOptions::default(),
        vec![Arc::new(Refusing {
            external: external.into(),
        }) as Arc<dyn NatTechnique>],
    )
}

#[tokio::test]
async fn a_refusal_behind_a_second_nat_names_it() {
    let error = nat([10, 0, 0, 2])
        .map(&MapRequest::new(Protocol::Tcp, 8080))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::RefusedBehindNat { external_address, .. } if *external_address == IpAddr::from([10, 0, 0, 2])),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("NO_RESOURCES"), "{message}");
    assert!(message.contains("double NAT"), "{message}");
    let cgnat = nat([100, 64, 1, 2])
        .map(&MapRequest::new(Protocol::Tcp, 8080))
        .await
        .unwrap_err();
    assert!(cgnat.to_string().contains("carrier-grade NAT"), "{cgnat}");
}

#[tokio::test]
async fn a_refusal_at_a_public_gateway_is_only_the_refusal() {
    let error = nat([44, 0, 0, 1])
        .map(&MapRequest::new(Protocol::Tcp, 8080))
        .await
        .unwrap_err();
    assert!(!matches!(error, Error::RefusedBehindNat { .. }), "{error}");
    assert!(error.to_string().contains("NO_RESOURCES"), "{error}");
}
