//! MAP core root. No `std`, no `alloc`, no dependencies: compiled by cargo for userspace and
//! compiled into the kernel module from this same file.
//!
//! - [`prefix`]: IPv4 and IPv6 prefixes.
//! - [`rule`]: mapping rules, their validation, BMR/FMR/reverse address mapping
//!   (RFC 7597 §5, RFC 7599 §5).
//! - [`portset`]: PSIDs and port sets (RFC 7597 §5.1).
//! - [`rfc6052`]: IPv4-embedded IPv6 addresses for the MAP-T DMR (RFC 6052 §2.2).
//! - [`index`]: longest-prefix match over tables of any size, in memory the caller provides.
//! - [`config`]: one instance's configuration and its text form (apply, translate).
//! - [`domain`]: one instance's view of its MAP domain: addresses and RFC 7597 §8.1 checks
//!   for the packet engine, for a CE or BR in MAP-T or MAP-E.
//! - [`genl`]: the generic netlink protocol between the module and `mapminctl`.
//! - [`s46`]: the DHCPv6 options for MAP (RFC 7598), parsed without allocating.
//! - [`text`]: the rule text syntax shared by the config file, `mapminctl rule` and `calc`.

mod bits;
pub mod config;
pub mod domain;
pub mod genl;
pub mod index;
pub mod portset;
pub mod prefix;
pub mod rfc6052;
pub mod rule;
pub mod s46;
pub mod text;
pub mod xlat;

pub use portset::{PortRange, PortRanges, PortSet};
pub use prefix::{Ipv4Prefix, Ipv6Prefix, PrefixError};
pub use rfc6052::{Rfc6052Error, Rfc6052Prefix};
pub use rule::{CeMapping, DecodedAddress, MapError, Mode, Rule, RuleError, RuleParams};
pub use index::{Fmrs, IndexError, IndexShape, RuleIndex};
pub use text::{parse_rule, parse_rule_csv, parse_rule_csv_params, parse_rule_params, TextError, TextErrorKind};
