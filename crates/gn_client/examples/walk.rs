//! Times a full pull of a GeoNature export outside PostgreSQL (fetch + prepare only), to tell
//! network and preparation cost from database cost:
//! `cargo run --release -p gn_client --example walk -- http://127.0.0.1:8790/geonature 1 admin admin`
use gn_client::{spawn_pull, CancelFlag, Event, PullPlan, SourceConfig};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = SourceConfig {
        url: args
            .first()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:8790/geonature".into()),
        export_id: args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1),
        login: args.get(2).cloned(),
        password: args.get(3).cloned(),
        ..SourceConfig::default()
    };
    let started = Instant::now();
    let handle = spawn_pull(cfg, PullPlan::default(), CancelFlag::new());
    let (mut pages, mut items, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        match handle.recv_timeout(Duration::from_secs(120)) {
            Ok(Event::Page(p)) => {
                pages += 1;
                items += p.items as u64;
                bytes += p.bytes;
                println!("page {pages}: {} items at {:?}", p.items, started.elapsed());
            }
            Ok(Event::Finished(_)) => break,
            Ok(Event::Failed(e)) => {
                eprintln!("failed: {e}");
                std::process::exit(1);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("no event: {e}");
                std::process::exit(1);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{pages} pages, {items} items, {bytes} bytes in {secs:.2} s ({:.0} items/s)",
        items as f64 / secs
    );
}
