//! Spend budgets (#34) with the real stores: the limiter's budget part
//! against a real Redis and a real ledger database (two limiters stand for
//! two gateways), Redis flushed or stopped, and windows that reset.

mod gateway;
mod shared;
