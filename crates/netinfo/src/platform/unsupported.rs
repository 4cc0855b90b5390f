//! The backend of a system netinfo has no reader for: every call says so
//! ([`Error::Unsupported`]), naming what was asked.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::path::Path;
use crate::route::{DefaultRoute, Family};

pub(crate) fn default_route(_family: Family) -> Result<DefaultRoute> {
    Err(Error::Unsupported {
        operation: "reading the default gateway",
    })
}

pub(crate) fn route_to(_destination: IpAddr) -> Result<Path> {
    Err(Error::Unsupported {
        operation: "looking up a route",
    })
}

pub(crate) fn default_paths(_family: Family) -> Result<Vec<Path>> {
    Err(Error::Unsupported {
        operation: "listing the default routes",
    })
}

/// No change notifications: [`Monitor::open`] fails.
#[derive(Debug)]
pub(crate) struct Monitor;

impl Monitor {
    pub(crate) fn open() -> Result<Monitor> {
        Err(Error::Unsupported {
            operation: "watching for network changes",
        })
    }
}
