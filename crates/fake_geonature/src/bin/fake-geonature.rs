//! `fake-geonature --port P --rows N --seed S [--host H] [--prefix /geonature]`
//! Runs the GeoNature stand-in until killed.
use fake_geonature::{Config, FakeGeoNature};
use std::process::ExitCode;

const USAGE: &str = "usage: fake-geonature [--port P] [--rows N] [--seed S] [--host 127.0.0.1] [--prefix /geonature] [--exports-module-path exports] [--max-page-size 1000]";

fn main() -> ExitCode {
    let mut cfg = Config {
        port: 8790,
        ..Config::default()
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        let Some(value) = args.get(i + 1) else {
            eprintln!("fake-geonature: {flag} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        let ok = match flag {
            "--port" => value.parse().map(|v| cfg.port = v).is_ok(),
            "--rows" => value.parse().map(|v| cfg.rows = v).is_ok(),
            "--seed" => value.parse().map(|v| cfg.seed = v).is_ok(),
            "--host" => {
                cfg.host = value.clone();
                true
            }
            "--prefix" => {
                cfg.prefix = value.clone();
                true
            }
            "--exports-module-path" => {
                cfg.exports_module_path = value.clone();
                true
            }
            "--max-page-size" => value.parse().map(|v| cfg.max_page_size = v).is_ok(),
            _ => {
                eprintln!("fake-geonature: unknown option {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        if !ok {
            eprintln!("fake-geonature: invalid value {value:?} for {flag}");
            return ExitCode::from(2);
        }
        i += 2;
    }
    let rows = cfg.rows;
    match FakeGeoNature::start(cfg) {
        Ok(gn) => {
            println!(
                "fake-geonature listening: GeoNature root {} ({} rows; control at {}/_control/state)",
                gn.url(),
                rows,
                gn.base_url()
            );
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("fake-geonature: cannot start: {e}");
            ExitCode::from(1)
        }
    }
}
