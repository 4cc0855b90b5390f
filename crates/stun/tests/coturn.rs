//! Loopback tests against coturn: see below.
