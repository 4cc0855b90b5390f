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

/// Refuses with a PCP error answer whose lifetime asks for 30 s before trying again.
#[derive(Debug, Default)]
struct AsksToWait {
    attempts: std::sync::Mutex<Vec<tokio::time::Instant>>,
}

impl AsksToWait {
    fn refusal(&self) -> Error {
        self.attempts
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        natpmp_proto::tokio::ClientError::Refused {
            gateway: "127.0.0.1:5351".parse().unwrap(),
            operation: "TCP mapping of port 8080".into(),
            code: natpmp_proto::AnyResultCode::Pcp(natpmp_proto::pcp::ResultCode::NoResources),
            retry_after: Some(Duration::from_secs(30)),
        }
        .into()
    }
}

#[async_trait]
impl NatTechnique for AsksToWait {
    fn kind(&self) -> Technique {
        Technique::Pcp
    }

    fn gateway(&self) -> IpAddr {
        [127, 0, 0, 1].into()
    }

    async fn external_address(&self) -> Result<IpAddr> {
        Ok([44, 0, 0, 1].into())
    }

    async fn map(&self, _request: &MapRequest) -> Result<Mapping> {
        Err(self.refusal())
    }

    async fn refresh(&self, _mapping: &Mapping, _lifetime: Duration) -> Result<Mapping> {
        Err(self.refusal())
    }

    async fn unmap(&self, _mapping: &Mapping) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_kept_mapping_waits_as_long_as_the_error_answer_asks() {
    let technique = Arc::new(AsksToWait::default());
    let nat = Nat::with_techniques(
        NatOptions::default().with_retry(Duration::from_secs(1), Duration::from_secs(60)),
        vec![Arc::clone(&technique) as Arc<dyn NatTechnique>],
    );
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .start()
        .await
        .unwrap();
    assert_eq!(
        mapping.last_error().unwrap().retry_after(),
        Some(Duration::from_secs(30))
    );
    tokio::time::sleep(Duration::from_secs(65)).await;
    let attempts = technique.attempts.lock().unwrap().clone();
    assert!(attempts.len() >= 2, "{attempts:?}");
    for pair in attempts.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_secs(30),
            "tried again {:?} after an answer that asked for 30 s",
            pair[1] - pair[0]
        );
    }
    drop(mapping);
}
