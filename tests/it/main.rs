//! The one integration test binary of tokctl: a module per area, sharing
//! the harness in [`support`] (real PostgreSQL, Redis, SQLite files and the
//! real `tokctl` binary; see its module docs for the API).

#[macro_use]
mod support;

mod budgets;
mod cli;
mod config;
mod deploy;
mod deploy_kube;
mod deploy_monitoring;
mod docs;
mod gateway;
mod identity;
mod ledger;
mod ledger_export;
mod loadtest;
mod migrate;
mod misconfig;
mod observability;
mod operator;
mod ratelimit;
mod servers;
mod teams;
mod tune;
