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

/// Whether an address is one outbound requests must not reach without leave: loopback, private
/// (RFC 1918, unique local), link-local, shared (carrier NAT), unspecified, multicast,
/// broadcast, and IPv4 reached through IPv6 forms of those.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
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
            if is_private(a.ip()) {
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
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
