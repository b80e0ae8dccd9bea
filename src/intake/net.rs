//! Outbound HTTP (catalog image URLs, webhooks): one client with the address policy. No
//! private, loopback or link-local address is reached unless the config allows it. The
//! check runs in the resolver, so it holds for every address a name resolves to and for
//! every redirect, and a name cannot resolve to a public address when checked and a private
//! one when connected.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Whether an address is one outbound requests must not reach without leave: every block
/// the IANA special-purpose registries (IPv4 and IPv6) mark as not globally reachable, or
/// reserved for documentation, benchmarking or translation: loopback, private and unique
/// local, link-local and site-local, shared (carrier NAT), "this network", the IETF
/// protocol blocks, TEST-NETs and 2001:db8::/32, 3fff::/20, 198.18.0.0/15, 240.0.0.0/4,
/// multicast and broadcast, discard-only, SRv6, and the IPv6 forms that carry an IPv4
/// address (mapped, compatible, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
/// Teredo) whatever that address is.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 0 && c == 2) // TEST-NET-1
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || (a == 198 && b == 51 && c == 100) // TEST-NET-2
                || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || s[..6] == [0; 6] // IPv4-compatible (deprecated) ::a.b.c.d
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64, well-known and local-use
                || (s[0] == 0x0100 && s[1..4] == [0; 3]) // discard-only 100::/64
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002 // 6to4
                || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
                || s[0] == 0x5f00 // SRv6 SIDs
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        }
    }
}

/// Whether an address is one of this machine's own (a public address on one of its
/// interfaces reaches its own services): only the machine's own addresses can be bound.
pub fn is_this_machine(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// The default resolver, refusing private addresses unless allowed; what it refused is
/// kept so the error can name it.
#[derive(Debug)]
struct PublicOnly {
    inner: DefaultResolver,
    allow_private: bool,
    refused: Arc<Mutex<Option<IpAddr>>>,
}

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if self.allow_private {
            return Ok(addrs);
        }
        let mut kept = self.empty();
        kept.truncate(0);
        for a in addrs.iter().copied() {
            if is_private(a.ip()) || is_this_machine(a.ip()) {
                if let Ok(mut r) = self.refused.lock() {
                    r.get_or_insert(a.ip());
                }
            } else {
                kept.push(a);
            }
        }
        if kept.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(kept)
    }
}

/// A client for one exchange: `timeout` for all of it, at most `redirects` redirects, no
/// proxy, HTTP errors as statuses (not errors). Returns the address it refused, if any, for
/// the error to name.
pub fn agent(
    timeout: Duration,
    redirects: u32,
    allow_private: bool,
) -> (ureq::Agent, Arc<Mutex<Option<IpAddr>>>) {
    let refused = Arc::new(Mutex::new(None));
    let config = Config::builder()
        .timeout_global(Some(timeout))
        .max_redirects(redirects)
        .proxy(None)
        .user_agent(concat!("shelfready/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        DefaultConnector::default(),
        PublicOnly {
            inner: DefaultResolver::default(),
            allow_private,
            refused: refused.clone(),
        },
    );
    (agent, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_told_apart_from_public_ones() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        // Every special-purpose block of the IANA registries that is not globally reachable.
        for special in [
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2001:2::1",
            "2002:7f00:1::",
            "3fff::1",
            "5f00::1",
            "fec0::1",
            "::127.0.0.1",
        ] {
            assert!(is_private(special.parse().unwrap()), "{special}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
        // This machine's own addresses are refused whatever their kind; another's are not.
        assert!(is_this_machine("127.0.0.1".parse().unwrap()));
        assert!(!is_this_machine("8.8.8.8".parse().unwrap()));
    }
}
