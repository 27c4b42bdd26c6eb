//! Who is calling, by address: the peer, or what `X-Forwarded-For` says
//! when the peer is one of our own reverse proxies (`TRUSTED_PROXIES`).
//! Anyone else's `X-Forwarded-For` is ignored, or a client could pick its
//! own address and get a fresh rate-limit bucket with every request.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use ipnet::IpNet;

/// `::ffff:a.b.c.d` as the IPv4 address it is, so TRUSTED_PROXIES written
/// in IPv4 match a dual-stack listener's peers.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address for `req`. `forwarded_for` is every
/// `X-Forwarded-For` line joined in order with commas.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Walk X-Forwarded-For from the right (the hop nearest to us), past our
    // own proxies; the first address we do not own is the client.
    let mut client = peer;
    if let Some(header) = forwarded_for {
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>().map(canonical) {
                Ok(ip) => {
                    client = ip;
                    if !is_trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    Some(client)
}

/// Every `X-Forwarded-For` line, in order, joined with commas: a proxy may
/// add its own line (HAProxy's `forwardfor`, some CDNs) after a line the
/// client forged, and only the right-most entries are ours to believe.
/// A line that is not text stands for an unreadable hop: the walk from
/// the right stops there, as at any entry that is not an address.
fn forwarded_header(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let mut joined: Option<String> = None;
    for line in headers.get_all("x-forwarded-for") {
        let Ok(text) = line.to_str() else {
            joined = Some("unreadable".to_owned());
            continue;
        };
        match &mut joined {
            Some(j) => {
                j.push(',');
                j.push_str(text);
            }
            None => joined = Some(text.to_owned()),
        }
    }
    joined
}

/// Set once the warning about an untrusted X-Forwarded-For was logged.
static WARNED_UNTRUSTED_FORWARD: AtomicBool = AtomicBool::new(false);

/// In production, says once that a peer we do not trust sent
/// X-Forwarded-For: behind a reverse proxy that is not in
/// TRUSTED_PROXIES, every client looks like the proxy (one rate-limit
/// bucket and one lockout network for everyone).
fn warn_untrusted_forward(
    peer: Option<IpAddr>,
    headers: &actix_web::http::header::HeaderMap,
    trusted: &[IpNet],
    production: bool,
) {
    if !production || !headers.contains_key("x-forwarded-for") {
        return;
    }
    let Some(peer) = peer.map(canonical) else {
        return;
    };
    if trusted.iter().any(|net| net.contains(&peer))
        || WARNED_UNTRUSTED_FORWARD.swap(true, Ordering::Relaxed)
    {
        return;
    }
    tracing::warn!(
        %peer,
        "a peer not listed in TRUSTED_PROXIES sent X-Forwarded-For; it is ignored. If this server runs behind a reverse proxy, add the proxy's address to TRUSTED_PROXIES (never a subnet that clients reach directly)"
    );
}

/// The client's address of a request in a handler.
pub fn of_request(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip(
        req.peer_addr().map(|a| a.ip()),
        forwarded_header(req.headers()).as_deref(),
        trusted,
    )
}

/// The client's address of a request in middleware; in production it also
/// warns once about X-Forwarded-For from an untrusted peer.
pub fn of_service_request(
    req: &ServiceRequest,
    trusted: &[IpNet],
    production: bool,
) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    warn_untrusted_forward(peer, req.headers(), trusted, production);
    client_ip(peer, forwarded_header(req.headers()).as_deref(), trusted)
}

/// The rate-limit key of an address: IPv4 as is; IPv6 by its /64, since one
/// client usually holds a whole /64.
pub fn rate_limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[]),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn trusted_proxies_pass_on_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.2")),
                Some("198.51.100.7, 10.0.0.5"),
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
        // A forged left-most entry is not believed past an untrusted hop.
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.2")),
                Some("6.6.6.6, 198.51.100.7"),
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), None, &trusted),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some("garbage"), &trusted),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn every_forwarded_line_counts_from_the_right() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        let name = HeaderName::from_static("x-forwarded-for");
        // The client forged the first line; our proxy added the second.
        headers.append(name.clone(), HeaderValue::from_static("6.6.6.6"));
        headers.append(name, HeaderValue::from_static("198.51.100.7"));
        let joined = forwarded_header(&headers);
        assert_eq!(joined.as_deref(), Some("6.6.6.6,198.51.100.7"));
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), joined.as_deref(), &trusted),
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.2")), Some("198.51.100.7"), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.2")),
                Some("198.51.100.7, ::ffff:10.0.0.9"),
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:aaaa::1")),
            rate_limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            rate_limit_key(ip("2001:db8:1:2::1")),
            rate_limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
