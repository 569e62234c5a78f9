//! The subcommands that are glue over the library: `run` started from its arguments, `list`
//! and `doctor`; and `dispatch`, which sends each parsed command where it goes.

use crate::cli::{self, CaseArgs, Command, EnvArgs};
use crate::pool::{PoolOptions, WorkerPool};
use crate::python::PythonRuntime;
use crate::python_env::PythonEnv;
use crate::{cases, diff, inputs, merge, probe, run, worker, EXIT_USAGE};
use anyhow::Result;
use std::time::Duration;

/// Runs one parsed command line; returns the exit status (errors are printed here).
pub fn dispatch(cli: cli::Cli) -> u8 {
    let result = match cli.command {
        Some(Command::Worker(args)) => return worker::main(&args.python_env),
        Some(Command::Run(args)) => start_run(args),
        None => start_run(cli.run),
        Some(Command::List(args)) => list(args),
        Some(Command::Doctor(args)) => doctor(args),
        Some(Command::Probe(args)) => probe::probe(
            args.env.python_env.as_deref(),
            args.out.as_deref(),
            args.force_ftz_daz,
        ),
        Some(Command::ProbeClean(args)) => PythonEnv::locate(args.python_env.as_deref())
            .and_then(|env| probe::clean_stage(&env))
            .and_then(|stage| {
                println!("{}", serde_json::to_string(&stage)?);
                Ok(0)
            }),
        Some(Command::Inputs(args)) => inputs::export(
            &args.out,
            args.generator.seed,
            args.generator.inputs,
            args.generator.max_side,
            args.generator.max_side_large,
        ),
        Some(Command::Diff(args)) => diff::diff(
            &args.old,
            &args.new,
            args.out.as_deref(),
            args.allow_incomplete,
        )
        .map(u8::from),
        Some(Command::Report(args)) => report(&args.run_dir),
        Some(Command::Timeline(args)) => {
            crate::timeline::timeline(&args.runs, args.out.as_deref(), args.since.as_deref())
        }
        Some(Command::Merge(args)) => {
            merge::merge(&args.out, &args.shards, args.allow_incomplete, args.force)
                .map(|status| status.exit_code())
        }
        Some(Command::Replay(args)) => args
            .into_config()
            .and_then(|config| run::run(config, std::env::args().collect()))
            .map(|status| status.exit_code()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tfdiff: error: {error:#}");
            EXIT_USAGE
        }
    }
}

/// `tfdiff report RUN_DIR`: report.html made again from the run directory's files.
fn report(dir: &std::path::Path) -> Result<u8> {
    let run = crate::run_on_disk::RunOnDisk::read(dir)?;
    crate::report::html::write(dir, &run.results, &mut Default::default())?;
    eprintln!(
        "tfdiff: wrote {}",
        dir.join(crate::report::html::FILE_NAME).display()
    );
    Ok(0)
}

fn start_run(args: cli::RunArgs) -> Result<u8> {
    let config = args.into_config()?;
    let status = run::run(config, std::env::args().collect())?;
    Ok(status.exit_code())
}

/// `tfdiff list`: every case found, with its docstring's first line; broken ones with why. The
/// cases are imported in a worker, as a run would.
fn list(args: CaseArgs) -> Result<u8> {
    let env = PythonEnv::locate(args.env.python_env.as_deref())?;
    let files = cases::select(
        cases::discover(&cases::case_dirs(&args.cases_dirs)?)?,
        &args.cases,
    )?;
    let width = files.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let (mut pool, started) = WorkerPool::start(one_worker(env.dir, files))?;
    pool.shutdown(false);
    for case in &started.cases {
        println!("{:width$}  {}", case.name, case.summary);
    }
    for failure in &started.failures {
        println!("{:width$}  NOT LOADED: {}", failure.name, failure.error);
    }
    Ok(if started.failures.is_empty() {
        0
    } else {
        EXIT_USAGE
    })
}

/// `tfdiff doctor`: what tfdiff found, step by step, stopping at the first thing missing.
fn doctor(args: EnvArgs) -> Result<u8> {
    println!("tfdiff {}", env!("CARGO_PKG_VERSION"));
    println!(
        "built against:   {}",
        option_env!("TFDIFF_BUILD_PYTHON").unwrap_or("unknown")
    );
    let env = PythonEnv::locate(args.python_env.as_deref())?;
    println!(
        "environment:     {} (from {})",
        env.dir.display(),
        env.source.describe()
    );
    let runtime = PythonRuntime::start(&env)?;
    println!("embedded Python: {}", runtime.python_version);
    println!("site-packages:   {}", runtime.site_packages.display());
    runtime.import_frameworks()?;
    let info = runtime.environment_info()?;
    let field = |key: &str| match &info[key] {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    println!(
        "prefix:          {} (base {})",
        field("prefix"),
        field("base_prefix")
    );
    println!(
        "numpy:           {} ({}), BLAS {}",
        field("numpy"),
        field("numpy_file"),
        field("numpy_blas")
    );
    println!(
        "tensorflow:      {} ({}), git {}, compiler {}",
        field("tensorflow"),
        field("tensorflow_file"),
        field("tensorflow_git_version"),
        field("tensorflow_compiler_version")
    );
    println!("TF build:        {}", info["tensorflow_build"]);
    println!("oneDNN:          {}", info["onednn"]);
    println!("devices:         {}", info["devices"]);
    println!(
        "TF threads:      intra-op {}, inter-op {} (0 = TensorFlow picks)",
        field("intra_op_threads"),
        field("inter_op_threads")
    );
    println!("CPU:             {}", run::cpu_model());
    doctor_worker(&env)?;
    Ok(0)
}

/// One worker that loads `cases` and evaluates nothing, for `list` and `doctor`: no probe, no
/// XLA cache, a minute for each case's import.
fn one_worker(env_dir: std::path::PathBuf, cases: Vec<cases::CaseFile>) -> PoolOptions {
    PoolOptions {
        env_dir,
        cases,
        jobs: 1,
        timeout: Duration::from_secs(60),
        probe: false,
        force_ftz_daz: false,
        xla_cache: None,
        pretrace_ranks: Vec::new(),
        max_output_bytes: None,
    }
}

/// `tfdiff doctor`'s last line: a worker started as a run starts one (what a run costs per
/// worker), and the `--jobs` a run would take here.
fn doctor_worker(env: &PythonEnv) -> Result<()> {
    let (mut pool, _) = WorkerPool::start(one_worker(env.dir.clone(), Vec::new()))?;
    pool.shutdown(false);
    let stats = pool.stats();
    let (jobs, lowered) = crate::pool::default_jobs();
    println!(
        "worker:          started in {:.1} s, {:.2} GB peak resident memory (NumPy and \
         TensorFlow imported, no case run); --jobs defaults to {jobs} here{}",
        stats.startup_seconds.first().copied().unwrap_or_default(),
        stats.peak_rss_mb.first().copied().unwrap_or_default() / 1e3,
        lowered.map(|why| format!(" ({why})")).unwrap_or_default()
    );
    Ok(())
}
