//! Egress control: destinations parsed, classified and decided by the baseline
//! pack, row by row, including the classic SSRF spellings; and a property test that
//! no string in a destination argument panics or is allowed to a non-public class.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use mcpguard_core::{DestinationKind, Inventory, Tier};
use mcpguard_policy::{Destination, Gate, HostClass, Principal, ToolCall, Verdict};
use proptest::prelude::*;
use serde_json::{Value, json};

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "net"
owner = "platform"
transport = "stdio"
credential = "none"
data_classes = ["public"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "fetch"
actions = ["read", "egress"]
reach = "public"
untrusted_output = true
destination = { argument = "url", kind = "url", allow = ["docs.rs", "*.github.com", "93.184.215.14"] }

[[servers.tools]]
name = "fetch_ftp"
actions = ["read", "egress"]
reach = "public"
untrusted_output = true
destination = { argument = "url", kind = "url", allow = ["docs.rs"], schemes = ["ftp", "sftp"] }

[[servers.tools]]
name = "connect"
actions = ["read", "egress"]
reach = "public"
destination = { argument = "/target/address", kind = "host_port", allow = ["db.example.com"] }

[[servers.tools]]
name = "mail"
actions = ["egress"]
reach = "public"
destination = { argument = "to", kind = "email", allow = ["example.com"] }

[[servers.tools]]
name = "lookup"
actions = ["read"]
reach = "internal"
destination = { argument = "host", kind = "host" }

[[servers.tools]]
name = "local"
actions = ["read"]
reach = "none"
"#;

fn gate(tier: Tier) -> Gate {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "egress.toml").unwrap())
        .tier(tier)
        .build()
        .unwrap()
}

/// A gate of `tier` with the baseline and `extra` policies.
fn gate_with(tier: Tier, extra: &str) -> Gate {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "egress.toml").unwrap())
        .tier(tier)
        .policies(mcpguard_policy::PolicySource::baseline().with_str("egress.cedar", extra))
        .build()
        .unwrap()
}

/// `fetch` of `url` as `ana`, decided by `gate`.
fn fetch(gate: &Gate, url: &str) -> mcpguard_policy::Decision {
    gate.authorize(
        &ToolCall::new(Principal::new("ana"), "net", "fetch").arguments(json!({ "url": url })),
    )
}

fn arguments(tool: &str, destination: &str) -> Value {
    match tool {
        "fetch" | "fetch_ftp" => json!({ "url": destination }),
        "connect" => json!({ "target": { "address": destination } }),
        "mail" => json!({ "to": destination, "body": "hi" }),
        "lookup" => json!({ "host": destination }),
        _ => panic!("no tool {tool}"),
    }
}

fn kind(tool: &str) -> DestinationKind {
    match tool {
        "fetch" | "fetch_ftp" => DestinationKind::Url,
        "connect" => DestinationKind::HostPort,
        "mail" => DestinationKind::Email,
        _ => DestinationKind::Host,
    }
}

/// tool, destination, class (`-` when it does not parse), verdict in the team tier
/// (A Allow, R RequireApproval, D Deny).
const TABLE: &[(&str, &str, &str, char)] = &[
    // Allowlisted, in their spellings.
    ("fetch", "https://docs.rs/serde", "public", 'A'),
    ("fetch", "https://DOCS.RS./serde", "public", 'A'),
    ("fetch", "https://docs.rs:8443/x", "public", 'A'),
    ("fetch", "https://api.github.com/repos/o/r", "public", 'A'),
    (
        "fetch",
        "https://raw.GitHub.com/o/r/main/README.md",
        "public",
        'A',
    ),
    ("fetch", "http://93.184.215.14/", "public", 'A'),
    // A scheme the tool may not use does not parse, whatever the host.
    ("fetch", "ftp://docs.rs/pub", "-", 'D'),
    // Public, not on the list: a person approves.
    ("fetch", "https://github.com/", "public", 'R'),
    ("fetch", "https://evilgithub.com/", "public", 'R'),
    ("fetch", "https://github.com.evil.example/", "public", 'R'),
    ("fetch", "https://docs.rs.evil.example/", "public", 'R'),
    ("fetch", "http://93.184.215.15/", "public", 'R'),
    ("fetch", "http://172.32.0.1/", "public", 'R'),
    ("fetch", "http://01.02.03.04/", "public", 'R'),
    ("fetch", "https://bücher.example/", "public", 'R'),
    ("fetch", "https://xn--bcher-kva.example/", "public", 'R'),
    // Userinfo and delimiter tricks: the host is what a client connects to.
    ("fetch", "http://docs.rs@evil.example/", "public", 'R'),
    ("fetch", "http://docs.rs:pass@evil.example/", "public", 'R'),
    ("fetch", "http://evil.example#@docs.rs/", "public", 'R'),
    ("fetch", "http://evil.example?@docs.rs/", "public", 'R'),
    ("fetch", "http://evil.example\\@docs.rs/", "public", 'R'),
    ("fetch", "http://docs.rs@127.0.0.1/", "loopback", 'D'),
    // Names are judged by their name (no DNS here; see Destination::resolve).
    ("fetch", "http://169.254.169.254.nip.io/", "public", 'R'),
    ("fetch", "http://127.0.0.1.nip.io/", "public", 'R'),
    // Loopback in every spelling.
    ("fetch", "http://127.0.0.1/", "loopback", 'D'),
    ("fetch", "http://127.1/", "loopback", 'D'),
    ("fetch", "http://127.0.1/", "loopback", 'D'),
    ("fetch", "http://0x7f000001/", "loopback", 'D'),
    ("fetch", "http://0x7f.0.0.1/", "loopback", 'D'),
    ("fetch", "http://2130706433/", "loopback", 'D'),
    ("fetch", "http://017700000001/", "loopback", 'D'),
    ("fetch", "http://0177.0.0.1/", "loopback", 'D'),
    ("fetch", "http://127.255.255.254:8080/", "loopback", 'D'),
    ("fetch", "http://[::1]/", "loopback", 'D'),
    ("fetch", "http://[0:0:0:0:0:0:0:1]/", "loopback", 'D'),
    ("fetch", "http://[::ffff:127.0.0.1]/", "loopback", 'D'),
    ("fetch", "http://[::ffff:7f00:1]/", "loopback", 'D'),
    ("fetch", "http://[64:ff9b::7f00:1]/", "loopback", 'D'),
    ("fetch", "http://[2002:7f00:1::]/", "loopback", 'D'),
    // SIIT (`::ffff:0:a.b.c.d`), Teredo (client address inverted in the last
    // 32 bits) and local-use NAT64 reach the IPv4 address they carry (these
    // were classed public).
    ("fetch", "http://[::ffff:0:7f00:1]/", "loopback", 'D'),
    (
        "fetch",
        "http://[::ffff:0:169.254.169.254]/",
        "metadata",
        'D',
    ),
    (
        "fetch",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "loopback",
        'D',
    ),
    ("fetch", "http://[2001::5601:5601]/", "metadata", 'D'),
    ("fetch", "http://[64:ff9b:1::a9fe:a9fe]/", "metadata", 'D'),
    ("fetch", "http://[64:ff9b:1::7f00:1]/", "loopback", 'D'),
    ("fetch", "http://[64:ff9b:1::5db8:d70e]/", "private", 'D'),
    ("fetch", "http://[fec0::1]/", "private", 'D'),
    ("fetch", "http://[fefe::1]/", "private", 'D'),
    ("fetch", "http://[100::1]/", "reserved", 'D'),
    ("fetch", "http://localhost:3000/", "loopback", 'D'),
    ("fetch", "http://LOCALHOST./", "loopback", 'D'),
    ("fetch", "http://api.localhost/", "loopback", 'D'),
    ("fetch", "http://0.0.0.0/", "loopback", 'D'),
    ("fetch", "http://0/", "loopback", 'D'),
    ("fetch", "http://[::]/", "loopback", 'D'),
    // Private networks.
    ("fetch", "http://10.0.0.1/", "private", 'D'),
    ("fetch", "http://10.255.255.255/", "private", 'D'),
    ("fetch", "http://172.16.5.4/", "private", 'D'),
    ("fetch", "http://172.31.255.255/", "private", 'D'),
    ("fetch", "http://192.168.1.1/", "private", 'D'),
    ("fetch", "http://0xc0a80101/", "private", 'D'),
    ("fetch", "http://100.64.0.1/", "private", 'D'),
    ("fetch", "http://[fd12:3456::1]/", "private", 'D'),
    ("fetch", "http://[fc00::1]/", "private", 'D'),
    ("fetch", "http://[::ffff:10.0.0.1]/", "private", 'D'),
    ("fetch", "http://db.internal/", "private", 'D'),
    ("fetch", "http://printer.local/", "private", 'D'),
    ("fetch", "http://router.home.arpa/", "private", 'D'),
    // Cloud metadata.
    (
        "fetch",
        "http://169.254.169.254/latest/meta-data/",
        "metadata",
        'D',
    ),
    (
        "fetch",
        "http://169.254.170.2/v2/credentials",
        "metadata",
        'D',
    ),
    ("fetch", "http://0xa9fea9fe/", "metadata", 'D'),
    ("fetch", "http://2852039166/", "metadata", 'D'),
    ("fetch", "http://0251.0376.0251.0376/", "metadata", 'D'),
    ("fetch", "http://[::ffff:169.254.169.254]/", "metadata", 'D'),
    ("fetch", "http://[fd00:ec2::254]/", "metadata", 'D'),
    ("fetch", "http://100.100.100.200/", "metadata", 'D'),
    (
        "fetch",
        "http://metadata.google.internal/computeMetadata/v1/",
        "metadata",
        'D',
    ),
    (
        "fetch",
        "http://Metadata.Google.Internal./",
        "metadata",
        'D',
    ),
    // Link-local and reserved.
    ("fetch", "http://169.254.1.1/", "link_local", 'D'),
    ("fetch", "http://[fe80::1]/", "link_local", 'D'),
    ("fetch", "http://224.0.0.1/", "reserved", 'D'),
    ("fetch", "http://255.255.255.255/", "reserved", 'D'),
    ("fetch", "http://192.0.2.10/", "reserved", 'D'),
    ("fetch", "http://[2001:db8::1]/", "reserved", 'D'),
    ("fetch", "http://[ff02::1]/", "reserved", 'D'),
    // Not parseable: denied.
    ("fetch", "", "-", 'D'),
    ("fetch", "not a url", "-", 'D'),
    ("fetch", "docs.rs/serde", "-", 'D'),
    ("fetch", "http://", "-", 'D'),
    ("fetch", "http://[::1", "-", 'D'),
    ("fetch", "http://256.256.256.256/", "-", 'D'),
    ("fetch", "http://exa mple.com/", "-", 'D'),
    ("fetch", "file:///etc/passwd", "-", 'D'),
    ("fetch", "javascript:alert(1)", "-", 'D'),
    ("fetch", "mailto:ops@docs.rs", "-", 'D'),
    // host:port.
    ("connect", "db.example.com:5432", "public", 'A'),
    ("connect", "DB.example.com.:5432", "public", 'A'),
    ("connect", "replica.example.com:5432", "public", 'R'),
    ("connect", "10.0.0.5:5432", "private", 'D'),
    ("connect", "[::1]:22", "loopback", 'D'),
    ("connect", "0x7f000001:6379", "loopback", 'D'),
    ("connect", "169.254.169.254:80", "metadata", 'D'),
    ("connect", "db.example.com", "-", 'D'),
    ("connect", "::1:22", "-", 'D'),
    ("connect", "db.example.com:99999", "-", 'D'),
    ("connect", "user@db.example.com:5432", "-", 'D'),
    // Email: the domain is the destination.
    ("mail", "ops@example.com", "public", 'A'),
    ("mail", "Ops@Example.COM", "public", 'A'),
    ("mail", "ops@evil.example", "public", 'R'),
    // Exactly one bare address, or it cannot be checked: a second recipient,
    // a display name, a quoted local part or a route is refused whatever its
    // last domain (these passed as `example.com` before).
    ("mail", "\"a@b\"@evil.example", "-", 'D'),
    ("mail", "x@evil.com,a@example.com", "-", 'D'),
    ("mail", "x@evil.com;a@example.com", "-", 'D'),
    ("mail", "<x@evil.com>,a@example.com", "-", 'D'),
    ("mail", "x%evil.com@example.com", "-", 'D'),
    ("mail", "x@evil.com a@example.com", "-", 'D'),
    ("mail", "Ops <ops@example.com>", "-", 'D'),
    ("mail", "evil.com!x@example.com", "-", 'D'),
    ("mail", "@evil.com:x@example.com", "-", 'D'),
    ("mail", "x(comment)@example.com", "-", 'D'),
    ("mail", "x@example.com\nbcc: y@evil.com", "-", 'D'),
    ("mail", "a..b@example.com", "-", 'D'),
    ("mail", ".a@example.com", "-", 'D'),
    ("mail", "first.last+tag@example.com", "public", 'A'),
    ("mail", "o'brien@example.com", "public", 'A'),
    ("mail", "josé@example.com", "public", 'A'),
    ("mail", "ops@[127.0.0.1]", "loopback", 'D'),
    ("mail", "ops@[IPv6:::1]", "loopback", 'D'),
    ("mail", "ops@[evil.example]", "-", 'D'),
    ("mail", "ops@mail.internal", "private", 'D'),
    ("mail", "no-at-sign", "-", 'D'),
    ("mail", "@example.com", "-", 'D'),
    // A tool with internal reach may reach private hosts (with approval in team),
    // never metadata.
    ("lookup", "10.0.0.1", "private", 'R'),
    ("lookup", "::1", "loopback", 'R'),
    ("lookup", "example.com", "public", 'R'),
    ("lookup", "169.254.169.254", "metadata", 'D'),
    ("lookup", "metadata.google.internal", "metadata", 'D'),
    ("lookup", "example.com/path", "-", 'D'),
];

fn verdict(v: Verdict) -> char {
    match v {
        Verdict::Allow => 'A',
        Verdict::RequireApproval => 'R',
        Verdict::Deny => 'D',
    }
}

#[test]
fn destination_table() {
    assert!(TABLE.len() >= 60, "{} rows", TABLE.len());
    let team = gate(Tier::Team);
    let personal = gate(Tier::Personal);
    let mut wrong = Vec::new();
    for &(tool, text, class, expected) in TABLE {
        let parsed = Destination::parse(kind(tool), text);
        let got_class = parsed.as_ref().map_or("-", |d| d.class().as_str());
        let call =
            ToolCall::new(Principal::new("ana"), "net", tool).arguments(arguments(tool, text));
        let got = verdict(team.authorize(&call).verdict());
        if got_class != class || got != expected {
            wrong.push(format!(
                "{tool} {text:?}: class {got_class} (want {class}), team {got} (want {expected})"
            ));
        }
        // The personal tier waives the allowlist (the only approval these tools
        // ask for), nothing else.
        let personal_expected = if expected == 'R' { 'A' } else { expected };
        let got = verdict(personal.authorize(&call).verdict());
        if got != personal_expected {
            wrong.push(format!(
                "personal {tool} {text:?}: {got} (want {personal_expected})"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// SSRF through schemes an HTTP client would never speak: every one is denied in
/// every tier, whatever the host; the same hosts over `http` are classed as IPs.
#[test]
fn ssrf_through_other_url_schemes_is_denied() {
    let schemes = [
        "gopher", "GoPhEr", "dict", "DICT", "ldap", "ldaps", "redis", "sftp", "ftp", "tftp", "git",
        "file", "jar", "netdoc", "ssh", "telnet", "smb", "mysql", "postgres",
    ];
    let hosts = [
        "169.254.169.254",
        "127.0.0.1",
        "0x7f000001",
        "2130706433",
        "[::1]",
        "[::ffff:169.254.169.254]",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.1.1",
        "[fd00:ec2::254]",
        "metadata.google.internal",
        "224.0.0.1",
        "192.0.2.1",
        "[fe80::1]",
        "docs.rs",
        "93.184.215.14",
    ];
    let gates = [
        gate(Tier::Personal),
        gate(Tier::Team),
        gate(Tier::Production),
    ];
    let mut wrong = Vec::new();
    for scheme in schemes {
        for host in hosts {
            let url = format!("{scheme}://{host}:6379/_GET%20/latest");
            let call = ToolCall::new(Principal::new("ana"), "net", "fetch")
                .arguments(json!({ "url": url }));
            for g in &gates {
                let d = g.authorize(&call);
                if d.verdict() != Verdict::Deny
                    || !d
                        .policy_ids()
                        .iter()
                        .any(|p| p == "unparseable-destination")
                {
                    wrong.push(format!("{:?} {url}: {:?}", g.tier(), d.verdict()));
                }
            }
            // `jar:` and `netdoc:` are URLs inside URLs in some clients.
            let nested = format!("{scheme}:http://{host}/x!/y");
            let call = ToolCall::new(Principal::new("ana"), "net", "fetch")
                .arguments(json!({ "url": nested }));
            if gates[0].authorize(&call).verdict() != Verdict::Deny {
                wrong.push(format!("personal {nested}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} allowed:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // `http` to a public name is still allowed where it was.
    let call = ToolCall::new(Principal::new("ana"), "net", "fetch")
        .arguments(json!({ "url": "http://docs.rs/x" }));
    assert_eq!(gates[1].authorize(&call).verdict(), Verdict::Allow);
    assert_eq!(gates[0].authorize(&call).verdict(), Verdict::Allow);
}

/// A tool whose inventory widens its schemes may use them, and an IP literal in
/// the host of a scheme the URL standard does not know is read as an IP.
#[test]
fn widened_schemes_still_class_ip_literals() {
    let team = gate(Tier::Team);
    let personal = gate(Tier::Personal);
    let decide = |g: &Gate, url: &str| {
        let call = ToolCall::new(Principal::new("ana"), "net", "fetch_ftp")
            .arguments(json!({ "url": url }));
        g.authorize(&call).verdict()
    };
    assert_eq!(decide(&team, "ftp://docs.rs/pub"), Verdict::Allow);
    assert_eq!(decide(&team, "sftp://docs.rs/pub"), Verdict::Allow);
    assert_eq!(decide(&team, "https://docs.rs/"), Verdict::Allow);
    assert_eq!(decide(&personal, "sftp://other.example/"), Verdict::Allow);
    for url in [
        "sftp://169.254.169.254/",
        "sftp://0xa9fea9fe/",
        "sftp://2852039166/",
        "sftp://127.1/",
        "sftp://0177.0.0.1:22/",
        "sftp://[::1]/",
        "sftp://[::ffff:127.0.0.1]/",
        "sftp://%31%32%37.0.0.1/",
        "SFTP://10.0.0.1/",
        "ftp://192.168.0.1/",
    ] {
        assert_eq!(decide(&personal, url), Verdict::Deny, "{url}");
        assert_eq!(decide(&team, url), Verdict::Deny, "{url}");
    }
    assert_eq!(decide(&personal, "gopher://docs.rs/"), Verdict::Deny);
    // The inventory refuses a scheme that is not one, or `schemes` on a host.
    for bad in [
        r#"destination = { argument = "url", kind = "url", schemes = ["ftp://"] }"#,
        r#"destination = { argument = "h", kind = "host", schemes = ["ftp"] }"#,
    ] {
        let text = format!(
            "version = 1\n[[servers]]\nid = \"s\"\nowner = \"o\"\ntransport = \"stdio\"\ncredential = \"none\"\ndata_classes = [\"public\"]\nprovenance = {{ kind = \"first_party\" }}\n[[servers.tools]]\nname = \"t\"\nactions = [\"egress\"]\nreach = \"public\"\n{bad}\n"
        );
        let e = Inventory::from_toml_str(&text, "bad.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schemes"), "{e}");
    }
}

/// `[::ffff:a.b.c.d]` reaches policies as the IPv4 address it carries (Cedar's
/// `ip()` takes no dotted IPv6), instead of failing every call's context.
#[test]
fn ipv4_mapped_addresses_reach_policies_as_ipv4() {
    let gate = gate_with(
        Tier::Personal,
        r#"
        @id("no-test-net")
        @reason("the test network is off limits")
        forbid (principal, action == Mcp::Action::"call_tool", resource)
        when { context.destination has ip && context.destination.ip.isInRange(ip("93.184.215.0/24")) };
        "#,
    );
    let decide = |url: &str| fetch(&gate, url);
    for url in [
        "http://[::ffff:93.184.215.14]/",
        "http://[::ffff:5db8:d70e]/",
        "http://[64:ff9b::93.184.215.14]/",
    ] {
        let d = decide(url);
        assert!(d.errors().is_empty(), "{url}: {:?}", d.errors());
        assert!(
            d.policy_ids().iter().any(|p| p == "no-test-net"),
            "{url}: {d:?}"
        );
    }
    let d = decide("http://[2606:4700::1111]/");
    assert_eq!(d.verdict(), Verdict::Allow, "{d:?}");
    let d = Destination::parse(DestinationKind::Url, "http://[::ffff:10.0.0.1]/").unwrap();
    assert_eq!(d.judged_ip(), Some("10.0.0.1".parse().unwrap()));
    assert_eq!(d.ip(), Some("::ffff:10.0.0.1".parse().unwrap()));
}

#[test]
fn missing_or_mistyped_destinations_are_denied() {
    let team = gate(Tier::Team);
    for args in [
        json!({}),
        json!({ "url": 7 }),
        json!({ "url": null }),
        json!({ "url": ["https://docs.rs"] }),
    ] {
        let call = ToolCall::new(Principal::new("ana"), "net", "fetch").arguments(args.clone());
        let d = team.authorize(&call);
        assert_eq!(d.verdict(), Verdict::Deny, "{args}");
        assert!(
            d.policy_ids()
                .iter()
                .any(|p| p == "unparseable-destination"),
            "{d:?}"
        );
    }
    // A tool without a destination spec is not affected.
    let call = ToolCall::new(Principal::new("ana"), "net", "local")
        .arguments(json!({ "url": "http://127.0.0.1/" }));
    assert_eq!(team.authorize(&call).verdict(), Verdict::Allow);
}

#[test]
fn policies_see_the_destination_and_its_ip() {
    let gate = gate_with(
        Tier::Team,
        r#"
        @id("no-test-net")
        @reason("the test network is off limits")
        forbid (principal, action == Mcp::Action::"call_tool", resource)
        when { context.destination has ip && context.destination.ip.isInRange(ip("93.184.215.0/24")) };

        @id("https-only")
        @reason("URLs must use https")
        forbid (principal, action == Mcp::Action::"call_tool", resource)
        when { context.destination.kind == "url" && context.destination.valid && context.destination.scheme != "https" };
        "#,
    );
    let decide = |url: &str| fetch(&gate, url);
    let d = decide("https://93.184.215.14/");
    assert!(d.policy_ids().iter().any(|p| p == "no-test-net"), "{d:?}");
    let d = decide("http://docs.rs/");
    assert!(d.policy_ids().iter().any(|p| p == "https-only"), "{d:?}");
    assert_eq!(decide("https://docs.rs/").verdict(), Verdict::Allow);
}

#[test]
fn resolve_returns_checked_addresses_only() {
    let d = Destination::parse(DestinationKind::Url, "http://127.0.0.1:8080/").unwrap();
    let addrs = d.resolve().unwrap();
    assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
    // `localhost` is loopback by name and resolves to loopback: consistent.
    let d = Destination::parse(DestinationKind::Url, "http://localhost:8080/").unwrap();
    assert!(d.resolve().unwrap().iter().all(|a| a.ip().is_loopback()));
    // Without a port there is nothing to connect to.
    let d = Destination::parse(DestinationKind::Host, "example.com").unwrap();
    assert!(d.resolve().unwrap_err().to_string().contains("no port"));
    let d = Destination::parse(DestinationKind::HostPort, "localhost.:80").unwrap();
    assert_eq!(d.class(), HostClass::Loopback);
    // A name judged public by its name that resolves to a non-public address is
    // refused (rebinding). Without DNS: this machine's own name, which /etc/hosts
    // usually maps to a loopback or private address.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    let Ok(d) = Destination::parse(DestinationKind::HostPort, &format!("{name}:80")) else {
        return;
    };
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(name, 80))
        .map(Iterator::collect)
        .unwrap_or_default();
    let checked = d.resolve();
    if d.class() == HostClass::Public
        && addrs
            .iter()
            .any(|a| mcpguard_policy::classify_ip(a.ip()) != HostClass::Public)
    {
        let e = checked.unwrap_err().to_string();
        assert!(e.contains("resolves to"), "{e}");
    } else if let Ok(ok) = checked {
        assert!(
            ok.iter()
                .all(|a| mcpguard_policy::classify_ip(a.ip()) == d.class())
        );
    }
}

/// Strings shaped like destinations, with the hosts SSRF payloads use.
fn destination_like() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        Just("127.0.0.1".to_owned()),
        Just("0x7f000001".to_owned()),
        Just("2130706433".to_owned()),
        Just("0177.1".to_owned()),
        Just("[::ffff:127.0.0.1]".to_owned()),
        Just("169.254.169.254".to_owned()),
        Just("[fd00:ec2::254]".to_owned()),
        Just("10.1.2.3".to_owned()),
        Just("localhost".to_owned()),
        Just("docs.rs".to_owned()),
        Just("api.github.com".to_owned()),
        "[a-z0-9.-]{1,20}",
        "[0-9]{1,10}",
        "0x[0-9a-f]{1,8}",
        "\\[[0-9a-f:.]{2,30}\\]",
    ];
    let user = prop_oneof![
        Just(String::new()),
        "[a-z.:@#?/\\\\]{0,12}@".prop_map(|s| s)
    ];
    prop_oneof![
        (
            prop_oneof![
                Just("http"),
                Just("https"),
                Just("ftp"),
                Just("file"),
                Just("gopher")
            ],
            user,
            host,
            prop_oneof![
                Just(String::new()),
                "[0-9]{1,6}".prop_map(|p| format!(":{p}"))
            ],
            "[ -~]{0,12}",
        )
            .prop_map(|(s, u, h, p, rest)| format!("{s}://{u}{h}{p}/{rest}")),
        any::<String>(),
        "[ -~]{0,40}",
    ]
}

static GATES: std::sync::LazyLock<[Gate; 2]> =
    std::sync::LazyLock::new(|| [gate(Tier::Personal), gate(Tier::Team)]);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_string_is_allowed_to_a_non_public_class(text in destination_like()) {
        for gate in GATES.iter() {
            for tool in ["fetch", "connect", "mail"] {
                let call = ToolCall::new(Principal::new("ana"), "net", tool).arguments(arguments(tool, &text));
                let decision = gate.authorize(&call);
                if decision.verdict() == Verdict::Allow {
                    let d = Destination::parse(kind(tool), &text);
                    prop_assert!(
                        d.as_ref().is_ok_and(|d| d.class() == HostClass::Public),
                        "{tool} {text:?} allowed as {d:?}"
                    );
                }
            }
        }
    }
}
