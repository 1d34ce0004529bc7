//! `RuntimeGrants`: the named capability families a tenant's code may use.
//!
//! Grants are empty by default. Every [`crate::HostCall`] belongs to exactly one family and is
//! checked before it reaches the bridge, so a call outside the grants fails closed with an error
//! naming the missing grant.

use std::collections::BTreeSet;

/// A family of host capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantFamily {
    /// Reading and writing the tenant's documents (`1.0/get`, `1.0/insert`, queries, ...).
    Database,
    /// Calling other functions (`runQuery`, `runMutation`, `runAction`).
    Functions,
    /// Scheduling and cancelling jobs.
    Scheduler,
    /// Reading the caller's identity and request metadata.
    Identity,
    /// File storage.
    Storage,
    /// Outbound network access (`fetch`).
    Network,
    /// Reading the tenant's configured environment variables.
    Env,
    /// Reading secrets.
    Secrets,
}

impl GrantFamily {
    /// Every family, for building "grant everything" policies in tools and tests.
    pub const ALL: [GrantFamily; 8] = [
        Self::Database,
        Self::Functions,
        Self::Scheduler,
        Self::Identity,
        Self::Storage,
        Self::Network,
        Self::Env,
        Self::Secrets,
    ];

    /// Lower-case name used in errors and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Functions => "functions",
            Self::Scheduler => "scheduler",
            Self::Identity => "identity",
            Self::Storage => "storage",
            Self::Network => "network",
            Self::Env => "env",
            Self::Secrets => "secrets",
        }
    }
}

/// The set of granted families. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeGrants {
    families: BTreeSet<GrantFamily>,
}

impl RuntimeGrants {
    /// No grants.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every family granted.
    pub fn all() -> Self {
        Self {
            families: GrantFamily::ALL.into_iter().collect(),
        }
    }

    /// Adds one family.
    pub fn with(mut self, family: GrantFamily) -> Self {
        self.families.insert(family);
        self
    }

    /// Whether `family` is granted.
    pub fn allows(&self, family: GrantFamily) -> bool {
        self.families.contains(&family)
    }

    /// The granted families.
    pub fn families(&self) -> impl Iterator<Item = GrantFamily> + '_ {
        self.families.iter().copied()
    }
}
