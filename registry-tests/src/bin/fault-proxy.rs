//! `fault-proxy UPSTREAM RATE [ROUND_TRIP_MS]`: the tests' fault proxy as a
//! process, standing for a slow link between a client and a registry (for
//! scripts/bench): every answer from `UPSTREAM` (`host:port`, plain HTTP)
//! waits `ROUND_TRIP_MS` (default 0) and all answers share `RATE` bytes per
//! second. Prints the `host:port` to use on its first line, then serves until
//! killed.

use std::io::Write;
use std::time::Duration;

use registry_tests::fault_proxy::{FaultProxy, Link};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fault-proxy UPSTREAM RATE_BYTES_PER_SECOND [ROUND_TRIP_MS]";
    let (Some(upstream), Some(rate)) = (args.first(), args.get(1).and_then(|r| r.parse::<u64>().ok())) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let round_trip = match args.get(2).map(|ms| ms.parse::<u64>()) {
        None => 0,
        Some(Ok(ms)) => ms,
        Some(Err(_)) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if rate == 0 || args.len() > 3 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let proxy = FaultProxy::start_throttled(upstream, Link::new(rate, Duration::from_millis(round_trip)));
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", proxy.host());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}
