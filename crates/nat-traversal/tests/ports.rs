//! Operations by port (`Nat::unmap_port`, `unmap_all`, `list`, one-shot `map`) against a
//! fake router whose one table is shared by PCP, NAT-PMP and UPnP, with miniupnpd's rules
//! for who may delete what: PCP only what its own nonce made (NOT_AUTHORIZED otherwise),
//! NAT-PMP only what NAT-PMP made (and its answer never says), UPnP any of this host's.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nat_traversal::{
    Error, MapRequest, Mapping, Nat, NatOptions, NatTechnique, Protocol, Result, TableEntry,
    TableHost, Technique, Unmapped, async_trait,
};

type Table = Arc<Mutex<BTreeMap<(Protocol, u16), Technique>>>;

#[derive(Debug)]
struct Router {
    kind: Technique,
    table: Table,
    /// Techniques that are not there at all.
    gone: bool,
    asked: Arc<Mutex<Vec<Technique>>>,
}

fn router(
    techniques: &[Technique],
    gone: &[Technique],
) -> (Nat, Table, Arc<Mutex<Vec<Technique>>>) {
    let table: Table = Arc::default();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let techniques: Vec<Arc<dyn NatTechnique>> = techniques
        .iter()
        .map(|&kind| {
            Arc::new(Router {
                kind,
                table: Arc::clone(&table),
                gone: gone.contains(&kind),
                asked: Arc::clone(&asked),
            }) as Arc<dyn NatTechnique>
        })
        .collect();
    let options = NatOptions::default()
        .with_preference(Technique::ALL)
        .with_probe_timeout(Duration::from_millis(200));
    (Nat::with_techniques(options, techniques), table, asked)
}

impl Router {
    fn check(&self) -> Result<()> {
        self.asked.lock().unwrap().push(self.kind);
        if self.gone {
            return Err(Error::OperationTimedOut {
                technique: self.kind,
                operation: "fake".into(),
                timeout: Duration::from_millis(100),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl NatTechnique for Router {
    fn kind(&self) -> Technique {
        self.kind
    }

    fn gateway(&self) -> IpAddr {
        [127, 0, 0, 1].into()
    }

    async fn external_address(&self) -> Result<IpAddr> {
        self.check()?;
        Ok([44, 0, 0, 1].into())
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.check()?;
        self.table
            .lock()
            .unwrap()
            .insert((request.protocol(), request.internal_port()), self.kind);
        Ok(Mapping::new(
            self.kind,
            request.protocol(),
            request.internal_port(),
            SocketAddr::new([44, 0, 0, 1].into(), request.internal_port()),
            request.lifetime(),
        ))
    }

    async fn refresh(&self, mapping: &Mapping, _lifetime: Duration) -> Result<Mapping> {
        self.check()?;
        Ok(mapping.clone())
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        self.check()?;
        self.table
            .lock()
            .unwrap()
            .remove(&(mapping.protocol, mapping.internal_port));
        Ok(())
    }

    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        self.check()?;
        let mut table = self.table.lock().unwrap();
        let key = (protocol, internal_port);
        // As the protocols answer: NAT-PMP's answer and PCP's SUCCESS are the same whether
        // or not there was a mapping; PCP refuses another client's mapping; UPnP can tell.
        Ok(match (self.kind, table.get(&key).copied()) {
            (Technique::NatPmp, Some(Technique::NatPmp)) => {
                table.remove(&key);
                Unmapped::CannotTell
            }
            (Technique::NatPmp, _) => Unmapped::CannotTell,
            (Technique::Pcp, Some(maker)) if maker != Technique::Pcp => Unmapped::Refused {
                error: Error::other(Technique::Pcp, "NOT_AUTHORIZED"),
            },
            (Technique::Pcp, maker) => {
                if maker.is_some() {
                    table.remove(&key);
                }
                Unmapped::CannotTell
            }
            (_, None) => Unmapped::NotThere,
            (_, Some(_)) => {
                table.remove(&key);
                Unmapped::Removed { count: None }
            }
        })
    }

    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        self.check()?;
        let mut table = self.table.lock().unwrap();
        Ok(match self.kind {
            Technique::Upnp => {
                let before = table.len();
                table.retain(|(p, _), _| *p != protocol);
                Unmapped::Removed {
                    count: Some(before - table.len()),
                }
            }
            Technique::NatPmp => {
                table.retain(|(p, _), maker| *p != protocol || *maker != Technique::NatPmp);
                Unmapped::CannotTell
            }
            Technique::Pcp | Technique::Other(_) => Unmapped::Refused {
                error: Error::other(self.kind, "NO_RESOURCES"),
            },
        })
    }

    async fn list(&self) -> Result<Vec<TableEntry>> {
        self.check()?;
        if self.kind != Technique::Upnp {
            return Err(Error::Unsupported {
                technique: self.kind,
                what: "list".into(),
            });
        }
        Ok(self
            .table
            .lock()
            .unwrap()
            .keys()
            .map(|&(protocol, port)| TableEntry {
                technique: Technique::Upnp,
                protocol,
                external_address: None,
                external_port: port,
                internal_client: TableHost::parse("192.168.77.10"),
                internal_port: port,
                description: String::new(),
                lifetime: Duration::ZERO,
                enabled: true,
                remote_host: None,
                on_default_gateway: true,
            })
            .collect())
    }
}

const ALL: [Technique; 3] = [Technique::Pcp, Technique::NatPmp, Technique::Upnp];

#[tokio::test]
async fn a_upnp_mapping_is_removed_by_port_whoever_asks() {
    let (nat, table, _) = router(&ALL, &[]);
    table
        .lock()
        .unwrap()
        .insert((Protocol::Tcp, 8095), Technique::Upnp);
    let report = nat.unmap_port(Protocol::Tcp, 8095).await.unwrap();
    assert_eq!(report.removed_by().collect::<Vec<_>>(), [Technique::Upnp]);
    assert!(table.lock().unwrap().is_empty());
    assert_eq!(report.removed_count(), Some(1));
}

#[tokio::test]
async fn a_nat_pmp_mapping_is_deleted_and_nothing_claims_more_than_the_answers_say() {
    // Without UPnP, no answer can tell: PCP refuses another client's mapping, NAT-PMP
    // deletes it and cannot say so. Nothing reads as "removed".
    let (nat, table, asked) = router(&[Technique::Pcp, Technique::NatPmp], &[]);
    table
        .lock()
        .unwrap()
        .insert((Protocol::Udp, 9000), Technique::NatPmp);
    let report = nat.unmap_port(Protocol::Udp, 9000).await.unwrap();
    assert!(table.lock().unwrap().is_empty());
    assert!(!report.removed(), "{report}");
    assert!(report.cannot_tell() && !report.verified(), "{report}");
    assert_eq!(report.removed_count(), None);
    assert_eq!(
        report.refusals().count(),
        1,
        "PCP's refusal is reported: {report}"
    );
    assert_eq!(*asked.lock().unwrap(), [Technique::Pcp, Technique::NatPmp]);
}

#[tokio::test]
async fn deleting_what_is_not_there_succeeds_and_says_so() {
    let (nat, _, _) = router(&ALL, &[]);
    let report = nat.unmap_port(Protocol::Tcp, 1234).await.unwrap();
    assert!(!report.removed());
    assert!(report.verified(), "PCP and UPnP can tell: {report}");
    assert_eq!(report.removed_count(), Some(0));
    // NAT-PMP alone cannot tell, and says so.
    let (nat, _, _) = router(&[Technique::NatPmp], &[]);
    let report = nat.unmap_port(Protocol::Tcp, 1234).await.unwrap();
    assert!(!report.removed() && !report.verified());
}

#[tokio::test]
async fn what_this_nat_made_is_deleted_through_its_maker_alone() {
    let (nat, table, asked) = router(&ALL, &[]);
    let mapping = nat
        .map(&MapRequest::new(Protocol::Tcp, 7000))
        .await
        .unwrap();
    assert_eq!(mapping.technique, Technique::Pcp);
    asked.lock().unwrap().clear();
    let report = nat.unmap_port(Protocol::Tcp, 7000).await.unwrap();
    // PCP accepted the deletion; its answer cannot tell more, and nobody else is asked.
    assert!(report.cannot_tell() && !report.removed(), "{report}");
    assert_eq!(*asked.lock().unwrap(), [Technique::Pcp]);
    assert!(table.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_mapping_nobody_may_delete_is_an_error_that_says_why() {
    // Made by UPnP, but only PCP is allowed: PCP sees it and may not delete it.
    let (nat, table, _) = router(&[Technique::Pcp], &[]);
    table
        .lock()
        .unwrap()
        .insert((Protocol::Tcp, 8095), Technique::Upnp);
    let error = nat.unmap_port(Protocol::Tcp, 8095).await.unwrap_err();
    assert!(matches!(error, Error::NotRemoved { .. }), "{error}");
    assert!(error.to_string().contains("NOT_AUTHORIZED"), "{error}");
}

#[tokio::test]
async fn no_technique_answering_is_no_technique_available() {
    let (nat, _, _) = router(&ALL, &ALL);
    let error = nat.unmap_port(Protocol::Tcp, 80).await.unwrap_err();
    assert!(
        matches!(error, Error::NoTechniqueAvailable { .. }),
        "{error}"
    );
    // A technique that is gone is skipped when another answers.
    let (nat, table, _) = router(&ALL, &[Technique::Upnp]);
    table
        .lock()
        .unwrap()
        .insert((Protocol::Tcp, 80), Technique::Pcp);
    let report = nat.unmap_port(Protocol::Tcp, 80).await.unwrap();
    assert!(report.cannot_tell() && !report.removed(), "{report}");
    assert!(table.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unmap_all_counts_through_upnp_first() {
    let (nat, table, asked) = router(&ALL, &[]);
    {
        let mut table = table.lock().unwrap();
        table.insert((Protocol::Udp, 1), Technique::Pcp);
        table.insert((Protocol::Udp, 2), Technique::NatPmp);
        table.insert((Protocol::Udp, 3), Technique::Upnp);
        table.insert((Protocol::Tcp, 4), Technique::Upnp);
    }
    let report = nat.unmap_all(Protocol::Udp).await.unwrap();
    assert_eq!(asked.lock().unwrap()[0], Technique::Upnp);
    assert_eq!(report.removed_count(), Some(3));
    assert_eq!(table.lock().unwrap().len(), 1, "the TCP mapping stays");
    // PCP alone refuses delete-all: an error, not a silent success.
    let (nat, _, _) = router(&[Technique::Pcp], &[]);
    let error = nat.unmap_all(Protocol::Udp).await.unwrap_err();
    assert!(matches!(error, Error::NotRemoved { .. }), "{error}");
}

#[tokio::test]
async fn listing_goes_to_the_technique_that_can() {
    let (nat, table, _) = router(&ALL, &[]);
    table
        .lock()
        .unwrap()
        .insert((Protocol::Tcp, 4), Technique::Pcp);
    let listed = nat.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].external_port, 4);
}
