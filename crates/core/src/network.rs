//! Network rules: an organization's IP deny list and allow list, checked before the
//! request's stamp is even parsed, and per-API-key allow lists checked after identity.
//! Deny wins; an empty or disabled allow list means unrestricted.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::{Error, Result};

/// Which list a rule set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Requests must come from one of these networks (when non-empty and enabled).
    Allow,
    /// Requests from these networks are refused.
    Deny,
}

impl ListKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Allow => "ALLOW",
            ListKind::Deny => "DENY",
        }
    }
}

/// One network with an optional label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IpRule {
    /// Network in CIDR form (a bare address means a single host).
    pub cidr: String,
    /// Free text, e.g. `office VPN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the rule was saved, ms since epoch as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A stored list: organization-wide (`public_key` = None) or for one API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRuleSet {
    /// Organization.
    pub organization_id: String,
    /// The API key it applies to, or `None` for the whole organization.
    pub public_key: Option<String>,
    /// Allow or deny.
    pub kind: ListKind,
    /// A disabled list is ignored.
    pub enabled: bool,
    /// What to do when the client address is unknown: `ALLOW` or `DENY`.
    pub on_error: String,
    /// The networks.
    pub rules: Vec<IpRule>,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// Parses a rule's network; a bare address is a single host. Host bits are cleared.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().map(|n| n.trunc()).or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Checks a list's networks; the error names the entry (1-based, like lines in the console).
pub fn validate_rules(field: &str, rules: &[IpRule]) -> Result<()> {
    if rules.len() > 1000 {
        return Err(Error::invalid(format!("{field}: at most 1000 entries, found {}", rules.len())));
    }
    for (i, r) in rules.iter().enumerate() {
        if parse_cidr(&r.cidr).is_none() {
            return Err(Error::invalid(format!(
                "{field}[{i}] (line {}): `{}` is not an IPv4 or IPv6 network in CIDR form, e.g. 203.0.113.0/24",
                i + 1,
                crypto::clip(&r.cidr)
            )));
        }
        if r.label.as_ref().is_some_and(|l| l.chars().count() > 200 || l.chars().any(char::is_control)) {
            return Err(Error::invalid(format!("{field}[{i}].label: at most 200 printable characters")));
        }
    }
    Ok(())
}

/// The first rule of `set` that contains `ip`.
pub fn matching(set: &IpRuleSet, ip: IpAddr) -> Option<&IpRule> {
    set.rules.iter().find(|r| parse_cidr(&r.cidr).is_some_and(|n| n.contains(&canonical(ip))))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The address given to a client whose address a trusted proxy could not report (an
/// `unknown`, obfuscated or unparseable hop): the unspecified address `::`, which no allow
/// list entry short of `::/0` contains and under which all such clients share one set of
/// per-address limits. Never "no address", which would let them pass as unknown.
pub const UNREPORTED_CLIENT: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// One hop of a forwarding chain: an address, or `None` where the hop is unparseable.
pub type Hop = Option<IpAddr>;

/// The hops of `X-Forwarded-For` header lines (left to right, lines in order): each entry
/// an address, optionally with a port (`192.0.2.1:5000`, `[2001:db8::1]:443`).
pub fn forwarded_for_hops<'a>(lines: impl IntoIterator<Item = Option<&'a str>>) -> Vec<Hop> {
    lines.into_iter().flat_map(|line| split_line(line, parse_node)).collect()
}

/// The hops of RFC 7239 `Forwarded` header lines: each element's `for=` node
/// (`for=192.0.2.60`, `for="[2001:db8::1]:4711"`); `unknown`, obfuscated (`_hidden`) and
/// missing nodes are unparseable hops.
pub fn forwarded_hops<'a>(lines: impl IntoIterator<Item = Option<&'a str>>) -> Vec<Hop> {
    let node_of = |element: &str| {
        element.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))?
        })
    };
    lines.into_iter().flat_map(|line| split_line(line, node_of)).collect()
}

/// A header line's comma-separated entries; a line that is not text is one unparseable hop.
fn split_line(line: Option<&str>, parse: impl Fn(&str) -> Hop) -> Vec<Hop> {
    match line {
        Some(text) => text.split(',').map(|entry| parse(entry.trim())).collect(),
        None => vec![None],
    }
}

/// An address with an optional port (IPv6 in brackets when it has one).
fn parse_node(node: &str) -> Hop {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(inner) = node.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        let (addr, port) = inner;
        return (port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok()))
            .then(|| addr.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))
            .flatten();
    }
    node.parse::<std::net::SocketAddrV4>().ok().map(|s| IpAddr::V4(*s.ip()))
}

/// The client address behind `peer`: the peer itself unless it is a trusted proxy; then
/// the chain (`hops`, as the proxies appended them) is walked from the right past trusted
/// proxies, and the first hop that is not one is the client. An unparseable hop there is
/// the client too, as [`UNREPORTED_CLIENT`]. A chain of trusted proxies only names its
/// leftmost hop; an empty chain names the peer.
pub fn client_behind(peer: IpAddr, hops: &[Hop], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip) || n.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return *ip,
            None => return UNREPORTED_CLIENT,
        }
    }
    hops.first().copied().flatten().unwrap_or(peer)
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `DENY` list hit, or `ALLOW` list miss, or unknown address.
    pub list: ListKind,
    /// The matching deny rule, if any.
    pub rule: Option<IpRule>,
}

/// Decides a client address against an organization's deny and allow lists.
pub fn admit(
    deny: Option<&IpRuleSet>,
    allow: Option<&IpRuleSet>,
    ip: Option<IpAddr>,
) -> std::result::Result<(), Refusal> {
    let deny = deny.filter(|d| d.enabled && !d.rules.is_empty());
    let allow = allow.filter(|a| a.enabled && !a.rules.is_empty());
    let Some(ip) = ip else {
        let strict = deny.iter().chain(allow.iter()).any(|s| s.on_error != "ALLOW");
        return match (deny.is_some() || allow.is_some(), strict) {
            (true, true) => {
                Err(Refusal { list: if allow.is_some() { ListKind::Allow } else { ListKind::Deny }, rule: None })
            }
            _ => Ok(()),
        };
    };
    if let Some(hit) = deny.and_then(|d| matching(d, ip)) {
        return Err(Refusal { list: ListKind::Deny, rule: Some(hit.clone()) });
    }
    match allow {
        Some(a) if matching(a, ip).is_none() => Err(Refusal { list: ListKind::Allow, rule: None }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(kind: ListKind, cidrs: &[&str]) -> IpRuleSet {
        IpRuleSet {
            organization_id: "o".into(),
            public_key: None,
            kind,
            enabled: true,
            on_error: "DENY".into(),
            rules: cidrs.iter().map(|c| IpRule { cidr: (*c).into(), label: None, created_at: None }).collect(),
            updated_at: 0,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn deny_beats_allow_and_an_empty_allow_list_is_open() {
        let allow = set(ListKind::Allow, &["10.0.0.0/8"]);
        let deny = set(ListKind::Deny, &["10.1.0.0/16"]);
        assert!(admit(Some(&deny), Some(&allow), ip("10.2.3.4")).is_ok());
        assert_eq!(admit(Some(&deny), Some(&allow), ip("10.1.3.4")).map_err(|r| r.list), Err(ListKind::Deny));
        assert_eq!(admit(Some(&deny), Some(&allow), ip("192.0.2.1")).map_err(|r| r.list), Err(ListKind::Allow));
        assert!(admit(None, Some(&set(ListKind::Allow, &[])), ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_bare_addresses_and_mapped_addresses_match() {
        let allow = set(ListKind::Allow, &["2001:db8::/32", "203.0.113.7"]);
        assert!(admit(None, Some(&allow), ip("2001:db8::1")).is_ok());
        assert!(admit(None, Some(&allow), ip("203.0.113.7")).is_ok());
        assert!(admit(None, Some(&allow), ip("::ffff:203.0.113.7")).is_ok());
        assert!(admit(None, Some(&allow), ip("2001:db9::1")).is_err());
    }

    #[test]
    fn forwarding_chains_are_walked_from_the_right() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let peer: IpAddr = "10.0.0.1".parse().expect("ip");
        let walk = |hops: Vec<Hop>| client_behind(peer, &hops, &proxies);
        let xff = |lines: &[&str]| walk(forwarded_for_hops(lines.iter().map(|l| Some(*l))));
        // A line the client sent first, then the proxy's: the proxy's entry is the client.
        assert_eq!(xff(&["10.1.1.1", "203.0.113.7"]), ip("203.0.113.7").expect("ip"));
        assert_eq!(xff(&["198.51.100.1, 203.0.113.5, 10.0.0.2"]), ip("203.0.113.5").expect("ip"));
        assert_eq!(xff(&["unknown, 203.0.113.5"]), ip("203.0.113.5").expect("ip"), "left of the client is ignored");
        assert_eq!(xff(&["203.0.113.5, unknown"]), UNREPORTED_CLIENT, "an unparseable hop is the client");
        assert_eq!(xff(&["203.0.113.5:8080", "[2001:db8::7]:443"]), ip("2001:db8::7").expect("ip"));
        assert_eq!(walk(vec![None]), UNREPORTED_CLIENT, "a line that is not text");
        assert_eq!(xff(&[]), peer);
        let fwd = |lines: &[&str]| walk(forwarded_hops(lines.iter().map(|l| Some(*l))));
        assert_eq!(fwd(&["for=192.0.2.60;proto=http;by=203.0.113.43"]), ip("192.0.2.60").expect("ip"));
        assert_eq!(fwd(&["for=10.9.9.9", "For=\"[2001:db8:cafe::17]:4711\""]), ip("2001:db8:cafe::17").expect("ip"));
        assert_eq!(fwd(&["for=192.0.2.60, for=unknown"]), UNREPORTED_CLIENT);
        assert_eq!(fwd(&["for=_hidden"]), UNREPORTED_CLIENT);
        assert_eq!(fwd(&["proto=https"]), UNREPORTED_CLIENT, "an element without for=");
        let outside: IpAddr = "192.0.2.9".parse().expect("ip");
        assert_eq!(client_behind(outside, &[ip("203.0.113.5")], &proxies), outside, "untrusted peer: chain ignored");
    }

    #[test]
    fn bad_entries_are_named_by_line() {
        let rules = vec![
            IpRule { cidr: "10.0.0.0/8".into(), label: None, created_at: None },
            IpRule { cidr: "10.0.0.300/8".into(), label: None, created_at: None },
        ];
        let err = validate_rules("rules", &rules).expect_err("bad").to_string();
        assert!(err.contains("rules[1] (line 2)") && err.contains("10.0.0.300/8"), "{err}");
    }
}
