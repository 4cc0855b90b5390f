//! The generic dispatcher: a fetched root device, and a client per service that lists the
//! service's actions and calls any of them by name with arguments checked against the SCPD.

use std::net::IpAddr;

use crate::Url;

use crate::description::{Description, Service};
use crate::error::{Error, Result};
use crate::http::{Config, HttpClient};
use crate::scpd::{Action, Scpd};
use crate::soap::{self, Arguments, Reply};

/// A device found by a search: its description, and an HTTP client pinned to the address
/// that answered the search.
#[derive(Debug, Clone)]
pub struct RootDevice {
    description: Description,
    http: HttpClient,
    on_default_gateway: bool,
}

impl RootDevice {
    /// Fetches and parses the description at `location` (the LOCATION header of a search
    /// response) from `responder` (the address that sent that response).
    ///
    /// # Errors
    /// [`Error::OffHost`] when `location` is not on `responder` (nothing is fetched), the
    /// HTTP errors of [`HttpClient::get`], and the parse errors of [`Description::parse`].
    pub async fn fetch(location: &Url, responder: IpAddr, config: Config) -> Result<RootDevice> {
        let http = HttpClient::new(responder, config);
        let body = http.get(location).await?;
        let description =
            Description::parse(&body, location).map_err(|e| e.with_source(location))?;
        Ok(RootDevice {
            description,
            http,
            on_default_gateway: is_default_gateway(responder),
        })
    }

    /// A root device from a description already parsed, talking to `responder`.
    pub fn new(description: Description, responder: IpAddr, config: Config) -> RootDevice {
        RootDevice {
            description,
            http: HttpClient::new(responder, config),
            on_default_gateway: is_default_gateway(responder),
        }
    }

    /// Whether the device that answered is this host's default gateway (read from the
    /// routing table when the device was fetched, or set by discovery against the gateway
    /// it was told to use). Any LAN host can claim to be an IGD; callers label the others.
    pub fn on_default_gateway(&self) -> bool {
        self.on_default_gateway
    }

    /// Sets what [`on_default_gateway`](Self::on_default_gateway) says (discovery knows the
    /// gateway it searched for, which may be one the caller named).
    pub fn set_on_default_gateway(&mut self, on_default_gateway: bool) {
        self.on_default_gateway = on_default_gateway;
    }

    /// The parsed description.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The HTTP client pinned to the responder.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The same device, its later requests under `config` (see
    /// [`HttpClient::with_config`]).
    pub fn with_config(mut self, config: Config) -> RootDevice {
        self.http = self.http.with_config(config);
        self
    }

    /// Fetches the SCPD of `service` and returns a client for it.
    ///
    /// # Errors
    /// See [`ServiceClient::fetch`].
    pub async fn service_client(&self, service: &Service) -> Result<ServiceClient> {
        ServiceClient::fetch(self.http.clone(), service.clone()).await
    }
}

/// Whether `address` is this host's default IPv4 gateway.
fn is_default_gateway(address: IpAddr) -> bool {
    netinfo::default_gateway().is_ok_and(|gateway| IpAddr::V4(gateway) == address.to_canonical())
}

/// A client for one service: its SCPD (when it could be had) and its control URL.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    service: Service,
    scpd: Option<Scpd>,
    http: HttpClient,
}

impl ServiceClient {
    /// Fetches and parses the service's SCPD.
    ///
    /// # Errors
    /// [`Error::OffHost`] when the SCPD URL is not on the responder (nothing is fetched),
    /// the HTTP errors of [`HttpClient::get`], and the parse errors of [`Scpd::parse`].
    pub async fn fetch(http: HttpClient, service: Service) -> Result<ServiceClient> {
        let body = http.get(&service.scpd_url).await?;
        let scpd = Scpd::parse(&body).map_err(|e| e.with_source(&service.scpd_url))?;
        Ok(ServiceClient {
            service,
            scpd: Some(scpd),
            http,
        })
    }

    /// A client from an SCPD already parsed.
    pub fn new(http: HttpClient, service: Service, scpd: Scpd) -> ServiceClient {
        ServiceClient {
            service,
            scpd: Some(scpd),
            http,
        }
    }

    /// A client without an SCPD (for devices whose SCPD is missing or broken): calls are
    /// sent without checking, arguments in the order given.
    pub fn unchecked(http: HttpClient, service: Service) -> ServiceClient {
        ServiceClient {
            service,
            scpd: None,
            http,
        }
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The SCPD, unless this client is [`unchecked`](Self::unchecked).
    pub fn scpd(&self) -> Option<&Scpd> {
        self.scpd.as_ref()
    }

    /// The HTTP client pinned to the responder.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The service's actions (none for an unchecked client).
    pub fn actions(&self) -> &[Action] {
        self.scpd.as_ref().map_or(&[], |s| s.actions.as_slice())
    }

    /// Whether the SCPD lists `action`; `None` for an unchecked client.
    pub fn has_action(&self, action: &str) -> Option<bool> {
        self.scpd.as_ref().map(|s| s.action(action).is_some())
    }

    /// Checks a call against the SCPD without sending it, and returns the arguments as
    /// they would be sent (SCPD order, booleans as `0`/`1`). An unchecked client only
    /// checks that names and values can be written as XML.
    ///
    /// # Errors
    /// See [`Scpd::check_arguments`] and [`soap::request_body`].
    pub fn check(&self, action: &str, arguments: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
        let checked = match &self.scpd {
            Some(scpd) => scpd.check_arguments(&self.service.service_type, action, arguments)?,
            None => arguments
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let pairs: Vec<(&str, &str)> = checked
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        soap::request_body(&self.service.service_type, action, &pairs)?;
        Ok(checked)
    }

    /// Calls `action` with string arguments and returns its out arguments, in SCPD order.
    ///
    /// The arguments are checked against the SCPD first; nothing is sent when the check
    /// fails.
    ///
    /// # Errors
    /// The check errors of [`check`](Self::check) (before sending); the HTTP errors of
    /// [`HttpClient::get`]; [`Error::Fault`] when the device refuses the action;
    /// [`Error::ActionStatus`] for a non-2xx status without a readable fault;
    /// [`Error::Xml`] or [`Error::Soap`] for an unreadable response.
    pub async fn call(&self, action: &str, arguments: &[(&str, &str)]) -> Result<Arguments> {
        let checked = self.check(action, arguments)?;
        let pairs: Vec<(&str, &str)> = checked
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let service_type = &self.service.service_type;
        let body = soap::request_body(service_type, action, &pairs)?;
        let url = &self.service.control_url;
        let response = self
            .http
            .post_soap(url, &soap::soap_action(service_type, action), body)
            .await?;
        let parsed = soap::parse_response(&response.body, action).map_err(|e| e.with_source(url));
        match parsed {
            Ok(Reply::Success(arguments)) if response.status.is_success() => {
                Ok(match self.scpd.as_ref().and_then(|s| s.action(action)) {
                    Some(spec) => arguments.ordered_by(spec.outputs().map(|a| a.name.as_str())),
                    None => arguments,
                })
            }
            Ok(Reply::Fault(fault)) => Err(Error::Fault {
                action: action.to_owned(),
                url: Box::new(url.clone()),
                fault,
            }),
            Err(e) if response.status.is_success() => Err(e),
            _ => Err(Error::ActionStatus {
                action: action.to_owned(),
                url: Box::new(url.clone()),
                status: response.status,
            }),
        }
    }
}
