//! A configuration file read whole: the settings and the FMRs (any number: a BR's domain),
//! indexed as the device will index them, so that a table the device would refuse is refused
//! here first, naming the lines at fault.

use std::fmt;
use std::sync::atomic::AtomicU16;

use mapcore::config::{Config, FileErrorKind};
use mapcore::domain::{Derived, Domain};
use mapcore::genl::MAX_FMRS;
use mapcore::index::{slots_needed, Fmrs, IndexError};
use mapcore::xlat::DropReason;
use mapcore::Rule;

pub struct ConfigFile {
    pub config: Config,
    pub fmrs: Fmrs<Vec<Rule>, Vec<u32>>,
    /// What the packet engine derives from the two, as a device does when it publishes them.
    derived: Derived,
}

impl ConfigFile {
    /// Parses the text form; errors say the line ("line 7: ...").
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let mut rules = Vec::new();
        let mut lines = Vec::new();
        let config = Config::parse_with(text, |rule, line| {
            if rules.len() == MAX_FMRS {
                return Err(FileErrorKind::TooManyFmrs(MAX_FMRS));
            }
            rules.push(rule);
            lines.push(line);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let slots = vec![0; slots_needed(rules.len())];
        let fmrs = Fmrs::build(rules, slots, rand_seed()).map_err(|e| match e {
            IndexError::SameIpv6Prefix { rule, other } => {
                format!("line {}: fmr: the IPv6 prefix of the fmr on line {}", lines[rule], lines[other])
            }
            IndexError::SameIpv4Prefix { rule, other } => format!(
                "line {}: fmr: the IPv4 prefix of the fmr on line {}, with ports that overlap",
                lines[rule], lines[other]
            ),
            e => e.to_string(),
        })?;
        let derived = Derived::of(&config, fmrs.len());
        Ok(ConfigFile { config, fmrs, derived })
    }

    /// The packet engine over this configuration (`mapminctl translate`).
    pub fn domain<'a>(&'a self, ident: &'a AtomicU16) -> Result<Domain<'a>, DropReason> {
        Domain::with_derived(&self.config, self.fmrs.index(), &self.derived, ident)
    }

    pub fn rules(&self) -> &[Rule] {
        self.fmrs.rules()
    }
}

impl fmt::Display for ConfigFile {
    /// The text form, which [`ConfigFile::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.config.text(self.fmrs.rules()))
    }
}

/// A seed for the index's hash that differs from run to run (the kernel draws its own).
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BR: &str = "role br\nmode t\ndmr 64:ff9b::/96\n";

    #[test]
    fn conflicting_fmrs_name_both_lines() {
        let text = format!(
            "{BR}fmr 2001:db8:1::/48 10.0.1.0/24 ea-len 8\nfmr 2001:db8:2::/48 10.0.2.0/24 ea-len 8\n# x\nfmr 2001:db8:1::/48 10.0.3.0/24 ea-len 8\n"
        );
        let e = ConfigFile::parse(&text).err().unwrap();
        assert_eq!(e, "line 7: fmr: the IPv6 prefix of the fmr on line 4");
        let text = format!("{BR}fmr 2001:db8:1::/48 10.0.1.0/24 ea-len 8\nfmr 2001:db8:2::/48 10.0.1.0/24 ea-len 8\n");
        let e = ConfigFile::parse(&text).err().unwrap();
        assert_eq!(e, "line 5: fmr: the IPv4 prefix of the fmr on line 4, with ports that overlap");
    }

    #[test]
    fn a_table_over_the_limit_is_refused_at_its_first_line_too_many() {
        // (the same rule every time: the count is refused before the table is built)
        let text = format!("{BR}{}", "fmr 2001:db8::/48 10.0.0.0/24 ea-len 8\n".repeat(MAX_FMRS + 1));
        let e = ConfigFile::parse(&text).err().unwrap();
        assert_eq!(e, format!("line {}: more than {MAX_FMRS} fmr lines", MAX_FMRS + 4));
    }
}
