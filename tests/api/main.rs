//! Integration tests: the real service against real Postgres and NATS, spoken to over HTTP.
//! One binary with modules, so the suite links once.

mod helpers;
mod support;

mod associate;
mod auth;
mod bad_input;
mod cache;
mod cli;
mod connections;
mod contribution_rules;
mod dashboard;
mod degradation;
mod durability;
mod events;
mod instances;
mod layout;
mod metrics;
mod migrations;
mod model;
mod nats_auth;
mod ops;
mod own_registration;
mod postedit;
mod privacy;
mod recheck;
mod report;
mod reports;
mod shutdown;
mod signin;
mod streams;
mod warm_up;
