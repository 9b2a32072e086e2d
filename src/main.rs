use std::io::Read as _;
use std::process::ExitCode;

use airflow_statsd_exporter::cli::{self, Command, Config};
use airflow_statsd_exporter::{app, explain, logging};

// musl's allocator serialises threads on one lock; the static build uses mimalloc.
#[cfg(all(target_env = "musl", not(feature = "system-alloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let command = match cli::parse_args(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match command {
        Command::Run(config) => run(config),
        Command::Explain {
            config,
            lines,
            file,
        } => explain_lines(&config, lines, file),
        Command::Simulate(args) => airflow_statsd_exporter::simulate::cli::run(&args),
        Command::Healthcheck { config } => {
            let addr = config
                .web_listen_addresses
                .first()
                .map_or(":9102", String::as_str);
            match airflow_statsd_exporter::web::healthcheck(addr, config.web_config_file.as_deref())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::PrintProfile { config } => {
            print!(
                "{}",
                airflow_statsd_exporter::airflow::docs::profile_yaml(&config.airflow_prefix)
            );
            ExitCode::SUCCESS
        }
    }
}

fn run(config: Config) -> ExitCode {
    logging::init(config.log_level, config.log_format);
    if config.check_config {
        return match app::load_mapper(config.mapping_config.as_ref()) {
            Ok((mapper, _)) => {
                for w in mapper.warnings() {
                    eprintln!("warning: {w}");
                }
                println!("configuration OK: {} mappings", mapper.rules().len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid configuration: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn explain_lines(
    config: &Config,
    mut lines: Vec<String>,
    file: Option<std::path::PathBuf>,
) -> ExitCode {
    if let Some(f) = file {
        let mut text = String::new();
        let read = if f.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text).map(|_| ())
        } else {
            std::fs::read_to_string(&f).map(|t| text = t)
        };
        if let Err(e) = read {
            eprintln!("cannot read {}: {e}", f.display());
            return ExitCode::FAILURE;
        }
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
    }
    if lines.is_empty() {
        eprintln!("explain: give StatsD lines as arguments, or --file F (- for stdin)");
        return ExitCode::FAILURE;
    }
    let (mapper, _) = match app::load_mapper(config.mapping_config.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("invalid configuration: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let source = config
        .mapping_config
        .as_ref()
        .map_or("(no mapping file)".to_string(), |p| p.display().to_string());
    print!(
        "{}",
        explain::explain(mapper, &source, app::parse_options(config), &lines)
    );
    ExitCode::SUCCESS
}
