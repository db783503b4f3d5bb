//! Arbitrary text as a tool's destination argument, of every form: an error or
//! a destination, never a panic. A parsed email destination was exactly one
//! address (one `@`, none of the characters that make a list, a display name or
//! a route); an IP destination's class is its address's; an IPv6 address that
//! carries an IPv4 one is judged as that one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpguard_core::DestinationKind;
use mcpguard_policy::{Destination, classify_ip};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for kind in [
        DestinationKind::Url,
        DestinationKind::Host,
        DestinationKind::HostPort,
        DestinationKind::Email,
    ] {
        let Ok(destination) = Destination::parse(kind, &text) else {
            continue;
        };
        if kind == DestinationKind::Email {
            let address = text.trim();
            assert_eq!(address.matches('@').count(), 1, "one address: {address:?}");
            assert!(
                !address.contains([',', ';', '<', '>', '"', '(', ')', '%', '!', '\\', ' ']),
                "a list, a name or a route passed: {address:?}"
            );
        }
        if let Some(ip) = destination.judged_ip() {
            assert_eq!(classify_ip(ip), destination.class(), "{text:?}");
        }
        if let Some(ip) = destination.ip() {
            assert_eq!(classify_ip(ip), destination.class(), "{text:?}");
        }
    }
});
