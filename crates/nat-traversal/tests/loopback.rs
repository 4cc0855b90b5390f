//! Many persistent mappings over one real PCP client, against a fake PCP server on
//! 127.0.0.1 that grants short lifetimes and forgets what is not refreshed in time. Real
//! datagrams, no router: this checks the facade's own scaling to a thousand mappings on
//! short lifetimes, more than miniupnpd in the lab can refresh in time (each of its requests
//! rescans every rule it holds; the lab test holds a hundred against it).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nat_traversal::{MapRequest, Nat, NatOptions, NatTechnique, PmpTechnique, Protocol, Technique};
use natpmp_proto::pcp::{self, ResultCode};
use natpmp_proto::tokio::ClientConfig;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The fake server's table: (protocol number, internal port) -> (external port, expiry).
type Table = HashMap<(u8, u16), (u16, Instant)>;

struct FakePcpServer {
    port: u16,
    table: Arc<Mutex<Table>>,
    /// Mappings that expired before being refreshed.
    lapsed: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePcpServer {
    fn start(granted: Duration) -> FakePcpServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let table = Arc::new(Mutex::new(Table::new()));
        let lapsed = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (server_table, server_lapsed, server_stop) =
            (Arc::clone(&table), Arc::clone(&lapsed), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut buffer = [0u8; 1100];
            while !server_stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                {
                    let mut table = server_table.lock().unwrap();
                    let before = table.len();
                    table.retain(|_, (_, expires)| *expires > now);
                    *server_lapsed.lock().unwrap() += before - table.len();
                }
                let Ok((length, client)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let Ok(request) = pcp::Request::decode(&buffer[..length]) else {
                    continue;
                };
                let pcp::OpcodeData::Map(data) = request.data else {
                    continue;
                };
                let key = (data.protocol.to_u8(), data.internal_port);
                let lifetime = if request.lifetime == 0 {
                    server_table.lock().unwrap().remove(&key);
                    0
                } else {
                    let lifetime = Duration::from_secs(request.lifetime.into()).min(granted);
                    let external = if data.external_port == 0 {
                        data.internal_port
                    } else {
                        data.external_port
                    };
                    server_table
                        .lock()
                        .unwrap()
                        .insert(key, (external, Instant::now() + lifetime));
                    lifetime.as_secs() as u32
                };
                let epoch = started.elapsed().as_secs() as u32;
                let mut answer =
                    pcp::Response::answering(&request, ResultCode::Success, lifetime, epoch);
                if let pcp::ResponseData::Map(answer_data) = &mut answer.data {
                    answer_data.external_address = "::ffff:44.0.0.1".parse().unwrap();
                    if lifetime > 0 && answer_data.external_port == 0 {
                        answer_data.external_port = data.internal_port;
                    }
                }
                let _ = socket.send_to(&answer.encode().unwrap(), client);
            }
        });
        FakePcpServer {
            port,
            table,
            lapsed,
            stop,
            thread: Some(thread),
        }
    }

    fn live(&self) -> usize {
        self.table.lock().unwrap().len()
    }

    fn lapsed(&self) -> usize {
        *self.lapsed.lock().unwrap()
    }
}

impl Drop for FakePcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_persistent_mappings_share_one_client_and_never_lapse() {
    let server = FakePcpServer::start(Duration::from_secs(3));
    let config = ClientConfig {
        server_port: server.port,
        ..ClientConfig::interactive(Duration::from_secs(2))
    };
    let pcp = PmpTechnique::with_config(LOOPBACK, Technique::Pcp, config)
        .await
        .unwrap();
    let nat = Nat::with_techniques(
        NatOptions::default(),
        vec![Arc::new(pcp) as Arc<dyn NatTechnique>],
    );

    let starts = (0..1000u16).map(|i| {
        nat.persistent(
            MapRequest::new(Protocol::Udp, 20_000 + i).with_lifetime(Duration::from_secs(3)),
        )
        .start()
    });
    let mappings: Vec<_> = futures_util::future::join_all(starts)
        .await
        .into_iter()
        .map(|m| m.unwrap())
        .collect();
    assert!(
        mappings
            .iter()
            .all(|m| m.current().public_address().is_some()),
        "{:?}",
        mappings.iter().find_map(|m| m.last_error())
    );
    assert_eq!(server.live(), 1000);
    // Granted 3 s, refreshed every 1.5 s: 7 s is four refresh cycles.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            server.lapsed(),
            0,
            "a mapping lapsed after {:?}",
            started.elapsed()
        );
        assert_eq!(server.live(), 1000);
    }
    let sample = mappings[500].mapping().unwrap();
    assert_eq!(sample.external.to_string(), "44.0.0.1:20500");
    assert_eq!(sample.technique, Technique::Pcp);

    let stops = mappings.into_iter().map(|m| m.stop());
    for result in futures_util::future::join_all(stops).await {
        result.unwrap();
    }
    assert_eq!(server.live(), 0);
}
