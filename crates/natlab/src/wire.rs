//! An impairable LAN link: two TAP devices joined by a userspace wire that drops and delays
//! frames.
//!
//! `tc netem` would be the usual tool, but kernels built without `CONFIG_NET_SCH_NETEM` (like
//! the VMs CI runs on) lack it, and nftables can drop but not delay. So when a lab asks for an
//! impairable link, the LAN host's `eth0` and the router's `lan0` are TAP devices, and two
//! threads per direction copy frames between them, dropping each with the configured
//! probability and holding the rest for the configured delay (order is kept).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

const TICK: Duration = Duration::from_millis(50);

/// Opens a new TAP device named `name` in the calling thread's network namespace.
///
/// The device lives as long as the returned file is open.
pub(crate) fn open_tap(name: &str) -> std::io::Result<File> {
    open_tun_device(name, libc::IFF_TAP)
}

/// Opens a new TUN device (layer 3: reads and writes bare IP packets) named `name` in the
/// calling thread's network namespace, for the lab's VPN tunnel.
///
/// The device lives as long as the returned file is open.
pub(crate) fn open_tun(name: &str) -> std::io::Result<File> {
    open_tun_device(name, libc::IFF_TUN)
}

/// `kind` is `IFF_TAP` or `IFF_TUN`; frames carry no packet information header.
#[allow(unsafe_code)]
fn open_tun_device(name: &str, kind: libc::c_int) -> std::io::Result<File> {
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    // _IOW('T', 202, int): the kernel's TUNSETIFF request number.
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (kind | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    request.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq` (40 bytes: a 16-byte name, then a
    // union whose first member is the short flags) through the pointer. `request` has that
    // layout and size, is fully initialised, and outlives the call; the fd is open.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut request as *mut IfReq) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Loss and delay applied to a wire, adjustable while it runs.
#[derive(Debug, Default)]
struct Impairment {
    loss_per_million: AtomicU32,
    delay_micros: AtomicU64,
}

/// A running wire between two TAP devices. Dropping it stops the threads (and so the link).
#[derive(Debug)]
pub(crate) struct Wire {
    stop: Arc<AtomicBool>,
    impairment: Arc<Impairment>,
    threads: Vec<JoinHandle<()>>,
}

impl Wire {
    /// Starts copying frames between `a` and `b` in both directions.
    pub(crate) fn start(a: File, b: File) -> Wire {
        let stop = Arc::new(AtomicBool::new(false));
        let impairment = Arc::new(Impairment::default());
        let a = Arc::new(a);
        let b = Arc::new(b);
        let mut threads = Vec::new();
        for (from, to, seed) in [(a.clone(), b.clone(), 1u64), (b, a, 2u64)] {
            let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
            let (stop_r, stop_w) = (stop.clone(), stop.clone());
            let impairment = impairment.clone();
            threads.push(std::thread::spawn(move || {
                read_side(&from, &sender, &stop_r, &impairment, seed)
            }));
            threads.push(std::thread::spawn(move || {
                write_side(&to, &receiver, &stop_w)
            }));
        }
        Wire {
            stop,
            impairment,
            threads,
        }
    }

    /// Sets the loss (percent, both directions) and the one-way delay.
    pub(crate) fn impair(&self, loss_percent: f64, delay: Duration) {
        let per_million = (loss_percent.clamp(0.0, 100.0) * 10_000.0).round() as u32;
        self.impairment
            .loss_per_million
            .store(per_million, Ordering::Relaxed);
        self.impairment
            .delay_micros
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn read_side(
    from: &File,
    sender: &mpsc::Sender<(Instant, Vec<u8>)>,
    stop: &AtomicBool,
    impairment: &Impairment,
    seed: u64,
) {
    let mut random = XorShift::new(seed);
    let mut buffer = vec![0u8; 65_536];
    let mut from_reader = from;
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(TICK.as_millis() as u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let length = match from_reader.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let loss = impairment.loss_per_million.load(Ordering::Relaxed);
        if loss > 0 && (random.next() % 1_000_000) < u64::from(loss) {
            continue;
        }
        let delay = Duration::from_micros(impairment.delay_micros.load(Ordering::Relaxed));
        if sender
            .send((Instant::now() + delay, buffer[..length].to_vec()))
            .is_err()
        {
            return;
        }
    }
}

fn write_side(to: &File, receiver: &mpsc::Receiver<(Instant, Vec<u8>)>, stop: &AtomicBool) {
    let mut to_writer = to;
    while !stop.load(Ordering::Relaxed) {
        let (due, frame) = match receiver.recv_timeout(TICK) {
            Ok(item) => item,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // A frame the far side cannot take (device down) is lost, like on a real wire.
        let _ = to_writer.write(&frame);
    }
}

/// A small, fast, good-enough generator for drop decisions.
struct XorShift(u64);

impl XorShift {
    fn new(salt: u64) -> XorShift {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        XorShift((nanos ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
