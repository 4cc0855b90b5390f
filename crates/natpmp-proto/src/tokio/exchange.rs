//! The exchanges of a [`Client`]: its requests go out and its datagrams come in through a
//! sans-IO [`Demultiplexer`], which decides which request a datagram answers and which
//! datagrams are dropped; this shell only moves bytes and timers and turns the outcome into
//! a [`ClientError`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::client::{Client, Failure, Operation, random_bytes, random_nonce};
use super::error::{ClientError, io};
use super::socket::{is_port_unreachable, is_transient};
use crate::pcp::{self, MapData};
use crate::{
    Answer, AnyRequest, Delivery, Demultiplexer, Protocol, Schedule, Transaction, TransactionError,
    Version, natpmp,
};

impl Client {
    /// One transaction: send, retransmit on schedule, validate answers.
    pub(super) async fn exchange(
        &self,
        operation: Operation,
        version: Version,
    ) -> Result<Answer, Failure> {
        let mut answers = self.exchange_all(&[operation], version).await?;
        answers
            .pop()
            .ok_or_else(|| Failure::Client(self.bad_answer(&operation, "no answer")))
    }

    /// Several transactions at once on the socket (NAT-PMP's map and external address
    /// requests, which it answers with different opcodes): each is sent, retransmitted on its
    /// own schedule and validated; every answer is needed, so the first failure ends them
    /// all. A datagram answers at most one of them.
    pub(super) async fn exchange_all(
        &self,
        operations: &[Operation],
        version: Version,
    ) -> Result<Vec<Answer>, Failure> {
        let _turn = self.exchange.lock().await;
        let started = Instant::now();
        let deadline = self.config.timeout.map(|t| started + t);
        let mut transactions = Vec::with_capacity(operations.len());
        for operation in operations {
            let schedule = match version {
                Version::NatPmp => self.config.natpmp_schedule.clone(),
                Version::Pcp => self
                    .config
                    .pcp_schedule
                    .clone()
                    .with_jitter(Schedule::PCP_RAND, u64::from_le_bytes(random_bytes::<8>())),
            };
            let transaction = Transaction::new(
                self.request(*operation, version),
                self.gateway,
                schedule,
                started,
            )
            .map_err(|e| Failure::Client(e.into()))?;
            transactions.push(transaction);
        }
        let mut demux = Demultiplexer::new(transactions, started, deadline);
        let mut buffer = vec![0u8; 1500];
        loop {
            let now = Instant::now();
            while let Some((index, transmit)) = demux.poll_transmit(now) {
                let operation = operations.get(index).map(Operation::describe);
                tracing::debug!(gateway = %self.gateway, attempt = transmit.attempt, %version, operation, "sending");
                match self.socket.send(&transmit.contents).await {
                    Ok(_) => {}
                    Err(e) if is_port_unreachable(&e) => {
                        demux.handle_port_unreachable(Instant::now());
                    }
                    // The datagram is lost; the schedule sends it again.
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(gateway = %self.gateway, error = %e, "send failed, will retry");
                    }
                    Err(e) => {
                        return Err(Failure::Client(io(format!(
                            "cannot send to gateway {}",
                            self.gateway
                        ))(e)));
                    }
                }
            }
            if let Some(outcome) = demux.poll_outcome() {
                return match outcome {
                    Ok(answers) => {
                        for answer in &answers {
                            tracing::debug!(gateway = %self.gateway, %version, result = %answer.response.result(), epoch = answer.response.epoch(), "answer");
                        }
                        Ok(answers)
                    }
                    Err(TransactionError::TimedOut {
                        gateway,
                        waited,
                        attempts,
                    }) => Err(Failure::Client(ClientError::TimedOut {
                        gateway,
                        waited,
                        attempts,
                        unusable: demux.unusable(),
                    })),
                    Err(error) => Err(Failure::Transaction(error)),
                };
            }
            // Without a timer to wait for, wake now and then to look again.
            let wake = demux.poll_timeout().unwrap_or(now + Duration::from_secs(1));
            tokio::select! {
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((length, source)) => {
                        let data = buffer.get(..length).unwrap_or(&[]);
                        let received_at = Instant::now();
                        match demux.handle_datagram(received_at, source, data) {
                            Delivery::Answered { .. } => {}
                            Delivery::Announce { epoch } => {
                                tracing::debug!(gateway = %self.gateway, epoch, "unsolicited ANNOUNCE");
                                self.check_epoch_of(Version::Pcp, received_at, epoch);
                            }
                            Delivery::Dropped(reason) => {
                                self.ignored.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%reason, %source, "ignored a datagram");
                            }
                        }
                    }
                    Err(e) if is_port_unreachable(&e) => {
                        demux.handle_port_unreachable(Instant::now());
                    }
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(gateway = %self.gateway, error = %e, "receive failed, will retry");
                    }
                    Err(e) => {
                        return Err(Failure::Client(io(format!("cannot receive from gateway {}", self.gateway))(e)));
                    }
                },
                () = tokio::time::sleep_until(wake.into()) => demux.handle_timeout(Instant::now()),
            }
        }
    }

    /// The request that asks for `operation` in `version`.
    fn request(&self, operation: Operation, version: Version) -> AnyRequest {
        match (operation, version) {
            (Operation::ExternalAddress, Version::NatPmp) => {
                natpmp::Request::ExternalAddress.into()
            }
            (
                Operation::Map {
                    protocol,
                    internal_port,
                    suggested_external_port,
                    lifetime,
                    ..
                },
                Version::NatPmp,
            ) => natpmp::Request::map(protocol, internal_port, suggested_external_port, lifetime)
                .into(),
            (Operation::ExternalAddress, Version::Pcp) => {
                // Map our own socket's port briefly; the answer carries the external address.
                let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
                let data = MapData::new(random_nonce(), Protocol::Udp, port, self.client_address);
                pcp::Request::map(self.client_address, data, 120).into()
            }
            (
                Operation::Map {
                    protocol,
                    internal_port,
                    suggested_external_port,
                    lifetime,
                    nonce,
                    third_party,
                },
                Version::Pcp,
            ) => {
                let mut data = MapData::new(nonce, protocol, internal_port, self.client_address);
                data.external_port = suggested_external_port;
                if internal_port == 0 {
                    // "All ports" is only meaningful with "all protocols" (RFC 6887 §11.1).
                    data.protocol = pcp::IpProtocol::All;
                }
                let request = pcp::Request::map(self.client_address, data, lifetime);
                match third_party {
                    Some(internal_address) => request
                        .with_option(pcp::PcpOption::ThirdParty { internal_address })
                        .into(),
                    None => request.into(),
                }
            }
            (Operation::Peer { data, lifetime }, _) => {
                pcp::Request::peer(self.client_address, data, lifetime).into()
            }
        }
    }

    pub(super) fn translate(
        &self,
        error: TransactionError,
        operation: &Operation,
        version: Version,
    ) -> ClientError {
        match error {
            TransactionError::TimedOut {
                gateway,
                waited,
                attempts,
            } => ClientError::TimedOut {
                gateway,
                waited,
                attempts,
                unusable: None,
            },
            TransactionError::PortUnreachable { gateway, .. } => {
                ClientError::NotSupported { gateway }
            }
            TransactionError::Rejected {
                gateway,
                result,
                answer,
            } => ClientError::Refused {
                gateway,
                operation: operation.describe(),
                code: result,
                retry_after: answer
                    .response
                    .as_pcp()
                    .and_then(pcp::Response::retry_after),
            },
            TransactionError::ServerVersion {
                gateway,
                server_version,
                retry_after,
                ..
            } => ClientError::ServerVersion {
                gateway,
                server_version,
                retry_after,
            },
            TransactionError::UnsupportedVersion { gateway, .. } => ClientError::VersionMismatch {
                gateway,
                requested: version,
            },
        }
    }

    pub(super) fn bad_answer(&self, operation: &Operation, reason: &str) -> ClientError {
        ClientError::BadAnswer {
            gateway: self.gateway,
            operation: operation.describe(),
            reason: reason.into(),
        }
    }
}
