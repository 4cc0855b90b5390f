//! What the PCP/NAT-PMP technique notices between operations: the gateway's announcements
//! on port 5350 (a restart, a new external address; RFC 6886 §3.2.1, RFC 6887 §14.1.1) and
//! the epoch resets its client sees in answers (RFC 6886 §3.6, RFC 6887 §8.5).

use std::net::IpAddr;
use std::time::Duration;

use natpmp_proto::tokio::{AnnouncementListener, Event};
use tokio::sync::broadcast;

use crate::technique::{EventSender, TechniqueEvent, TechniqueEvents};

/// How long to wait before binding the announcement listener again after it failed.
const REBIND: Duration = Duration::from_secs(5);

/// The events of the technique at `gateway` whose client reports epoch resets on `epochs`.
pub(super) fn follow(gateway: IpAddr, epochs: broadcast::Receiver<Event>) -> TechniqueEvents {
    TechniqueEvents::spawn(move |sender| run(gateway, epochs, sender))
}

async fn run(gateway: IpAddr, mut epochs: broadcast::Receiver<Event>, sender: EventSender) {
    let mut listener: Option<AnnouncementListener> = None;
    let mut rebind = Box::pin(tokio::time::sleep(Duration::ZERO));
    let mut epochs_open = true;
    loop {
        tokio::select! {
            () = &mut rebind, if listener.is_none() => {
                match AnnouncementListener::bind(gateway).await {
                    Ok(bound) => listener = Some(bound),
                    Err(error) => {
                        tracing::debug!(%gateway, %error, "not listening for announcements for now");
                        rebind = Box::pin(tokio::time::sleep(REBIND));
                    }
                }
            }
            announcement = next_announcement(&mut listener) => match announcement {
                Ok(announcement) => {
                    tracing::debug!(?announcement, "gateway announcement");
                    if announcement.epoch_reset {
                        let reason = format!(
                            "{} announcement with epoch {}",
                            announcement.version, announcement.epoch
                        );
                        if !sender.send(TechniqueEvent::Restarted { reason }).await {
                            return;
                        }
                    }
                    if let Some(address) = announcement.external_address {
                        let event = TechniqueEvent::ExternalAddressChanged {
                            address: IpAddr::V4(address),
                        };
                        if !sender.send(event).await {
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the announcement listener failed; binding again later");
                    listener = None;
                    rebind = Box::pin(tokio::time::sleep(REBIND));
                }
            },
            event = epochs.recv(), if epochs_open => match event {
                Ok(Event::EpochReset { version, previous, current }) => {
                    let reason = format!("{version} epoch {current} after {previous}");
                    if !sender.send(TechniqueEvent::Restarted { reason }).await {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The client is gone; announcements may still come.
                Err(broadcast::error::RecvError::Closed) => epochs_open = false,
            },
        }
    }
}

async fn next_announcement(
    listener: &mut Option<AnnouncementListener>,
) -> Result<natpmp_proto::tokio::Announcement, natpmp_proto::tokio::ClientError> {
    match listener {
        Some(listener) => listener.next().await,
        None => std::future::pending().await,
    }
}
