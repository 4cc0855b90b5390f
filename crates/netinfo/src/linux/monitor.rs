//! Linux and Android: the change monitor's socket, a NETLINK_ROUTE socket that joined the
//! notification groups of links, IPv4 and IPv6 addresses and routes
//! (`NETLINK_ADD_MEMBERSHIP`).
//!
//! The socket needs a port id of its own: the kernel skips, when broadcasting its own
//! notifications (port id 0), a member whose port id is still 0. `bind(2)` gives it one;
//! where that is refused (Android 11 and later refuse it to apps) a first request does,
//! a route lookup of 127.0.0.1, whose answer is then not taken for a notification.
//!
//! Reading never blocks (`MSG_DONTWAIT`); the caller waits for the descriptor to become
//! readable (`poll(2)`, or tokio's `AsyncFd`). A receive buffer that overflowed
//! (`ENOBUFS`: the kernel dropped notifications) counts as a change.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::netlink;

/// `SOL_NETLINK` and its `NETLINK_ADD_MEMBERSHIP` option (`<linux/netlink.h>`).
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
/// The receive buffer of one read: notifications are a few hundred bytes each.
const DATAGRAM_CAPACITY: usize = 32 * 1024;
/// The most datagrams one drain reads, so a flood cannot hold the caller.
const MAX_DATAGRAMS: usize = 1024;

/// The subscribed socket.
#[derive(Debug)]
pub(crate) struct Monitor {
    /// Shared with tokio's registration of it, which must not outlive the descriptor.
    fd: Arc<OwnedFd>,
    /// The sequence number of the lookup that gave the socket its port id, where `bind`
    /// was refused, and that port id: the answer to skip.
    own_request: Option<(u32, u32)>,
}

impl Monitor {
    /// Opens the socket and joins the groups.
    #[allow(unsafe_code)]
    pub(crate) fn open() -> io::Result<Monitor> {
        // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // First the port id: a `bind` after joining would leave every group again.
        let own_request = if bind(&fd).is_ok() {
            None
        } else {
            Some(autobind(&fd)?)
        };
        for group in netlink::CHANGE_GROUPS {
            // SAFETY: the option value points to a live u32 of the length given.
            let result = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    NETLINK_ADD_MEMBERSHIP,
                    std::ptr::from_ref(&group).cast(),
                    4,
                )
            };
            if result < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Monitor {
            fd: Arc::new(fd),
            own_request,
        })
    }

    /// The descriptor, for a registration that keeps it open as long as it lives.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.fd)
    }

    /// Reads the notifications waiting: whether one tells of a change (or some were lost),
    /// and whether nothing is left to read (the bound on one drain was not reached).
    pub(crate) fn drain(&self) -> io::Result<(bool, bool)> {
        let mut buffer = vec![0u8; DATAGRAM_CAPACITY];
        let mut changed = false;
        for _ in 0..MAX_DATAGRAMS {
            match self.receive(&mut buffer) {
                Ok(Some(len)) => {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    changed |= tells_of_a_change(datagram, self.own_request);
                }
                Ok(None) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((changed, true));
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => changed = true,
                Err(error) => return Err(error),
            }
        }
        Ok((changed, false))
    }

    /// One datagram: its length when from the kernel, `None` from another process.
    #[allow(unsafe_code)]
    fn receive(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: an all-zero `sockaddr_nl` is a valid value.
            let mut sender: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut sender_len = socklen_of::<libc::sockaddr_nl>();
            // SAFETY: the buffer, the sender address and its length are live and writable
            // for the call, with the lengths given.
            let received = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                    std::ptr::from_mut(&mut sender).cast(),
                    &mut sender_len,
                )
            };
            match usize::try_from(received) {
                Ok(len) => return Ok((sender.nl_pid == 0).then_some(len.min(buffer.len()))),
                Err(_) => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// Whether `datagram` tells of a change: a change message that is not the answer to our
/// own request (`own_request`: its sequence number and our port id). A datagram that does
/// not decode still says something changed.
fn tells_of_a_change(datagram: &[u8], own_request: Option<(u32, u32)>) -> bool {
    netlink::decode(datagram).map_or(true, |messages| {
        messages.iter().any(|message| {
            message.body.is_change() && own_request != Some((message.seq, message.port_id))
        })
    })
}

/// Binds `fd` to a port id the kernel picks (`nl_pid` 0), in no group.
#[allow(unsafe_code)]
fn bind(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: an all-zero `sockaddr_nl` is a valid value.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the address is live for the call, with the length given.
    let result = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::from_ref(&address).cast(),
            socklen_of::<libc::sockaddr_nl>(),
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives `fd` a port id by sending a route lookup of 127.0.0.1 (the kernel binds a socket
/// on its first send); returns the lookup's sequence number and the port id.
#[allow(unsafe_code)]
fn autobind(fd: &OwnedFd) -> io::Result<(u32, u32)> {
    let seq = super::route_socket::RouteSocket::next_seq();
    let request = netlink::encode_lookup(IpAddr::V4(Ipv4Addr::LOCALHOST), seq, false);
    // SAFETY: an all-zero `sockaddr_nl` is a valid value.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the buffer and the address are live for the call, with the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            std::ptr::from_ref(&kernel).cast(),
            socklen_of::<libc::sockaddr_nl>(),
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an all-zero `sockaddr_nl` is a valid value.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut len = socklen_of::<libc::sockaddr_nl>();
    // SAFETY: the address and its length are live and writable for the call.
    let result = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            std::ptr::from_mut(&mut address).cast(),
            &mut len,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((seq, address.nl_pid))
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn socklen_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `RTM_NEWROUTE` with sequence number 7 for port id 42.
    fn route_message() -> Vec<u8> {
        let mut message = 28u32.to_ne_bytes().to_vec();
        message.extend_from_slice(&netlink::RTM_NEWROUTE.to_ne_bytes());
        message.extend_from_slice(&0u16.to_ne_bytes());
        message.extend_from_slice(&7u32.to_ne_bytes());
        message.extend_from_slice(&42u32.to_ne_bytes());
        message.extend_from_slice(&[2, 32, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0]);
        message
    }

    #[test]
    fn the_answer_to_our_own_lookup_is_no_change_but_others_are() {
        let message = route_message();
        assert!(!tells_of_a_change(&message, Some((7, 42))));
        assert!(tells_of_a_change(&message, Some((8, 42))));
        assert!(tells_of_a_change(&message, None));
        assert!(
            tells_of_a_change(&message[..20], None),
            "undecodable counts"
        );
        let mut done = message.clone();
        done[4..6].copy_from_slice(&netlink::NLMSG_DONE.to_ne_bytes());
        assert!(!tells_of_a_change(&done, None));
    }

    #[test]
    fn a_socket_left_unbound_gets_a_port_id_from_its_first_lookup() {
        // SAFETY: socket(2) takes no pointers; the descriptor is owned right away.
        #[allow(unsafe_code)]
        let fd = unsafe {
            OwnedFd::from_raw_fd(libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            ))
        };
        let (_, port_id) = autobind(&fd).unwrap();
        assert_ne!(port_id, 0);
    }
}
