//! Egress control: where a call sends data, parsed and classified before the
//! handler runs.
//!
//! The inventory names a tool's destination argument and its form
//! ([`DestinationSpec`]); the gate parses the argument with a real URL parser (the
//! `url` crate, WHATWG rules: IDNA, case, IPv4 in decimal, octal and hex, default
//! ports), strips userinfo, and classifies the host ([`HostClass`]). Policies see
//! the result as `context.destination`.
//!
//! **Names are judged by their name.** The gate does not resolve DNS: a name that
//! resolves to `169.254.169.254` (`169.254.169.254.nip.io`) is `public` here. A
//! handler that connects must connect to an address it checked, or a name can be
//! re-pointed between the check and the connection (DNS rebinding):
//! [`Destination::resolve`] resolves once, refuses any address whose class differs
//! from what the policy allowed, and returns the checked socket addresses to
//! connect to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};

use mcpguard_core::{DEFAULT_URL_SCHEMES, DestinationKind, DestinationSpec};
use url::{Host, Url};

/// What kind of place a host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HostClass {
    /// This machine: `127.0.0.0/8`, `::1`, `0.0.0.0`, `::`, `localhost`.
    Loopback,
    /// A private network: RFC 1918, shared address space (`100.64.0.0/10`),
    /// unique-local IPv6 (`fc00::/7`), and names under `.internal`, `.local`,
    /// `.localdomain`, `.lan`, `.home.arpa`, `.corp`, `.intranet`.
    Private,
    /// Link-local: `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud metadata endpoint, which hands out credentials:
    /// `169.254.169.254`, `169.254.170.2`, `fd00:ec2::254`, `100.100.100.200`,
    /// `metadata.google.internal`, `metadata`, `instance-data`.
    Metadata,
    /// Not a destination on the internet: multicast, broadcast, documentation and
    /// reserved ranges.
    Reserved,
    /// Anything else.
    Public,
}

impl HostClass {
    /// Its name in policies: `loopback`, `private`, `link_local`, `metadata`,
    /// `reserved`, `public`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link_local",
            Self::Metadata => "metadata",
            Self::Reserved => "reserved",
            Self::Public => "public",
        }
    }
}

impl fmt::Display for HostClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a destination cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EgressError {
    message: String,
}

impl EgressError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A parsed, normalised destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    kind: DestinationKind,
    scheme: String,
    host: String,
    ip: Option<IpAddr>,
    port: Option<u16>,
    class: HostClass,
}

/// The most characters of a destination the gate parses.
const MAX_LEN: usize = 4096;

impl Destination {
    /// Parses `text` as a destination of `kind`. A URL must use one of the
    /// default schemes ([`mcpguard_core::DEFAULT_URL_SCHEMES`]); a tool's spec may
    /// widen the list ([`Destination::of_call`]).
    ///
    /// # Errors
    ///
    /// [`EgressError`] when it is empty, too long, not of that form, of a scheme
    /// the tool may not use, or has no host. The message never repeats the text
    /// (it may carry credentials).
    pub fn parse(kind: DestinationKind, text: &str) -> Result<Self, EgressError> {
        Self::parse_with(kind, text, &|scheme| DEFAULT_URL_SCHEMES.contains(&scheme))
    }

    fn parse_with(
        kind: DestinationKind,
        text: &str,
        accepts_scheme: &dyn Fn(&str) -> bool,
    ) -> Result<Self, EgressError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EgressError::new("the destination is empty"));
        }
        if text.len() > MAX_LEN {
            return Err(EgressError::new(format!(
                "the destination is longer than {MAX_LEN} bytes"
            )));
        }
        let (scheme, host, port) = match kind {
            DestinationKind::Url => {
                let url = Url::parse(text)
                    .map_err(|e| EgressError::new(format!("the destination is not a URL ({e})")))?;
                if !accepts_scheme(url.scheme()) {
                    return Err(EgressError::new(scheme_refused(url.scheme())));
                }
                let host = match url
                    .host()
                    .ok_or_else(|| EgressError::new("the URL has no host"))?
                {
                    // A scheme the URL standard does not know keeps its host as an
                    // opaque name: read it as the host an HTTP client would, so an
                    // IP literal in any spelling is an IP.
                    Host::Domain(name) if !url.is_special() => Host::parse(name).map_err(|e| {
                        EgressError::new(format!("the URL's host is not valid ({e})"))
                    })?,
                    host => host.to_owned(),
                };
                (url.scheme().to_owned(), host, url.port_or_known_default())
            }
            DestinationKind::Host => (String::new(), parse_host(text)?, None),
            DestinationKind::HostPort => {
                let (host, port) = split_host_port(text)?;
                (String::new(), parse_host(host)?, Some(port))
            }
            DestinationKind::Email => {
                let (_, domain) = split_mailbox(text)?;
                // An address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321).
                let host = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
                    Some(literal) => literal
                        .strip_prefix("IPv6:")
                        .map_or_else(
                            || literal.parse::<Ipv4Addr>().ok().map(Host::Ipv4),
                            |v6| v6.parse::<Ipv6Addr>().ok().map(Host::Ipv6),
                        )
                        .ok_or_else(|| {
                            EgressError::new("the email address literal is not an IP address")
                        })?,
                    None => parse_host(domain)?,
                };
                ("mailto".to_owned(), host, None)
            }
            _ => {
                return Err(EgressError::new(
                    "this form of destination is not known to this version of the gate",
                ));
            }
        };
        let (host, ip) = match host {
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    return Err(EgressError::new("the destination has an empty host"));
                }
                (name, None)
            }
            Host::Ipv4(v4) => (v4.to_string(), Some(IpAddr::V4(v4))),
            Host::Ipv6(v6) => (v6.to_string(), Some(IpAddr::V6(v6))),
        };
        let class = ip.map_or_else(|| classify_name(&host), classify_ip);
        Ok(Self {
            kind,
            scheme,
            host,
            ip,
            port,
            class,
        })
    }

    /// The destination of a call by a tool's spec: `None` when the argument is
    /// missing or not a string.
    ///
    /// # Errors
    ///
    /// As [`Destination::parse`], and when the argument is missing.
    pub fn of_call(
        spec: &DestinationSpec,
        arguments: &serde_json::Value,
    ) -> Result<Self, EgressError> {
        let text = spec.value_in(arguments).ok_or_else(|| {
            EgressError::new(format!(
                "the destination argument `{}` is missing or not a string",
                spec.argument
            ))
        })?;
        Self::parse_with(spec.kind, text, &|scheme| spec.accepts_scheme(scheme))
    }

    /// Its form.
    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The URL scheme, lowercase (`""` for hosts, `mailto` for email).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host: a lowercase ASCII name (IDNA applied, trailing dot removed) or an
    /// IP address in its canonical form.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The IP address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The address the destination is judged by: the IP address, or the IPv4
    /// address an IPv6 address carries (mapped `::ffff:a.b.c.d`, compatible,
    /// NAT64, 6to4). Policies see this as `context.destination.ip`.
    pub fn judged_ip(&self) -> Option<IpAddr> {
        self.ip.map(|ip| match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        })
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The class of the host.
    pub fn class(&self) -> HostClass {
        self.class
    }

    /// Whether the host is on `allow`: an exact name or IP, or `*.domain` for any
    /// name under `domain` (not `domain` itself). Case and a trailing dot are
    /// ignored; an IP matches only an IP entry.
    pub fn is_allowed(&self, allow: &[String]) -> bool {
        allow.iter().any(|entry| {
            let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
            if let Some(ip) = self.ip {
                let literal = entry.trim_start_matches('[').trim_end_matches(']');
                return literal.parse::<IpAddr>().is_ok_and(|e| e == ip);
            }
            match entry.strip_prefix("*.") {
                Some(domain) => self
                    .host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
                None => self.host == entry,
            }
        })
    }

    /// Resolves the host once and returns the addresses to connect to, refusing
    /// any whose class is not the destination's own (a public name that resolves
    /// to a private, loopback or metadata address is refused). Connect to exactly
    /// these, and do not resolve again.
    ///
    /// # Errors
    ///
    /// The destination has no port, the name does not resolve, or an address of
    /// another class came back.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, EgressError> {
        let port = self
            .port
            .ok_or_else(|| EgressError::new("the destination has no port to connect to"))?;
        let addrs: Vec<SocketAddr> = match self.ip {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => (self.host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| EgressError::new(format!("`{}` does not resolve: {e}", self.host)))?
                .collect(),
        };
        self.checked(addrs)
    }

    /// The addresses a name resolved to, if every one is of the destination's class.
    fn checked(&self, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, EgressError> {
        if addrs.is_empty() {
            return Err(EgressError::new(format!(
                "`{}` resolved to no address",
                self.host
            )));
        }
        if let Some(bad) = addrs.iter().find(|a| classify_ip(a.ip()) != self.class) {
            return Err(EgressError::new(format!(
                "`{}` resolves to {}, a {} address, but was allowed as {}",
                self.host,
                bad.ip(),
                classify_ip(bad.ip()),
                self.class
            )));
        }
        Ok(addrs)
    }
}

/// Splits one email address (an RFC 5321 mailbox, `local@domain`) into its local
/// part and domain. Anything that is not exactly one bare address is refused,
/// since a mail API may read it as several recipients or route it elsewhere: a
/// list (`,` `;`), a display name or angle brackets (`<` `>` `"` spaces),
/// comments (`(` `)`), a quoted local part, source routes and the old relay
/// hacks (`%`, `!`, `:` outside an address literal), escapes (`\`), and a second
/// `@`.
fn split_mailbox(text: &str) -> Result<(&str, &str), EgressError> {
    let (local, domain) = text
        .split_once('@')
        .ok_or_else(|| EgressError::new("an email address has an `@`"))?;
    let literal = domain.starts_with('[') && domain.ends_with(']');
    let one_address = |c: char| {
        matches!(
            c,
            ',' | ';' | '<' | '>' | '"' | '(' | ')' | '\\' | '%' | '!' | '@' | '?' | '&'
        ) || c.is_whitespace()
            || c.is_control()
    };
    if domain.contains(one_address) || (!literal && domain.contains(':')) {
        return Err(EgressError::new(
            "the destination is not exactly one email address: each recipient is checked on \
             its own, so a list, a display name, a route or a second `@` is refused",
        ));
    }
    // The local part is a dot-atom: RFC 5322 atext without the routing
    // characters, and letters of any script (SMTPUTF8).
    let atext = |c: char| {
        c.is_alphanumeric()
            || matches!(
                c,
                '#' | '$'
                    | '\''
                    | '*'
                    | '+'
                    | '-'
                    | '/'
                    | '='
                    | '^'
                    | '_'
                    | '`'
                    | '{'
                    | '|'
                    | '}'
                    | '~'
            )
    };
    let dot_atom = !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext));
    if !dot_atom {
        return Err(EgressError::new(
            "the destination is not exactly one email address: its local part (before the \
             `@`) must be plain letters, digits and `.`, with none of the characters a mail \
             system reads as a list, a name, a quote or a route",
        ));
    }
    Ok((local, domain))
}

/// Why a URL of `scheme` is refused; names the scheme only when it is one.
fn scheme_refused(scheme: &str) -> String {
    format!(
        "the URL scheme `{scheme}` is not one this tool may use ({}, or those in the \
         inventory's `schemes` for the tool)",
        DEFAULT_URL_SCHEMES.join(", ")
    )
}

fn parse_host(text: &str) -> Result<Host, EgressError> {
    // A bare IPv6 address is a host too.
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Ok(Host::Ipv6(v6));
    }
    if text.contains(['/', '?', '#', '@', ' ']) {
        return Err(EgressError::new(
            "a host is a name or an IP address, without scheme, user, path or spaces",
        ));
    }
    Host::parse(text).map_err(|e| EgressError::new(format!("the host is not valid ({e})")))
}

fn split_host_port(text: &str) -> Result<(&str, u16), EgressError> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| EgressError::new("a host and port is written `host:port`"))?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(EgressError::new(
            "an IPv6 address with a port is written `[addr]:port`",
        ));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| EgressError::new("the port is not a number from 0 to 65535"))?;
    Ok((host, port))
}

/// Names with a class of their own; every other name is `public`.
fn classify_name(name: &str) -> HostClass {
    const METADATA: [&str; 5] = [
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    ];
    const PRIVATE_SUFFIXES: [&str; 7] = [
        ".internal",
        ".local",
        ".localdomain",
        ".lan",
        ".home.arpa",
        ".corp",
        ".intranet",
    ];
    if METADATA.contains(&name) {
        return HostClass::Metadata;
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return HostClass::Loopback;
    }
    if PRIVATE_SUFFIXES
        .iter()
        .any(|s| name.ends_with(s) || Some(name) == s.strip_prefix('.'))
    {
        return HostClass::Private;
    }
    HostClass::Public
}

/// The class of an IP address. IPv4 addresses carried in IPv6 (mapped,
/// compatible, NAT64, 6to4) are judged by the IPv4 address.
pub fn classify_ip(ip: IpAddr) -> HostClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> HostClass {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        (169, 254, 169, 254) | (169, 254, 170, 2) | (100, 100, 100, 200) => HostClass::Metadata,
        (127, ..) | (0, ..) => HostClass::Loopback,
        (10, ..) | (192, 168, ..) => HostClass::Private,
        (172, b, ..) if (16..=31).contains(&b) => HostClass::Private,
        (100, b, ..) if (64..=127).contains(&b) => HostClass::Private,
        (169, 254, ..) => HostClass::LinkLocal,
        // Documentation, benchmarking, IETF protocol assignments, multicast,
        // reserved and broadcast.
        (192, 0, 0 | 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => HostClass::Reserved,
        (198, 18 | 19, ..) => HostClass::Reserved,
        (224..=255, ..) => HostClass::Reserved,
        _ => HostClass::Public,
    }
}

/// The IPv4 address an IPv6 address carries, which is what a packet to it
/// reaches: mapped `::ffff:a.b.c.d`, SIIT-translated `::ffff:0:a.b.c.d`,
/// compatible `::a.b.c.d` (not `::` and `::1`), NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::`, and Teredo `2001:0::/32` (the client's address, stored
/// inverted in the last 32 bits).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| {
        let [h0, h1] = hi.to_be_bytes();
        let [l0, l1] = lo.to_be_bytes();
        Ipv4Addr::new(h0, h1, l0, l1)
    };
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo]
        | [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        [0x2001, 0, .., hi, lo] => Some(v4(!hi, !lo)),
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> HostClass {
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return HostClass::Metadata;
    }
    if ip.is_loopback() || ip.is_unspecified() {
        return HostClass::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    match ip.segments() {
        // Local-use NAT64 (RFC 8215): a translator of this network's own, to
        // whatever the address carries; in the /96 form that is the last 32
        // bits. What it reaches is at best a private network.
        [0x64, 0xff9b, 1, .., hi, lo] => {
            let [h0, h1] = hi.to_be_bytes();
            let [l0, l1] = lo.to_be_bytes();
            match classify_v4(Ipv4Addr::new(h0, h1, l0, l1)) {
                HostClass::Public => HostClass::Private,
                inside => inside,
            }
        }
        [first, ..] if first & 0xfe00 == 0xfc00 => HostClass::Private,
        // Site-local (deprecated by RFC 3879, still routed inside some sites).
        [first, ..] if first & 0xffc0 == 0xfec0 => HostClass::Private,
        [first, ..] if first & 0xffc0 == 0xfe80 => HostClass::LinkLocal,
        [first, ..] if first & 0xff00 == 0xff00 => HostClass::Reserved,
        // Documentation, benchmarking, discard-only.
        [0x2001, 0x0db8, ..] | [0x2001, 0x0002, 0, ..] | [0x0100, 0, 0, 0, ..] => {
            HostClass::Reserved
        }
        _ => HostClass::Public,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolving_to_another_class_is_refused() {
        let public = Destination::parse(DestinationKind::HostPort, "api.example.com:443").unwrap();
        assert_eq!(public.class(), HostClass::Public);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        // Rebinding: the public name now points inside.
        for inside in [
            "127.0.0.1:443",
            "10.0.0.7:443",
            "169.254.169.254:443",
            "[::1]:443",
        ] {
            let e = public
                .checked(vec![addr("93.184.215.14:443"), addr(inside)])
                .unwrap_err();
            assert!(e.to_string().contains("resolves to"), "{e}");
        }
        let ok = public.checked(vec![addr("93.184.215.14:443")]).unwrap();
        assert_eq!(ok, vec![addr("93.184.215.14:443")]);
        assert!(public.checked(Vec::new()).is_err());
    }

    #[test]
    fn embedded_ipv4_is_judged_by_it() {
        let c = |s: &str| classify_ip(s.parse().unwrap());
        assert_eq!(c("::ffff:127.0.0.1"), HostClass::Loopback);
        assert_eq!(c("::ffff:169.254.169.254"), HostClass::Metadata);
        assert_eq!(c("64:ff9b::10.0.0.1"), HostClass::Private);
        assert_eq!(c("2002:a9fe:a9fe::"), HostClass::Metadata);
        assert_eq!(c("2606:4700::1111"), HostClass::Public);
    }
}
