//! The tokio driver against a real STUN server: coturn on 127.0.0.1 and 127.0.0.2 (ports
//! 3478 and 3479, so RFC 5780 works) inside a private network namespace that has nothing
//! but loopback. No NAT there: the server sees the socket's own address, filtering lets
//! everything in, and the socket reaches itself. Needs root and coturn's `turnserver`;
//! skips without them unless `CI` is set.
#![cfg(target_os = "linux")]
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stun::tokio::{binding_tcp, discover};
use stun::{DiscoveryConfig, FilteringBehaviour, MappingBehaviour};

const PRIMARY: &str = "127.0.0.1:3478";
const ALTERNATE: &str = "127.0.0.2:3479";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// coturn in the calling thread's network namespace; killed on drop.
struct Coturn {
    child: Child,
    dir: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn turnserver() -> Option<PathBuf> {
    [
        "/usr/bin/turnserver",
        "/usr/sbin/turnserver",
        "/usr/local/bin/turnserver",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn can_run(test: &str) -> Option<PathBuf> {
    let reason = if !nix::unistd::geteuid().is_root() {
        "not root"
    } else if let Some(path) = turnserver() {
        return Some(path);
    } else {
        "turnserver (Debian package coturn) is not installed"
    };
    if std::env::var_os("CI").is_some() {
        panic!("{test}: cannot run and CI is set: {reason}");
    }
    eprintln!("skipping {test}: {reason}");
    None
}

/// Runs `f` on a thread of its own in a new network namespace with loopback up and
/// coturn listening, on a current-thread runtime (its sockets live in that namespace).
fn in_private_namespace<F, Fut>(turnserver: PathBuf, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let thread = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip");
        assert!(up.success(), "loopback up");
        let dir = std::env::temp_dir().join(format!("natkit-coturn-{}", std::process::id()));
        let dir = dir.join(format!("{:?}", std::thread::current().id()).replace(['(', ')'], ""));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let child = Command::new(turnserver)
            .args(["-n", "-L", "127.0.0.1", "-L", "127.0.0.2"])
            .args(["--listening-port", "3478", "--alt-listening-port", "3479"])
            .args(["--stun-only", "--no-tls", "--no-dtls", "--no-cli"])
            .args(["--simple-log", "--no-stdout-log"])
            .args(["--userdb", &path("turndb"), "--log-file", &path("turn.log")])
            .args(["--pidfile", &path("turn.pid")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver starts");
        let _coturn = Coturn { child, dir };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            wait_until_answering().await;
            f().await;
        });
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Asks until coturn answers over UDP and TCP, for at most 10 s.
async fn wait_until_answering() {
    let give_up = Instant::now() + Duration::from_secs(10);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("socket");
    let config = DiscoveryConfig::address_only().with_budget(Duration::from_millis(200));
    loop {
        let udp = discover(&socket, addr(PRIMARY), config).await.is_ok();
        let tcp = binding_tcp(addr(PRIMARY), None, Duration::from_millis(200))
            .await
            .is_ok();
        if udp && tcp {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "coturn did not answer within 10 s"
        );
        // Not a synchronisation sleep: the server is polled until it answers.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn discovery_against_coturn_on_loopback_sees_no_nat_in_two_round_trips() {
    let Some(turnserver) = can_run("discovery_against_coturn_on_loopback") else {
        return;
    };
    in_private_namespace(turnserver, || async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("socket");
        let local = socket.local_addr().expect("local address");
        for run in 0..10 {
            // Every other run also tests that an unsolicited datagram reaches the socket:
            // one more request.
            let unsolicited = run % 2 == 1;
            let config = DiscoveryConfig::default().with_unsolicited(unsolicited);
            let report = discover(&socket, addr(PRIMARY), config)
                .await
                .expect("coturn answers");
            assert_eq!(report.mapped, local);
            assert_eq!(report.other_address, Some(addr(ALTERNATE)));
            assert_eq!(report.mapping, Some(MappingBehaviour::EndpointIndependent));
            assert_eq!(
                report.filtering,
                Some(FilteringBehaviour::EndpointIndependent)
            );
            assert_eq!(report.unsolicited_arrived, unsolicited.then_some(true));
            assert_eq!(report.hairpinning, Some(true));
            let requests = if unsolicited { 6 } else { 5 };
            assert_eq!((report.round_trips, report.requests), (2, requests));
            assert!(
                report.elapsed < Duration::from_millis(500),
                "{:?}",
                report.elapsed
            );
        }
    });
}

#[test]
fn binding_over_tcp_against_coturn_gives_the_connections_address() {
    let Some(turnserver) = can_run("binding_over_tcp_against_coturn") else {
        return;
    };
    in_private_namespace(turnserver, || async {
        let local = addr("127.0.0.1:0");
        let answer = binding_tcp(addr(PRIMARY), Some(local), Duration::from_secs(1))
            .await
            .expect("coturn answers over tcp");
        assert_eq!(answer.mapped.ip(), local.ip());
        assert_ne!(answer.mapped.port(), 0);
        assert_eq!(answer.other_address, Some(addr(ALTERNATE)));
        // A server nobody listens on: the budget ends the wait.
        let started = Instant::now();
        let error = binding_tcp(addr("127.0.0.1:9"), None, Duration::from_millis(300))
            .await
            .expect_err("nothing listens");
        assert!(started.elapsed() < Duration::from_millis(600), "{error}");
    });
}

#[test]
fn silent_server_ends_within_the_budget() {
    let Some(turnserver) = can_run("silent_server_ends_within_the_budget") else {
        return;
    };
    in_private_namespace(turnserver, || async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("socket");
        let started = Instant::now();
        let config = DiscoveryConfig::default().with_budget(Duration::from_millis(400));
        let error = discover(&socket, addr("127.0.0.1:9"), config)
            .await
            .expect_err("nothing answers on port 9");
        assert!(error.is_no_answer(), "{error}");
        assert!(started.elapsed() < Duration::from_millis(600), "{error}");
    });
}
