//! Who a request comes from, as quotas and rate limits count it.
//!
//! A [`ClientKey`] is the peer's IPv4 address, or the /64 prefix of its IPv6 address: one host
//! gets a whole /64 from its provider and can rotate through it freely, so counting single
//! IPv6 addresses would give an attacker 2^64 fresh identities. IPv4-mapped IPv6 addresses
//! count as the IPv4 address they carry.
//!
//! Behind a reverse proxy every request arrives from the proxy. [`TrustedProxies`] (off unless
//! configured) lets the application layer take the client from `X-Forwarded-For`, but only when
//! the peer itself is a listed proxy; connection-level limits always count the TCP peer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The unit quotas and rate limits count: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(bits)))
                }
            },
        }
    }

    /// The key of a socket peer.
    pub fn of_peer(addr: SocketAddr) -> Self {
        Self::of(addr.ip())
    }

    /// The key used for in-process callers (no network peer).
    pub fn local() -> Self {
        ClientKey(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// The address (IPv6: the first address of the /64).
    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Reverse proxies whose `X-Forwarded-For` is believed (none by default).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    proxies: Vec<IpAddr>,
}

/// A trusted-proxy list entry that is not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted proxy {0:?} is not an IP address")]
pub struct InvalidProxy(pub String);

impl TrustedProxies {
    /// No proxy is trusted: the TCP peer is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trust these proxy addresses.
    pub fn new(proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        TrustedProxies {
            proxies: proxies.into_iter().collect(),
        }
    }

    /// Parses a comma-separated list of IP addresses (`--trusted-proxy`).
    pub fn parse(list: &str) -> Result<Self, InvalidProxy> {
        let proxies = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| IpAddr::from_str(s).map_err(|_| InvalidProxy(s.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { proxies })
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.proxies.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ClientKey::of(ip).0;
        self.proxies
            .iter()
            .any(|p| ClientKey::of(*p).0 == ip || *p == ip)
    }

    /// The client of a request from `peer`: the peer itself, unless it is a trusted proxy, in
    /// which case the right-most `X-Forwarded-For` entry that is not a trusted proxy (entries
    /// left of it were written by the client and prove nothing).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientKey {
        if !self.trusts(peer) {
            return ClientKey::of(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return ClientKey::of(peer);
            };
            for part in text.split(',') {
                match parse_hop(part.trim()) {
                    Some(ip) => hops.push(ip),
                    None => return ClientKey::of(peer),
                }
            }
        }
        let client = hops.into_iter().rev().find(|ip| !self.trusts(*ip));
        ClientKey::of(client.unwrap_or(peer))
    }
}

/// One `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(ip);
    }
    SocketAddr::from_str(s).ok().map(|a| a.ip())
}

/// The TCP peer of a request served by [`serve`](crate::serve) (or axum's
/// `into_make_service_with_connect_info`); loopback when the request has none (in-process).
pub fn peer_of(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), |c| c.0)
}

/// The client key of a request, with `proxies` applied.
pub fn client_of(parts: &Parts, proxies: &TrustedProxies) -> ClientKey {
    proxies.client(peer_of(parts).ip(), &parts.headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_by_64_prefix_and_mapped_v4_as_v4() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        let b = ClientKey::of(ip("2001:db8:1:2::1"));
        let c = ClientKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of(ip("::ffff:10.1.2.3")),
            ClientKey::of(ip("10.1.2.3"))
        );
        assert_ne!(ClientKey::of(ip("10.1.2.3")), ClientKey::of(ip("10.1.2.4")));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        let none = TrustedProxies::none();
        assert_eq!(
            none.client(ip("10.0.0.1"), &h),
            ClientKey::of(ip("10.0.0.1"))
        );
        let proxies = TrustedProxies::parse("10.0.0.1, 10.0.0.2").unwrap();
        // The right-most untrusted hop is the client; the spoofable left part is ignored.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &h),
            ClientKey::of(ip("1.2.3.4"))
        );
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.2".parse().unwrap(),
        );
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &h),
            ClientKey::of(ip("1.2.3.4"))
        );
        // A peer that is not a proxy is the client whatever the header says.
        assert_eq!(
            proxies.client(ip("9.9.9.9"), &h),
            ClientKey::of(ip("9.9.9.9"))
        );
        // Garbage falls back to the peer.
        h.insert("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &h),
            ClientKey::of(ip("10.0.0.1"))
        );
        assert!(TrustedProxies::parse("10.0.0.1,nope").is_err());
    }
}
