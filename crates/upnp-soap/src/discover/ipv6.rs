//! IPv6 discovery's trust rule: which answers are a router on this link's, and which
//! address its description is fetched from.

use std::net::{IpAddr, Ipv6Addr};

use crate::{host_ip, parse_url};

/// Whether `address` is an IPv6 link-local unicast address.
pub(super) fn is_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

/// Whether `address` lies in an on-link prefix of this host (and is not this host's own).
pub(super) fn in_on_link_prefix(address: IpAddr, on_link: &[(Ipv6Addr, u8)]) -> bool {
    let IpAddr::V6(address) = address else {
        return false;
    };
    on_link.iter().any(|(local, prefix_len)| {
        let bits = u32::from((*prefix_len).min(128));
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        u128::from(address) & mask == u128::from(*local) & mask && address != *local
    })
}

/// The address an IPv6 gateway's description is fetched from: the LOCATION's host when it
/// is `responder` itself, or, for an answer from a link-local address (a router on this
/// link), a global or unique local address in an on-link prefix of this host (`on_link`).
pub(super) fn ipv6_host(
    location: &str,
    responder: IpAddr,
    on_link: &[(Ipv6Addr, u8)],
) -> Result<IpAddr, String> {
    let url = parse_url(location).map_err(|e| format!("bad LOCATION: {e}"))?;
    let Some(IpAddr::V6(host)) = host_ip(&url) else {
        return Err("the LOCATION is not on an IPv6 address".to_owned());
    };
    if IpAddr::V6(host) == responder {
        return Ok(responder);
    }
    if is_link_local(responder)
        && !host.is_unicast_link_local()
        && in_on_link_prefix(IpAddr::V6(host), on_link)
    {
        Ok(IpAddr::V6(host))
    } else {
        Err(format!(
            "the LOCATION's host {host} is neither {responder} nor on this link's prefix"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_link() -> Vec<(Ipv6Addr, u8)> {
        vec![(
            "2001:db8:77::10".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            64,
        )]
    }

    #[test]
    fn a_link_local_answer_may_point_at_an_on_link_address_only() {
        let router: IpAddr = "fe80::1".parse().unwrap_or(IpAddr::from([0; 16]));
        let on_link = on_link();
        assert_eq!(
            ipv6_host(
                "http://[2001:db8:77::1]:5000/rootDesc.xml",
                router,
                &on_link
            ),
            Ok("2001:db8:77::1".parse().unwrap_or(router))
        );
        assert!(
            ipv6_host(
                "http://[2001:db8:99::1]:5000/rootDesc.xml",
                router,
                &on_link
            )
            .is_err()
        );
        assert!(
            ipv6_host(
                "http://[2001:db8:77::10]:5000/rootDesc.xml",
                router,
                &on_link
            )
            .is_err()
        );
        assert!(ipv6_host("http://192.168.77.1:5000/rootDesc.xml", router, &on_link).is_err());
        let global: IpAddr = "2001:db8:77::1".parse().unwrap_or(router);
        assert_eq!(
            ipv6_host(
                "http://[2001:db8:77::1]:5000/rootDesc.xml",
                global,
                &on_link
            ),
            Ok(global)
        );
        assert!(
            ipv6_host(
                "http://[2001:db8:77::2]:5000/rootDesc.xml",
                global,
                &on_link
            )
            .is_err()
        );
        assert!(in_on_link_prefix(global, &on_link));
        assert!(!in_on_link_prefix(router, &on_link));
        assert!(is_link_local(router) && !is_link_local(global));
    }
}
